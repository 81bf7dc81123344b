#!/bin/sh
# build-aux/screenshots.sh
#
# Renders the app's main states (connect, chat, transfers, fingerprints, game,
# narrow and dark) to docs/screenshots/, by running the UI test with
# KLETSEN_SCREENSHOT_DIR set: a real server, a real window under Xvfb, rendered
# in software. Needs a build in ./build (build-aux/dev.sh test makes one).
set -eu
cd "$(dirname "$0")/.."
BUILD=${KLETSEN_BUILD_DIR:-$PWD/build}
OUT=$PWD/docs/screenshots
mkdir -p "$OUT"
meson compile -C "$BUILD"
env KLETSEN_SCREENSHOT_DIR="$OUT" \
    KLETSEN_SERVER="$BUILD/src/server/kletsen-server" \
    G_TEST_SRCDIR="$PWD/tests" GSETTINGS_SCHEMA_DIR="$BUILD/data" GSETTINGS_BACKEND=memory \
    GSK_RENDERER=cairo GTK_A11Y=none NO_AT_BRIDGE=1 LANG=C.UTF-8 \
    dbus-run-session -- xvfb-run -a -s '-screen 0 1280x800x24' "$BUILD/tests/test-app"
ls -l "$OUT"
