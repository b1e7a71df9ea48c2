#!/usr/bin/env bash
# The end-to-end benchmark in one command (as root; see bench/e2e/README.md):
#   bash bench/e2e/run.sh [OUT_DIR] [run_e2e.py options...]
# Installs missing packages, builds leaf-host, the plugins, leaf-mock-kafka and
# the bench tools into build-e2e (-j2), runs the stepped-load benchmark with
# its baselines and a perf profile, then a short what-if run with the sink in
# the json-batch value format, and writes OUT_DIR/report.md with its plots.
# OUT_DIR defaults to bench/results/<today>. About 6 minutes after the build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${LEAF_E2E_BUILD:-$root/build-e2e}
out=${1:-$root/bench/results/$(date +%F)}
shift || true
if [ "$(id -u)" -ne 0 ]; then
  echo "bench/e2e/run.sh: run as root (BPF, perf)" >&2
  exit 1
fi
bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target leaf-bench-e2e -j2
mkdir -p "$out"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$root/bench/e2e/run_e2e.py" --build "$build" --out "$out" --profile-rate 100000 --stages "$@"
/usr/bin/python3 "$root/bench/e2e/run_e2e.py" --build "$build" --out "$out/whatif-json-batch" \
  --work "$build/e2e-work-whatif" --steps 25000,100000,200000,0 --reps 1 --gen-reps 0 \
  --bare-messages 0 --idle-seconds 1 --kafka-format json-batch --stages
/usr/bin/python3 "$root/bench/e2e/report.py" "$out" --whatif "$out/whatif-json-batch"
