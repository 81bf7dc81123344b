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
exec "$fuzzer" -artifact_prefix="$work/" "$@" "$work" "$seeds"
