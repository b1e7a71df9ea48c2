#!/usr/bin/env bash
# The 16-core figures in one prepared run (the lent machine's time is short:
# one run, ~7 minutes). From the checkout's root, as root, after
# bench/device/bundle.sh put a Release build into build-device:
#   bash bench/device/run.sh OUT_DIR [section...]
# Sections (default: all, in this order): info e2e-json e2e-batch lat-json lat-batch
# storms traffic (about 6.5 minutes on 16 cores with 5 rounds). Not in the default
# list: batch-tick (issue 16, json-batch CPU vs drain tick and batch age, ~4 minutes),
# json-ceiling (issue 16, the json ceiling with spool.threshold 4M vs 64M, ~2 minutes),
# batch-compress (issue 16, json-batch CPU by thread at 25K/100K with lz4 / none / zstd-1, ~3 minutes),
# batch-profile (issue 16, json-batch at 25K/100K by thread, then a perf profile at 100K, ~1 minute),
# batch-affinity (issue 16, json-batch at 25K/100K with leaf-host unpinned / on one CPU / on two, ~3 minutes).
# json-thread (issue 16, the json ceiling and CPU by thread with the Kafka sink's own thread off / on,
# alternating, same-run bare producer, ~2.5 minutes).
# LEAF_DEVICE_ROUNDS (default 5): rounds of the storms and traffic sections (their
# medians move by several points between runs of 5 rounds; 10 take twice as long).
# Every section writes OUT_DIR/<section>.txt (and the e2e ones results.json
# under OUT_DIR/<section>/); after every section OUT_DIR.tar.gz (or $LEAF_DEVICE_TAR)
# holds everything so far, so a run cut short still brings back what it did.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:?output directory}"); shift
bundle=${LEAF_DEVICE_BUNDLE:-$root/build-device}
tarball=${LEAF_DEVICE_TAR:-$out.tar.gz}
sections=("$@"); [ ${#sections[@]} -gt 0 ] || sections=(info e2e-json e2e-batch lat-json lat-batch storms traffic)
mkdir -p "$out"
cd "$root"
# The benchmarks run leaf-host and the plugins from the build directory whose
# path is compiled into them: make that path lead to the bundle.
origin=$(cat "$bundle/ORIGIN")
if [ "$(realpath -m "$origin")" != "$(realpath "$bundle")" ]; then
  mkdir -p "$(dirname "$origin")" && ln -sfn "$(realpath "$bundle")" "$origin"
fi
export LD_LIBRARY_PATH=$bundle/lib PYTHONUNBUFFERED=1
py=$(command -v python3)
rounds=${LEAF_DEVICE_ROUNDS:-5}
e2e() { "$py" bench/e2e/run_e2e.py --build "$bundle" --work "/tmp/leaf-e2e-$1" --out "$out/$1" "${@:2}"; }

section() {
  case $1 in
    info)
      nproc; uname -r; grep -m1 'model name' /proc/cpuinfo; free -g | head -2; "$py" --version
      cat /proc/loadavg ;;
    e2e-json)  # issue 16: CPU, loss, ceiling, RSS, storms under load; same-run bare producer
      e2e e2e-json --steps 25000,100000,200000,400000,0 --reps 2 --step-seconds 6 --drain-seconds 3 \
        --gen-reps 1 --gen-seconds 3 --idle-seconds 3 --bare-rates 100000 --bare-messages 500000 ;;
    e2e-batch)  # json-batch: CPU at 100K and the ceiling
      e2e e2e-batch --kafka-format json-batch --steps 25000,100000,200000,0 --reps 1 --step-seconds 6 \
        --drain-seconds 3 --gen-reps 0 --idle-seconds 2 --bare-messages 0 ;;
    lat-json | lat-batch)  # P99 kernel event -> broker ack (e2e_stages.so costs 1-2 % of a core: not the CPU runs)
      local f=json; [ "$1" = lat-batch ] && f=json-batch
      e2e "$1" --kafka-format $f --steps 25000,100000,200000 --reps 1 --step-seconds 6 --drain-seconds 3 \
        --gen-reps 0 --idle-seconds 2 --bare-messages 0 --bare-rates "" --stages ;;
    batch-tick)  # issue 16: json-batch's fixed cost vs the drain tick (dispatcher.wakeup_delay)
      # and batch.max_age (0: the batch closes at the end of the tick that filled it), and json
      # with the longer tick; then the CPU without the measuring plugin at 100K, alternating.
      local f t a n v r age
      for v in "json-batch 1ms 1ms" "json-batch 2ms 0ms" "json-batch 3ms 0ms" "json 1ms -" "json 2ms -"; do
        read -r f t a <<<"$v"
        n=bt-$f-t${t%ms}; age=()
        [ "$a" = - ] || { n=$n-a${a%ms}; age=(--kafka-option "batch.max_age=\"$a\""); }
        e2e "$n" --kafka-format "$f" --steps 25000,100000,200000 --reps 1 --step-seconds 5 \
          --drain-seconds 3 --gen-reps 0 --idle-seconds 2 --bare-messages 0 --bare-rates "" --stages \
          --leaf-option "dispatcher.wakeup_delay=\"$t\"" "${age[@]}" >"$out/$n.log" 2>&1 || echo "$n: rc $?"
      done
      for r in 1 2; do
        for v in "1ms 1ms" "2ms 0ms" "3ms 0ms"; do
          read -r t a <<<"$v"; n=bt-cpu$r-t${t%ms}-a${a%ms}
          e2e "$n" --kafka-format json-batch --steps 100000 --reps 1 --step-seconds 6 --drain-seconds 3 \
            --gen-reps 0 --idle-seconds 1 --bare-messages 0 --bare-rates "" \
            --leaf-option "dispatcher.wakeup_delay=\"$t\"" --kafka-option "batch.max_age=\"$a\"" \
            >"$out/$n.log" 2>&1 || echo "$n: rc $?"
        done
      done
      "$py" bench/e2e/settings_table.py "$out"/bt-*/ ;;
    json-ceiling)  # issue 16: the json ceiling with the shipped spool.threshold (4M) and with 64M
      # (nothing spooled), alternating: at the ceiling librdkafka's queue passes 4M and the
      # disk spool takes the events (CRC, write, read back) on the dispatcher thread.
      local n r th
      for r in 1 2; do
        for th in 4M 64M; do
          n=ceil-json-$th-$r
          e2e "$n" --steps 0 --reps 1 --step-seconds 6 --drain-seconds 3 --gen-reps 0 \
            --idle-seconds 1 --bare-messages 0 --bare-rates "" \
            --kafka-option "spool.threshold=\"$th\"" >"$out/$n.log" 2>&1 || echo "$n: rc $?"
          echo "$n: $(grep -h 'step max' "$out/$n.log" | cut -d' ' -f3-)"
          echo "$n: $(grep -h 'sink closed' "/tmp/leaf-e2e-$n/leaf-host.log" | sed 's/.*closed: //')"
        done
      done ;;
    json-thread)  # issue 16: the json ceiling and the CPU by thread at 100K with the Kafka sink on
      # the dispatcher (thread = false, the default) and on its own thread (thread = true),
      # alternating, each run with its same-run bare producer (ceiling goal: >= 0.9 x bare)
      local n r t
      for r in 1 2; do
        for t in false true; do
          n=thread-$t-$r
          e2e "$n" --steps 100000,0 --reps 1 --step-seconds 6 --drain-seconds 3 --gen-reps 0 \
            --idle-seconds 1 --bare-messages 1000000 --bare-rates "" \
            --kafka-option "thread=$t" >"$out/$n.log" 2>&1 || echo "$n: rc $?"
          grep -h -A1 'step \|bare rate' "$out/$n.log" | sed "s/^/$n: /"
        done
      done ;;
    batch-compress)  # issue 16: json-batch CPU per thread (dispatcher, librdkafka's broker thread)
      # at 25K and 100K with compression lz4 (default) / none / zstd level 1, alternating; the
      # 25K -> 100K slope is the per-event cost, the rest the per-tick and per-request cost.
      local n r c opt
      for r in 1 2; do
        for c in lz4 none zstd1; do
          n=bc-$c-$r; opt=()
          [ $c = none ] && opt=(--kafka-option 'compression="none"')
          [ $c = zstd1 ] && opt=(--kafka-option 'compression="zstd"' --kafka-property compression.level=1)
          e2e "$n" --kafka-format json-batch --steps 25000,100000 --reps 1 --step-seconds 6 \
            --drain-seconds 3 --gen-reps 0 --idle-seconds 1 --bare-messages 0 --bare-rates "" \
            "${opt[@]}" >"$out/$n.log" 2>&1 || echo "$n: rc $?"
          grep -h -A1 '] step ' "$out/$n.log" | grep -v '^--' | sed "s/^/$n: /"
        done
      done ;;
    batch-profile)  # issue 16: where json-batch's per-event time goes (0.76 us per event on 16
      # cores in session 5, 0.22 here on 2): CPU by thread at 25K and 100K, then perf at 100K
      # (profile_*.txt in OUT/batch-profile; own_path.py splits the dispatcher thread).
      local prof=()
      command -v perf >/dev/null && prof=(--profile-rate 100000 --perf-call-graph dwarf)
      e2e batch-profile --kafka-format json-batch --steps 25000,100000 --reps 1 --step-seconds 6 \
        --drain-seconds 3 --gen-reps 0 --idle-seconds 1 --bare-messages 0 --bare-rates "" "${prof[@]}"
      [ ${#prof[@]} -gt 0 ] || { echo "no perf on this machine: no profile"; return 0; }
      "$py" bench/e2e/own_path.py /tmp/leaf-e2e-batch-profile/perf.data --seconds 5
      head -40 "$out/batch-profile/profile_thread_symbols.txt" ;;
    batch-affinity)  # issue 16: is json-batch's per-event cost on 16 cores (0.76 us, 0.22 on the
      # 2-core VM) where the threads run? leaf-host unpinned / all its threads on one CPU / on two,
      # the tick generator on another CPU, alternating; the 25K -> 100K slope per setting.
      lscpu -e 2>/dev/null | head -20
      local n r v l g pin
      for r in 1 2; do
        for v in "free - -" "one 2 5" "two 2,3 5"; do
          read -r n l g <<<"$v"; n=ba-$n-$r; pin=()
          [ "$l" = - ] || pin=(--leaf-cpus "$l" --gen-cpus "$g")
          e2e "$n" --kafka-format json-batch --steps 25000,100000 --reps 1 --step-seconds 6 \
            --drain-seconds 3 --gen-reps 0 --idle-seconds 1 --bare-messages 0 --bare-rates "" \
            "${pin[@]}" >"$out/$n.log" 2>&1 || echo "$n: rc $?"
          grep -h -A1 '] step ' "$out/$n.log" | grep -v '^--' | sed "s/^/$n: /"
        done
      done ;;
    storms)  # issue 16 item 4: with Leaf / without, medians of interleaved rounds, BPF ns per event
      "$bundle/bench/process/bench_process" --execs 3000 --rounds "$rounds"
      "$bundle/bench/network/bench_network" --connections 20000 --rounds "$rounds"
      # eight storms at once: the programs on several CPUs together (ring buffers and LRU shared);
      # the shipped four rings against one, alternated in each round
      "$bundle/bench/network/bench_network" --connections 80000 --rounds "$rounds" --threads 8 --floor traced \
        --network-toml 'ring_buffers = 4' --compare-toml 'ring_buffers = 1'
      "$bundle/bench/performance/bench_performance" --round-trips 50000 --rounds "$rounds"
      # pinned (one CPU, two switches per round trip): the steady ping-pong figure, ~10 s
      "$bundle/bench/performance/bench_performance" --round-trips 50000 --rounds "$rounds" --cpu 2 \
        --modes empty-default,default,default-stats ;;
    traffic)  # issue 18: UDP flood and loopback stream with the network plugin / without
      "$bundle/bench/network/bench_traffic" --only udp --seconds 2 --rounds "$rounds"
      "$bundle/bench/network/bench_traffic" --only stream --seconds 2 --rounds "$rounds" ;;
    *) echo "unknown section $1" >&2; return 2 ;;
  esac
}

for s in "${sections[@]}"; do
  t0=$(date +%s)
  echo "== $s ($(date -u +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"
  section "$s" >"$out/$s.txt" 2>&1
  rc=$?
  tail -n 25 "$out/$s.txt"
  echo "== $s: rc $rc, $(($(date +%s) - t0)) s"
  tar -C "$out" -czf "$tarball.tmp" --exclude='*.data' . && mv "$tarball.tmp" "$tarball"
done
