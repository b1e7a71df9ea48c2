#!/bin/bash
# The Kafka sink with its disk spool on (shipped threshold, broker up), two
# builds of leaf_kafka.so compared in the same run: paced at 50K events/s for
# 10 s, json and json-batch, two rounds alternating before/after, then
# unpaced (json, threshold above what the flood queues: nothing spooled).
# Prints leaf-bench-kafka's lines.
#   bash bench/kafka/spool_before_after.sh BEFORE.so [AFTER.so] [BUILD_DIR]
set -euo pipefail
before=${1:?usage: spool_before_after.sh BEFORE.so [AFTER.so] [BUILD_DIR]}
build=${3:-build}
after=${2:-$build/plugins/leaf_kafka.so}
bench=$build/bench/kafka/leaf-bench-kafka
run() {  # label plugin args...
  local label=$1 so=$2 dir
  shift 2
  dir=$(mktemp -d /tmp/leaf-spool-bench-XXXXXX)
  echo "== $label"
  "$bench" --plugin "$so" --set spool.enabled=true --set spool.dir="$dir" "$@" 2>&1 |
    grep -E '^paced|best of|leaf_kafka sink' || true
  rm -rf "$dir"
}
uptime
for format in json json-batch; do
  for round in 1 2; do
    run "$format round $round before" "$before" --format "$format" --rate 50000 --seconds 10
    run "$format round $round after" "$after" --format "$format" --rate 50000 --seconds 10
  done
done
for which in before after; do
  so=$before
  [ "$which" = after ] && so=$after
  # Below the threshold (nothing spooled): the cost of keeping the payloads.
  run "unpaced json $which" "$so" --messages 500000 --rounds 2 --queue-size 1G \
    --set spool.threshold=1G
done
uptime
