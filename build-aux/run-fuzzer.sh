#!/bin/sh
# build-aux/run-fuzzer.sh FUZZER SEED_CORPUS [LIBFUZZER_OPTION…]
#
# A bounded libFuzzer run for the test suite: new inputs go to a corpus in
# the build tree, never into the seed corpus in the source tree.
set -eu
fuzzer=$1
seeds=$2
shift 2
work="$(dirname "$fuzzer")/corpus-$(basename "$fuzzer")"
mkdir -p "$work"
# libFuzzer's own exit status for a crash is 77, which meson reads as a
# skipped test: a crash must fail the suite.
exec "$fuzzer" -error_exitcode=1 -artifact_prefix="$work/" "$@" "$work" "$seeds"
