#!/usr/bin/python3
"""Chaos tests of the Kafka sink's disk spool (issue 17), through the real
leaf-host with the shipped conf.d/kafka.toml (spool on), the ticker test
plugin as a steady counted workload (one event per millisecond, data.seq
1..count, data.label naming the run), leaf-mock-kafka as the broker, and
kafka-python (python3-kafka, independent of librdkafka) as the reader.

usage: chaos_test.py SCENARIO LEAF_HOST TICKER_SO KAFKA_SO MOCK_KAFKA SOURCE_DIR PORT

  outage     the broker down for 2 minutes under the workload, with a 1 MiB
             memory queue: every event exactly once after recovery.
  kill       leaf-host killed (SIGKILL) during an outage, after the workload
             ended, then started again (broker back): every event at least
             once; duplicates at most what the restart counted
             (kafka_spool_possible_duplicates_total). spool.threshold = 0.
  kill-threshold  the same with the shipped configuration (spool.threshold 4M,
             queue 64M): the broker first answers 5 s late, so that
             librdkafka holds over 1,000 sent, unacknowledged messages when
             it goes down; they are copied to the spool when the outage is
             found: every event at least once after the restart, duplicates
             at most what the restart counted.
  kill-threshold-thread  kill-threshold with the sink on its own thread
             (thread = true): the copies and the spool are that thread's.
  disk-full  the spool on a 2 MiB tmpfs (root: a private mount namespace):
             the disk fills during an outage: drops counted
             (kafka_spool_dropped_total{reason="no_space"}), no crash; after
             recovery the spool empties and a second outage spools again
             without a drop; every event not counted as dropped arrives once.

Exit 0: passed; 1: failed; 77: skipped (disk-full without root, unless
LEAF_REQUIRE_BPF=1 says that skipping is a failure).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from kafka import KafkaConsumer, TopicPartition

TOPIC = "system.events.process"
failures = []


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def check(what, ok, detail=""):
    log(("ok   " if ok else "FAIL ") + what + (f" ({detail})" if detail != "" else ""))
    if not ok:
        failures.append(what)


class Mock:
    def __init__(self, binary):
        self.p = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        self.bootstrap = self.p.stdout.readline().strip()
        if ":" not in self.bootstrap:
            raise RuntimeError(f"leaf-mock-kafka printed no bootstrap address: {self.bootstrap!r}")

    def command(self, line):
        self.p.stdin.write(line + "\n")
        answer = self.p.stdout.readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError(f"leaf-mock-kafka: {line!r} -> {answer!r}")
        log("broker", line)

    def close(self):
        self.p.terminate()
        self.p.wait(30)


class Host:
    """leaf-host with the ticker and the Kafka sink, conf.d in `work`."""

    def __init__(self, a, work, kafka_toml, label, count, prefix=()):
        self.a, self.work = a, work
        conf = os.path.join(work, "conf.d-" + label)
        plugins = os.path.join(work, "plugins")
        os.makedirs(conf, exist_ok=True)
        os.makedirs(plugins, exist_ok=True)
        os.chmod(plugins, 0o755)
        for so in (a.ticker, a.kafka):
            dst = os.path.join(plugins, os.path.basename(so))
            if not os.path.exists(dst):
                os.symlink(so, dst)
        with open(os.path.join(conf, "leaf.toml"), "w") as f:
            f.write('[jsonl]\nenabled = false\n[metrics]\nlisten = "127.0.0.1:%d"\n' % a.port)
        with open(os.path.join(conf, "ticker.toml"), "w") as f:
            f.write('interval = "1ms"\nlabel = "%s"\ncount = %d\n' % (label, count))
        with open(os.path.join(conf, "kafka.toml"), "w") as f:
            f.write(kafka_toml)
        self.stderr_path = os.path.join(work, "leaf-host-%s.log" % label)
        self.err = open(self.stderr_path, "w")
        cmd = list(prefix) + [a.host, "--config", conf, "--plugins-dir", plugins]
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("leaf-host exited at start:\n" + self.log_text())
            if "leaf-host running" in self.log_text():
                return
            time.sleep(0.1)
        raise RuntimeError("leaf-host did not start:\n" + self.log_text())

    def log_text(self):
        with open(self.stderr_path) as f:
            return f.read()

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.a.port, timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out

    def metric(self, name, **labels):
        """Sum of the series of `name` whose labels include `labels`."""
        total = 0.0
        for series, v in self.metrics().items():
            base = series.split("{", 1)[0]
            if base != name:
                continue
            if all(f'{k}="{val}"' in series for k, val in labels.items()):
                total += v
        return total

    def wait(self, what, cond, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"leaf-host exited while waiting for {what}:\n" +
                                   self.log_text()[-3000:])
            try:
                if cond():
                    log("reached:", what)
                    return True
            except OSError:
                pass
            time.sleep(0.5)
        check(what + " within %d s" % timeout, False)
        return False

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(60)
        self.err.close()
        return rc

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(60)
        self.err.close()


def shipped_kafka_toml(a, bootstrap, overrides):
    """conf.d/kafka.toml as shipped, enabled, with `overrides` (section, key) -> TOML value."""
    with open(os.path.join(a.source, "conf.d", "kafka.toml")) as f:
        text = f.read()
    text = re.sub(r'(?m)^enabled = false', 'enabled = true', text, count=1)
    text = re.sub(r'(?m)^brokers = ""', 'brokers = "%s"' % bootstrap, text)
    section = ""
    lines = []
    for line in text.splitlines():
        m = re.match(r"^\[(\w+)\]", line)
        if m:
            section = m.group(1)
        k = re.match(r"^(\w+) = ", line)
        if k and (section, k.group(1)) in overrides:
            line = "%s = %s" % (k.group(1), overrides.pop((section, k.group(1))))
        lines.append(line)
    if overrides:
        raise RuntimeError(f"keys not in the shipped kafka.toml: {overrides}")
    return "\n".join(lines) + "\n"


def read_topic(bootstrap, expected_min, timeout=120):
    """Every message of TOPIC (kafka-python), as (label, seq) pairs, read until
    at least `expected_min` arrived and no more came for 3 s."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    deadline = time.monotonic() + timeout
    partitions = None
    while partitions is None and time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(TOPIC)
        if partitions is None:
            time.sleep(0.2)
    tps = [TopicPartition(TOPIC, p) for p in sorted(partitions or [])]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    out = []
    while time.monotonic() < deadline:
        before = len(out)
        for m in consumer:
            for line in m.value.decode().splitlines():
                d = json.loads(line)["data"]
                out.append((d["label"], d["seq"]))
        if len(out) >= expected_min and len(out) == before:
            break
    consumer.close()
    return out


def counts(records, label):
    c = {}
    for lab, seq in records:
        if lab == label:
            c[seq] = c.get(seq, 0) + 1
    return c


def scenario_outage(a, work):
    mock = Mock(a.mock)
    count = 130000
    toml = shipped_kafka_toml(a, mock.bootstrap, {("queue", "max_size"): '"1M"',
                                                   ("spool", "dir"): json.dumps(work + "/spool")})
    host = Host(a, work, toml, "outage", count)
    host.wait("events delivered before the outage", lambda: host.metric("leaf_kafka_messages_total") > 2000, 60)
    mock.command("down")
    t0 = time.monotonic()
    time.sleep(20)
    check("the outage is reported (leaf_kafka_broker_reachable 0)",
          host.metric("leaf_kafka_broker_reachable") == 0)
    while time.monotonic() - t0 < 120:
        time.sleep(5)
    m = host.metrics()
    spooled = host.metric("leaf_kafka_spool_records")
    log("after 120 s: spool records", spooled, "bytes", host.metric("leaf_kafka_spool_bytes"),
        "oldest age", host.metric("leaf_kafka_spool_oldest_age_seconds"),
        "memory queue", host.metric("leaf_kafka_queue_bytes"))
    check("events went to the spool during the outage", spooled > 50000, spooled)
    check("the oldest spooled event is about as old as the outage",
          host.metric("leaf_kafka_spool_oldest_age_seconds") >= 100,
          host.metric("leaf_kafka_spool_oldest_age_seconds"))
    mock.command("up")
    host.wait("the workload ended", lambda: host.metric("leaf_ticker_ticks_total") >= count, 600)
    host.wait("every event acknowledged",
              lambda: host.metric("leaf_kafka_messages_total") >= count, 300)
    host.wait("the spool emptied", lambda: host.metric("leaf_kafka_spool_records") == 0, 60)
    dropped = host.metric("leaf_kafka_spool_dropped_total") + \
        host.metric("leaf_kafka_messages_dropped_total")
    check("nothing dropped", dropped == 0, dropped)
    check("the spool's segments deleted",
          not [n for n in os.listdir(work + "/spool") if n.endswith(".seg")])
    rc = host.stop()
    check("leaf-host stopped cleanly", rc == 0, rc)
    got = counts(read_topic(mock.bootstrap, count), "outage")
    missing = [s for s in range(1, count + 1) if s not in got]
    twice = [s for s, n in got.items() if n > 1]
    check("every event arrived (kafka-python)", not missing, f"{len(missing)} missing, e.g. {missing[:5]}")
    check("no event arrived twice", not twice, f"{len(twice)} twice")
    mock.close()


def scenario_kill(a, work, write_ahead=True, thread=False):
    mock = Mock(a.mock)
    count = 20000
    overrides = {("spool", "dir"): json.dumps(work + "/spool")}
    if thread:
        overrides[("", "thread")] = "true"
    if write_ahead:
        overrides[("queue", "max_size")] = '"1M"'
        overrides[("spool", "threshold")] = '"0"'
    toml = shipped_kafka_toml(a, mock.bootstrap, overrides)
    host = Host(a, work, toml, "run1", count)
    host.wait("events delivered before the outage", lambda: host.metric("leaf_kafka_messages_total") > 2000, 60)
    held_at_down = 0
    if not write_ahead:
        # Sent and not acknowledged when the broker goes away: only in
        # librdkafka's memory unless the sink copies them to the spool.
        mock.command("rtt 5000")
        host.wait("librdkafka holds 1,000 messages",
                  lambda: host.metric("leaf_kafka_queue_messages") >= 1000, 60)
        held_at_down = host.metric("leaf_kafka_queue_messages")
    mock.command("down")
    host.wait("the workload ended", lambda: host.metric("leaf_ticker_ticks_total") >= count, 300)
    delivered = host.metric("leaf_kafka_messages_total")
    if write_ahead:
        host.wait("every event written to the spool or delivered",
                  lambda: host.metric("leaf_kafka_spool_appended_total") >= count, 60)
    else:
        host.wait("every event delivered or in the spool",
                  lambda: host.metric("leaf_kafka_spool_records") +
                  host.metric("leaf_kafka_messages_total") >= count, 60)
    time.sleep(1)
    in_memory = host.metric("leaf_kafka_queue_messages")
    copied = host.metric("leaf_kafka_spool_copied_total")
    log("SIGKILL; delivered before:", delivered, "spool records:",
        host.metric("leaf_kafka_spool_records"), "in librdkafka's memory:", in_memory,
        "held when the broker went down:", held_at_down, "copied to the spool:", copied)
    if not write_ahead:
        check("what librdkafka held was copied to the spool", copied > 0, copied)
    host.kill()
    mock.command("rtt 0")
    mock.command("up")
    # The second run: its own ticker label; the spool replays run1's events.
    host = Host(a, work, toml, "run2", 1000)
    host.wait("the spool replayed", lambda: host.metric("leaf_kafka_spool_records") == 0 and
              host.metric("leaf_kafka_queue_messages") == 0, 300)
    dups_counted = host.metric("leaf_kafka_spool_possible_duplicates_total")
    log("restart counted possible duplicates:", dups_counted)
    check("the restart logged what it replays", "not acknowledged before the last stop" in host.log_text())
    rc = host.stop()
    check("leaf-host stopped cleanly", rc == 0, rc)
    got = counts(read_topic(mock.bootstrap, count), "run1")
    missing = [s for s in range(1, count + 1) if s not in got]
    dups = sum(n - 1 for n in got.values())
    check("every event of the killed run arrived at least once", not missing,
          f"{len(missing)} missing of {count}, e.g. {missing[:5]}")
    check("duplicates at most what the restart counted", dups <= dups_counted,
          f"{dups} duplicates, {dups_counted} counted")
    log("duplicates:", dups)
    mock.close()


def scenario_disk_full(a, work):
    if os.geteuid() != 0:
        if os.environ.get("LEAF_REQUIRE_BPF") == "1":
            log("FAIL: disk-full needs root (a tmpfs in a private mount namespace)")
            sys.exit(1)
        log("skipped: disk-full needs root (a tmpfs in a private mount namespace)")
        sys.exit(77)
    mock = Mock(a.mock)
    count = 40000
    spool = work + "/spool"
    os.makedirs(spool)
    toml = shipped_kafka_toml(a, mock.bootstrap, {("queue", "max_size"): '"1M"',
                                                   ("spool", "dir"): json.dumps(spool + "/kafka")})
    # leaf-host in its own mount namespace with a 2 MiB tmpfs on the spool.
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
              'mount -t tmpfs -o size=2m leaf-spool "$0" && exec "$@"', spool]
    host = Host(a, work, toml, "full", count, prefix)
    host.wait("events delivered before the outage", lambda: host.metric("leaf_kafka_messages_total") > 1000, 60)
    mock.command("down")
    host.wait("drops counted on a full disk",
              lambda: host.metric("leaf_kafka_spool_dropped_total", reason="no_space") > 1000, 300)
    check("the full disk was logged", "No space left on device" in host.log_text())
    mock.command("up")
    host.wait("the spool emptied after recovery",
              lambda: host.metric("leaf_kafka_spool_records") == 0, 300)
    drops = host.metric("leaf_kafka_spool_dropped_total", reason="no_space")
    appended = host.metric("leaf_kafka_spool_appended_total")
    mock.command("down")
    host.wait("spooling again in a second outage",
              lambda: host.metric("leaf_kafka_spool_appended_total") > appended + 1000, 120)
    check("no drop in the second outage (space came back)",
          host.metric("leaf_kafka_spool_dropped_total", reason="no_space") == drops)
    mock.command("up")
    host.wait("the workload ended", lambda: host.metric("leaf_ticker_ticks_total") >= count, 300)
    drops = host.metric("leaf_kafka_spool_dropped_total", reason="no_space")
    host.wait("everything else delivered",
              lambda: host.metric("leaf_kafka_messages_total") >= count - drops, 300)
    rc = host.stop()
    check("leaf-host stopped cleanly (no crash)", rc == 0, rc)
    got = counts(read_topic(mock.bootstrap, int(count - drops)), "full")
    missing = sum(1 for s in range(1, count + 1) if s not in got)
    twice = sum(1 for n in got.values() if n > 1)
    check("what is missing is exactly what was counted as dropped", missing == drops,
          f"{missing} missing, {int(drops)} counted")
    check("no event twice", twice == 0, twice)
    mock.close()


class Args:
    pass


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    a = Args()
    (a.scenario, a.host, a.ticker, a.kafka, a.mock, a.source, port) = sys.argv[1:]
    a.port = int(port)
    work = tempfile.mkdtemp(prefix="leaf-chaos-")
    os.chmod(work, 0o755)
    try:
        {"outage": scenario_outage, "kill": scenario_kill,
         "kill-threshold": lambda a, w: scenario_kill(a, w, write_ahead=False),
         "kill-threshold-thread": lambda a, w: scenario_kill(a, w, write_ahead=False, thread=True),
         "disk-full": scenario_disk_full}[a.scenario](a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
