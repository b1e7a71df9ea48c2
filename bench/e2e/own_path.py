#!/usr/bin/python3
"""Leaf's own path in a perf profile of leaf-host (issue 16, item 2).

Reads the perf.data that run_e2e.py --profile-rate R --perf-call-graph dwarf
leaves in its --work directory and splits the dispatcher thread (comm
leaf-host) into librdkafka's per-message calls (rd_kafka_producev,
rd_kafka_poll; the bare producer pays them too) and the rest, Leaf's own
(the Kafka sink's delivery callback included), in % of a core, then lists
what Leaf's own part is made of.

  python3 bench/e2e/own_path.py WORK/perf.data [--seconds S] [--hz 1999]

S: the seconds perf recorded (run_e2e: --step-seconds minus 1).
"""
import argparse
import collections
import subprocess

# First match wins: the frame names that say where a sample of Leaf's own belongs.
PARTS = [("Producer::on_delivery", "Kafka sink delivery callback"),
         ("HeldArena::release", "Kafka sink delivery callback"),
         ("encode_to", "encoder"),
         ("Processor::process", "processors"),
         ("Editor::", "processors (editor calls)"),
         ("message_key", "message key"),
         ("KafkaSink::write", "sink write (own part)"),
         ("handle_typed", "pipeline, other"),
         ("ring_buffer__consume", "libbpf ring consume"),
         ("epoll_wait", "epoll_wait (sleep and wakeup)"),
         ("KafkaSink::poll", "sink poll (own part)"),
         ("Dispatcher::", "dispatcher, other"),
         ("timer_queue", "asio timers"),
         ("scheduler", "asio, other")]


def stacks(data):
    out = subprocess.run(["perf", "script", "-i", data, "--comm", "leaf-host", "-F", "comm,ip,sym"],
                         capture_output=True, text=True, check=True).stdout
    cur = None
    for line in out.splitlines():
        if not line.strip():
            continue
        if line[0] not in "\t ":
            if cur is not None:
                yield cur
            cur = []
            continue
        p = line.strip().split(None, 1)
        cur.append(p[1] if len(p) == 2 else "?")
    if cur is not None:
        yield cur


def in_librdkafka(s):
    """A sample inside rd_kafka_producev/rd_kafka_poll, not in our code called
    back from there (the delivery callback, and what it tail-calls, which
    leaves no frame of its own: HeldArena::release)."""
    at = next((i for i, f in enumerate(s) if "rd_kafka_producev" in f or "rd_kafka_poll" in f), None)
    return at is not None and not any("leaf::" in f for f in s[:at])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--seconds", type=float, default=7)
    ap.add_argument("--hz", type=float, default=1999)
    a = ap.parse_args()
    core = a.hz * a.seconds / 100.0  # samples per % of a core
    kafka, own = 0, collections.Counter()
    for s in stacks(a.data):
        if in_librdkafka(s):
            kafka += 1
            continue
        part = next((name for pat, name in PARTS if any(pat in f for f in s)), "other")
        own[part] += 1
    total_own = sum(own.values())
    print("dispatcher thread %.2f %% of a core: librdkafka calls %.2f, Leaf's own %.2f" %
          ((kafka + total_own) / core, kafka / core, total_own / core))
    for name, n in own.most_common():
        print("  %5.2f  %s" % (n / core, name))


if __name__ == "__main__":
    main()
