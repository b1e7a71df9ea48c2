#!/usr/bin/env python3
"""Settings vs latency and cost, one row per run and step, from run_e2e.py results.

    python3 bench/e2e/settings_table.py DIR [DIR...]

Each DIR holds a results.json of run_e2e.py (the row is named after DIR).
Columns: leaf-host CPU (% of one core over the step), broker-ack P50/P99
(with --stages: kernel timestamp -> produce response handled in librdkafka's
broker thread, SPEC 5's figure), the kernel -> produce() P99 (ring wait, drain
tick, json-batch age), Kafka messages appended per second (one Produce request
each in librdkafka 2.0.2 with json-batch) and leaf-host's voluntary context
switches per second (wake-ups). Used for the kafka README's settings table.
"""
import json
import os
import sys


def ms(stages, stage, q):
    v = (stages or {}).get(stage, {}).get(q)
    return "-" if v is None else "%.2f" % (v / 1000.0)


def rows(path):
    d = json.load(open(os.path.join(path, "results.json")))
    name = os.path.basename(os.path.normpath(path))
    for s in d["steps"]:
        st = s.get("latency_stages_us")
        secs = s.get("seconds") or 1
        yield "| %s | %s | %.1f | %s / %s | %s | %.0f | %.0f | %.4f |" % (
            name, "max" if not s["target_rate"] else "%dK" % (s["target_rate"] // 1000),
            s["cpu_pct_of_core"], ms(st, "ack", "p50"), ms(st, "ack", "p99"),
            ms(st, "produce", "p99"), s["broker_appended"] / secs,
            s.get("ctxsw_voluntary_per_s", 0), s["loss_pct"])


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("| run | step | leaf-host CPU % | broker-ack P50 / P99 ms | kernel->produce P99 ms "
          "| Kafka messages/s | wake-ups/s | loss % |")
    print("|---|---|---|---|---|---|---|---|")
    for p in sys.argv[1:]:
        try:
            for r in rows(p):
                print(r)
        except (OSError, ValueError, KeyError) as e:
            print("| %s | (no results: %s) |" % (p, e))


if __name__ == "__main__":
    main()
