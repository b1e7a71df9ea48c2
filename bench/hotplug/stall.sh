#!/usr/bin/env bash
# How long the dispatcher stops while a probe is dropped into a running
# leaf-host: a 1 ms test ticker runs (its ticks are stamped on the dispatcher
# when its timer fires); leaf_network.so (the largest BPF object) is renamed
# into the plugins directory; the longest gap between ticks is the stall.
#   bash bench/hotplug/stall.sh [BUILD_DIR] [ROUNDS]     (as root)
set -euo pipefail
build=$(realpath "${1:-build}"); rounds=${2:-3}
for r in $(seq "$rounds"); do
  d=$(mktemp -d); mkdir -p "$d/p" "$d/c"
  cp "$build/tests/plugins/leaf_ticker.so" "$d/p/"
  printf 'jsonl.path = "%s/out.jsonl"\n[metrics]\nlisten = ""\n' "$d" >"$d/c/leaf.toml"
  printf 'interval = "1ms"\n' >"$d/c/ticker.toml"
  "$build/core/leaf-host" -c "$d/c" -p "$d/p" -d 6 2>"$d/log" >/dev/null &
  sleep 2
  cp "$build/plugins/leaf_network.so" "$d/p/.incoming" && mv "$d/p/.incoming" "$d/p/leaf_network.so"
  wait
  started=$(grep -o 'leaf_network.so in [0-9.]* ms' "$d/log" || echo "network did not start")
  python3 - "$d/out.jsonl" "$started" <<'PY'
import json, sys
ts = sorted(json.loads(l)["timestamp"] for l in open(sys.argv[1]) if '"type":"tick"' in l)
gaps = sorted((b - a) / 1e6 for a, b in zip(ts, ts[1:]))
print(f"{sys.argv[2]}; ticks {len(ts)}, longest gap {gaps[-1]:.1f} ms, "
      f"p99 gap {gaps[int(len(gaps) * 0.99)]:.2f} ms")
PY
  rm -rf "$d"
done
