#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, -fsanitize=fuzzer,address,
# undefined) and runs them:
#   1. every input of fuzz/regressions/<target>/ and fuzz/corpus/<target>/
#      once (a crash found earlier must stay fixed);
#   2. each target for --seconds N (default 20: the CI run, about 2 minutes
#      for the six targets), growing a working corpus under the build dir
#      that starts from the seeds in fuzz/corpus/<target>/.
# A crash stops with exit 1; its input is kept in <build>/crashes/<target>/:
# copy it to fuzz/regressions/<target>/ once fixed. Longer runs:
#   scripts/fuzz.sh --seconds 3600 [target...]
# prints the executions per target ("stat::number_of_executed_units").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LEAF_FUZZ_BUILD_DIR:-$root/build/fuzz}
seconds=20
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(event_encoder config_loader container_id cgroup_mountinfo redactor http_front)
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root/fuzz" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
status=0
for t in "${targets[@]}"; do
  bin="$build/fuzz_$t"
  work="$build/corpus/$t"
  crashes="$build/crashes/$t"
  mkdir -p "$work" "$crashes"
  replay=()
  for d in "$root/fuzz/regressions/$t" "$root/fuzz/corpus/$t"; do
    [ -n "$(ls -A "$d" 2>/dev/null)" ] && replay+=("$d"/*)
  done
  if [ ${#replay[@]} -gt 0 ] && ! "$bin" -runs=0 "${replay[@]}" >"$build/$t.replay.log" 2>&1; then
    echo "fuzz $t: a regression or seed input fails:" >&2
    tail -40 "$build/$t.replay.log" >&2
    status=1
    continue
  fi
  if "$bin" "$work" "$root/fuzz/corpus/$t" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=131072 -print_final_stats=1 \
      -artifact_prefix="$crashes/" >"$build/$t.log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$t.log")
    echo "fuzz $t: ${seconds}s, ${execs:-?} executions, ${#replay[@]} regression/seed inputs replayed, no crash"
  else
    echo "fuzz $t: FAILED; input(s) in $crashes:" >&2
    grep -E "ERROR|SUMMARY|runtime error|deadly signal" "$build/$t.log" | head -20 >&2
    ls "$crashes" >&2
    status=1
  fi
done
exit $status
