#!/usr/bin/env bash
# Installs, builds and runs leaf-host with the default conf.d: live JSON
# events on stdout until Ctrl-C. Extra arguments go to leaf-host.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LEAF_BUILD_DIR:-$root/build}
bash "$root/scripts/build.sh"
exec "$build/core/leaf-host" --config "$root/conf.d" --plugins-dir "$build/plugins" "$@"
