#!/usr/bin/env bash
# How long the dispatcher stops while a SIGHUP restarts a probe: a 1 ms test
# ticker runs (its ticks are stamped on the dispatcher when its timer fires)
# beside leaf_network.so (the largest BPF object); network.toml's
# ring_buffer_size (restart-only) changes and leaf-host gets SIGHUP; the
# longest gap between ticks is the stall. Also printed: what leaf-host logs
# for the restart (its time, and, where it says so, how long no program of
# the network plugin was attached). Given a second leaf-host binary (an
# older one), each round runs it first, then BUILD_DIR's, with the same
# plugins.
#   bash bench/hotplug/reload_stall.sh [BUILD_DIR] [ROUNDS] [OTHER_LEAF_HOST]   (as root)
set -euo pipefail
build=$(realpath "${1:-build}"); rounds=${2:-3}; other=${3:-}
one() {  # one() LABEL LEAF_HOST
  local d; d=$(mktemp -d); mkdir -p "$d/p" "$d/c"
  cp "$build/tests/plugins/leaf_ticker.so" "$build/plugins/leaf_network.so" "$d/p/"
  printf 'jsonl.path = "%s/out.jsonl"\n[metrics]\nlisten = ""\n' "$d" >"$d/c/leaf.toml"
  printf 'interval = "1ms"\n' >"$d/c/ticker.toml"
  printf 'ring_buffer_size = "1M"\n' >"$d/c/network.toml"
  "$2" -c "$d/c" -p "$d/p" -d 6 2>"$d/log" >/dev/null &
  local pid=$!
  sleep 2
  printf 'ring_buffer_size = "2M"\n' >"$d/c/network.toml"
  kill -HUP "$pid"
  wait "$pid" || true
  local restart
  restart=$(grep -o 'SIGHUP: plugin network restarted.*' "$d/log" | grep -o 'after [0-9.]* ms\|attached for [0-9.]* ms\|drained in [0-9.]* ms\|attached in [0-9.]* ms' |
    paste -sd ';' || true)
  python3 - "$d/out.jsonl" "$1" "${restart:-network did not restart}" <<'PY'
import json, sys
ts = sorted(json.loads(l)["timestamp"] for l in open(sys.argv[1]) if '"type":"tick"' in l)
gaps = sorted((b - a) / 1e6 for a, b in zip(ts, ts[1:]))
print(f"{sys.argv[2]}: restart {sys.argv[3]}; ticks {len(ts)}, longest gap {gaps[-1]:.1f} ms, "
      f"p99 gap {gaps[int(len(gaps) * 0.99)]:.2f} ms")
PY
  rm -rf "$d"
}
for r in $(seq "$rounds"); do
  [ -n "$other" ] && one "other ($other)" "$other"
  one "this ($build)" "$build/core/leaf-host"
done
