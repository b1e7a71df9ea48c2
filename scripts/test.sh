#!/usr/bin/env bash
# Installs, builds and runs the whole test suite with ctest. Tests that need
# root and BPF skip with a reason when unprivileged; with LEAF_REQUIRE_BPF=1
# (as in CI) they fail instead. Extra arguments go to ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LEAF_BUILD_DIR:-$root/build}
bash "$root/scripts/build.sh"
cd "$build"
ctest --output-on-failure --no-tests=error "$@"
