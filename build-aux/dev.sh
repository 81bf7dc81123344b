#!/bin/sh
# build-aux/dev.sh run|test
#
# Sets up a fresh Debian 12 machine for Kletsen (installs the missing packages
# with apt-get as root or through password-less sudo, otherwise prints the
# exact command), builds
# into ./build, then either runs the main job (`run`) or the whole test suite
# (`test`).
set -eu

cd "$(dirname "$0")/.."
TOP=$(pwd)
BUILD=${KLETSEN_BUILD_DIR:-$TOP/build}

# Everything the build and the tests need, as Debian 12 packages.
PACKAGES="meson ninja-build gcc pkg-config gettext python3 libglib2.0-dev libglib2.0-bin libjson-glib-dev libgnutls28-dev"
# The desktop app, and what its UI test runs in: an X server in software and a session bus.
PACKAGES="$PACKAGES libgtk-4-dev libadwaita-1-dev xvfb xauth dbus-daemon"
# What the packaging tests validate with.
PACKAGES="$PACKAGES desktop-file-utils appstream"
# TLS: GIO's backend, and certtool for tests/certs/create-certs.sh.
PACKAGES="$PACKAGES glib-networking gnutls-bin"
# The libFuzzer targets are built with clang; its fuzzer and sanitizer
# runtimes are a package of their own, only recommended by clang.
PACKAGES="$PACKAGES clang libclang-rt-14-dev"
# The unit-filter tests: libseccomp installs the service unit's system call
# filter, systemd-analyze resolves its groups.
PACKAGES="$PACKAGES libseccomp-dev systemd"
# The client's history store.
PACKAGES="$PACKAGES libsqlite3-dev"
# Cluster mode: hiredis to build it, a Redis 7.0 for its tests.
PACKAGES="$PACKAGES libhiredis-dev redis-server"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  # As root, or through sudo where it needs no password (a CI runner's usual user).
  as_root=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo -n"
  fi
  if [ "$(id -u)" = 0 ] || [ -n "$as_root" ]; then
    echo "Installing:$missing"
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  else
    echo "Kletsen needs these Debian packages:$missing" >&2
    echo "Install them with:  sudo apt-get install$missing" >&2
    exit 1
  fi
fi

if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" --buildtype=debugoptimized -Dwerror=true
fi
meson compile -C "$BUILD"

case "${1:-run}" in
  run)
    # The main job: the server on its defaults, and the desktop app connected to it.
    "$BUILD/src/server/kletsen-server" --bind 127.0.0.1 &
    server=$!
    trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT INT TERM
    echo "kletsen-server is listening on 127.0.0.1:1337; starting the app (close it to stop both)."
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
      GSETTINGS_SCHEMA_DIR="$BUILD/data" "$BUILD/src/client/gtk/kletsen" || true
    else
      echo "No display: the server runs until Ctrl+C."
      wait "$server"
    fi
    ;;
  test)
    status=0
    meson test -C "$BUILD" --print-errorlogs --num-processes 2 || status=$?
    cp "$BUILD/meson-logs/testlog.json" "$BUILD/testlog-plain.json"

    # The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer:
    # any invalid access, leak or undefined behaviour fails it.
    ASAN_BUILD="$BUILD-asan"
    if [ ! -f "$ASAN_BUILD/build.ninja" ]; then
      meson setup "$ASAN_BUILD" --buildtype=debugoptimized -Dwerror=true \
        -Db_sanitize=address,undefined -Db_lundef=false
    fi
    meson compile -C "$ASAN_BUILD"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    KLETSEN_UNDER_TOOL=asan \
      meson test -C "$ASAN_BUILD" --print-errorlogs --num-processes 2 || status=$?

    # The libFuzzer targets (protocol codec and the client session), built
    # with clang and both sanitizers, each run briefly from its seed corpus.
    FUZZ_BUILD="$BUILD-fuzz"
    if [ ! -f "$FUZZ_BUILD/build.ninja" ]; then
      CC=clang meson setup "$FUZZ_BUILD" --buildtype=debugoptimized -Dwerror=true -Dfuzzing=true \
        -Db_sanitize=address,undefined -Db_lundef=false
    fi
    fuzz_targets="fuzz-framer fuzz-message fuzz-side-header fuzz-session"
    # Cluster mode's envelope reader, where hiredis is there to build it.
    if grep -q "fuzz-envelope" "$FUZZ_BUILD/build.ninja"; then
      fuzz_targets="$fuzz_targets fuzz-envelope"
    fi
    # shellcheck disable=SC2086
    meson compile -C "$FUZZ_BUILD" $fuzz_targets
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      meson test -C "$FUZZ_BUILD" --no-rebuild --suite fuzz --print-errorlogs --num-processes 2 || status=$?

    # One closing line that any CI reads: counted from meson's own logs.
    python3 - "$BUILD/testlog-plain.json" "$ASAN_BUILD/meson-logs/testlog.json" \
      "$FUZZ_BUILD/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for log in sys.argv[1:]:
    for line in open(log):
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
    exit $status
    ;;
  *)
    echo "usage: $0 run|test" >&2
    exit 2
    ;;
esac
