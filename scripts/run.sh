#!/usr/bin/env bash
# Installs, builds and runs leaf-host with the default conf.d: live JSON
# events on stdout until Ctrl-C, so that `bash scripts/run.sh | jq` works.
# Only events go to stdout: the dependency check, the build and leaf-host's
# log go to stderr. Extra arguments go to leaf-host.
# LEAF_BUILD_DIR: the build directory (./build); LEAF_CONFIG_DIR: the conf.d
# to run with (./conf.d).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LEAF_BUILD_DIR:-$root/build}
config=${LEAF_CONFIG_DIR:-$root/conf.d}
bash "$root/scripts/build.sh" >&2
exec "$build/core/leaf-host" --config "$config" --plugins-dir "$build/plugins" "$@"
