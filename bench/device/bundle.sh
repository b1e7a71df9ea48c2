#!/usr/bin/env bash
# Packs a Release build for the lent 16-core machine (no package registry
# there): what bench/e2e needs (../shared/tools/bundle-e2e.sh), plus the
# per-workload benchmarks of bench/{network,process,performance,pipeline}
# with the shared libraries they load. The benchmarks find leaf-host and the
# plugins by the absolute paths compiled into them, so the bundle records its
# build directory in ORIGIN and bench/device/run.sh links that path to it.
#   bash bench/device/bundle.sh BUILD_DIR OUT   (OUT inside the checkout, ignored: build-device)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
b=$(realpath "${1:?Release build directory}")
o=${2:?output directory}
tools=${LEAF_SHARED_TOOLS:-$root/../shared/tools}
bash "$tools/bundle-e2e.sh" "$b" "$o"
extra=(bench/network/bench_network bench/network/bench_traffic bench/process/bench_process
       bench/performance/bench_performance bench/pipeline/pipeline_bench)
for t in "${extra[@]}"; do
  mkdir -p "$o/$(dirname "$t")"
  cp "$b/$t" "$o/$t"
  ldd "$b/$t" | awk '/=>/ {print $3}' |
    { grep -vE '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libgcc_s|libstdc\+\+)\.so' || true; } |
    while read -r l; do cp -nL "$l" "$o/lib/"; done
  strip --strip-unneeded "$o/$t"
done
echo "$b" >"$o/ORIGIN"
du -sh "$o"
