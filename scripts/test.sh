#!/usr/bin/env bash
# Installs, builds and runs the whole test suite with ctest. Tests that need
# root and BPF skip with a reason when unprivileged; with LEAF_REQUIRE_BPF=1
# (as in CI) they fail instead. Extra arguments go to ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LEAF_BUILD_DIR:-$root/build}
bash "$root/scripts/build.sh"
cd "$build"
# The kernel matrix (tests/kernel-matrix: 5.10, 6.1 and 6.12 booted under
# qemu, about 10 minutes) runs too; LEAF_KERNEL_MATRIX=0 leaves it out.
if [ "${LEAF_KERNEL_MATRIX:-1}" = 0 ]; then
  set -- -LE kernel-matrix "$@"
fi
ctest --output-on-failure --no-tests=error "$@"
