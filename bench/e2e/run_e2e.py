#!/usr/bin/python3
"""End-to-end benchmark driver (bench/e2e/README.md): kernel event -> leaf-host
-> Kafka sink -> leaf-mock-kafka acknowledgement, under stepped load, with
same-run baselines. Run as root through bench/e2e/run.sh.

Phases, in this order, all in one run:
  1. generators alone, no Leaf (first half of the baseline repetitions)
  2. leaf-host (default probes + Kafka sink + the bench-only e2e_tick probe),
     idle CPU, then the load steps: every rate once per repetition,
     repetitions interleaved (rate order within a repetition rising)
  3. each generator flat out with Leaf running (overhead)
  4. optional: perf profile of leaf-host at one rate
  5. leaf-host stopped; the bare librdkafka producer with the captured messages
  6. generators alone again (second half of the baseline repetitions)
Writes results.json; report.py turns it into report.md and PNG plots.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HZ = os.sysconf("SC_CLK_TCK")


def log(*a):
    print("[e2e %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /metrics
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(port):
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            continue
        labels = dict(LABEL.findall(m.group(2) or ""))
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), labels, v))
    return out


def msum(metrics, name, **match):
    return sum(v for n, l, v in metrics if n == name and all(l.get(k) == x for k, x in match.items()))


def by_label(metrics, name, key):
    out = {}
    for n, l, v in metrics:
        if n == name:
            out[l.get(key, "")] = out.get(l.get(key, ""), 0) + v
    return out


def hist_delta(m0, m1, name, **match):
    """Bucket deltas {le: count} of a histogram summed over matching series."""
    def buckets(m):
        b = {}
        for n, l, v in m:
            if n == name + "_bucket" and all(l.get(k) == x for k, x in match.items()):
                le = float("inf") if l["le"] == "+Inf" else float(l["le"])
                b[le] = b.get(le, 0) + v
        return b
    b0, b1 = buckets(m0), buckets(m1)
    return {le: b1[le] - b0.get(le, 0) for le in b1}


def hist_quantile(cum, q):
    """Quantile from cumulative log2 buckets, linear inside the bucket (seconds)."""
    les = sorted(cum)
    if not les or cum[les[-1]] <= 0:
        return None
    total = cum[les[-1]]
    target = q * total
    prev_le, prev_c = 0.0, 0.0
    for le in les:
        c = cum[le]
        if c >= target:
            if le == float("inf"):
                return prev_le
            lo = le / 2 if prev_le == 0 else prev_le
            frac = 0 if c == prev_c else (target - prev_c) / (c - prev_c)
            return lo + (le - lo) * frac
        prev_le, prev_c = le, c
    return prev_le


# ---------------------------------------------------------------- /proc
def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ  # utime + stime of all threads


def proc_thread_cpu_ns(pid):
    """CPU time (ns, /proc/PID/task/TID/schedstat) of pid's threads, summed by thread
    name (leaf-host = the dispatcher thread and helper threads that never named themselves,
    rdk:broker1 = librdkafka's broker thread)."""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open(os.path.join(base, tid, "comm")) as f:
                comm = f.read().strip()
            with open(os.path.join(base, tid, "schedstat")) as f:
                out[comm] = out.get(comm, 0) + int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            pass
    return out


def proc_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
            if line.startswith("VmHWM:"):
                pass
    return 0


def proc_ctxsw(pid):
    """Context switches of every thread: (voluntary, involuntary)."""
    vol = invol = 0
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open(os.path.join(base, tid, "status")) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        invol += int(line.split()[1])
        except OSError:
            pass
    return vol, invol


def proc_run_delay_s(pid):
    """Seconds every thread of pid spent runnable but waiting for a CPU
    (/proc/PID/task/TID/schedstat, second field): the scheduling share of
    the latency on a busy machine."""
    total = 0
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open(os.path.join(base, tid, "schedstat")) as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def proc_hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def machine():
    info = {"cores": os.cpu_count(), "kernel": os.uname().release}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        info["mem_total_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    try:
        info["os"] = open("/etc/debian_version").read().strip()
    except OSError:
        pass
    return info


# ---------------------------------------------------------------- helpers
class LineProc:
    """A child speaking one JSON line per command on stdin."""

    def __init__(self, argv, log_path):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(log_path, "w"), text=True, bufsize=1)

    def read(self):
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("%s exited" % self.p.args[0])
        return json.loads(line)

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.read()

    def quit(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=5)
        except Exception:
            self.p.kill()


# CPU lists (taskset -c) for leaf-host and the load generators, from
# --leaf-cpus / --gen-cpus: whether the per-event cost depends on where the
# threads run (records written on one CPU and read on another, batches
# written by the dispatcher and compressed by the broker thread).
PINS = {"leaf": [], "gen": []}


def pinned(who, argv):
    return (["taskset", "-c", PINS[who][0]] if PINS[who] else []) + argv


def run_gens(bindir, specs, seconds):
    """Runs generators concurrently: specs = [(mode, rate)]; returns their JSON."""
    procs = [subprocess.Popen(pinned("gen", [os.path.join(bindir, "e2e-loadgen"), mode, str(rate), str(seconds)]),
                              stdout=subprocess.PIPE, text=True) for mode, rate in specs]
    return [json.loads(p.communicate()[0]) for p in procs]


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


# ---------------------------------------------------------------- the run
class Bench:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.bin = os.path.join(self.build, "bench", "e2e")
        self.out = os.path.abspath(a.out)
        self.work = os.path.abspath(a.work or os.path.join(self.build, "e2e-work"))
        os.makedirs(self.work, exist_ok=True)
        os.makedirs(self.out, exist_ok=True)
        self.port = a.metrics_port
        self.results = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
                        "config": vars(a), "loadavg": [], "steps": [], "baseline_gens": [],
                        "leaf_gens": [], "bare": []}
        self.host = None
        self.load_stop = threading.Event()

    # -- processes
    def start_mock(self):
        self.mock = subprocess.Popen([os.path.join(self.build, "tools/mock_kafka/leaf-mock-kafka")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(self.work, "mock.log"), "w"), text=True)
        self.bootstrap = self.mock.stdout.readline().strip()
        log("leaf-mock-kafka at", self.bootstrap, "pid", self.mock.pid)
        self.consumer = LineProc([os.path.join(self.bin, "e2e-consumer"), self.bootstrap],
                                 os.path.join(self.work, "consumer.log"))
        log("consumer:", self.consumer.read())

    def write_conf(self):
        src = os.path.join(self.a.source, "conf.d")
        conf = os.path.join(self.work, "conf.d")
        shutil.rmtree(conf, ignore_errors=True)
        shutil.copytree(src, conf)
        k = open(os.path.join(conf, "kafka.toml")).read()
        k = re.sub(r'(?m)^enabled = false', 'enabled = true', k)
        k = re.sub(r'(?m)^brokers = .*$', 'brokers = "%s"' % self.bootstrap, k)
        k = re.sub(r'(?m)^format = .*$', 'format = "%s"' % self.a.kafka_format, k)
        # The disk spool in the run's own directory (not the machine's /var/lib/leaf).
        k = re.sub(r'(?m)^dir = "/var/lib/leaf/spool/kafka"',
                   'dir = "%s"' % os.path.join(self.work, "spool"), k)
        for opt in self.a.kafka_option:
            k = set_toml(k, opt, "kafka.toml")
        props = list(self.a.kafka_property)
        if self.a.stages:  # the stage-timing interceptors (stages_plugin.cpp)
            props.append("plugin.library.paths=" + os.path.join(self.bin, "e2e_stages.so"))
        if props:
            k = re.sub(r'(?m)^properties = \[\]',
                       'properties = [%s]' % ", ".join(json.dumps(p) for p in props), k)
        open(os.path.join(conf, "kafka.toml"), "w").write(k)
        l = open(os.path.join(conf, "leaf.toml")).read()
        # Kafka is the only sink: the JSON-lines sink (stdout by default) is off.
        l = re.sub(r'(?ms)^\[jsonl\]\nenabled = true', '[jsonl]\nenabled = false', l)
        l = re.sub(r'(?m)^listen = .*$', 'listen = "127.0.0.1:%d"' % self.port, l)
        # The report's BPF CPU column (leaf_bpf_program_run_seconds_total)
        # needs the kernel's statistics, off by default since session 8.
        l = re.sub(r'(?m)^bpf_stats = .*$', 'bpf_stats = true', l)
        for opt in self.a.leaf_option:
            l = set_toml(l, opt, "leaf.toml")
        open(os.path.join(conf, "leaf.toml"), "w").write(l)
        plugins = os.path.join(self.work, "plugins")
        shutil.rmtree(plugins, ignore_errors=True)
        os.makedirs(plugins)
        for name in ("process", "network", "performance", "kafka"):
            os.symlink(os.path.join(self.build, "plugins", "leaf_%s.so" % name),
                       os.path.join(plugins, "leaf_%s.so" % name))
        os.symlink(os.path.join(self.bin, "leaf_e2e_tick.so"), os.path.join(plugins, "leaf_e2e_tick.so"))
        return conf, plugins

    def tick_us(self):
        """leaf-host's drain tick (dispatcher.wakeup_delay of the run's leaf.toml) in us:
        the bare producer produces in bursts of the same period."""
        l = open(os.path.join(self.work, "conf.d", "leaf.toml")).read()
        m = re.search(r'(?ms)^\[dispatcher\][^\[]*?^wakeup_delay\s*=\s*"(\d+)(us|ms|s)"', l)
        if not m:
            return 2000  # the built-in default
        return int(m.group(1)) * {"us": 1, "ms": 1000, "s": 1000000}[m.group(2)]

    def start_host(self):
        conf, plugins = self.write_conf()
        env = dict(os.environ)
        if self.a.stages:
            self.stages_file = os.path.join(self.work, "stages.json")
            if os.path.exists(self.stages_file):
                os.unlink(self.stages_file)
            env["LEAF_E2E_STAGES"] = self.stages_file
        self.host = subprocess.Popen(pinned("leaf", [os.path.join(self.build, "core/leaf-host"), "--config", conf,
                                                     "--plugins-dir", plugins]), env=env,
                                     stdout=open(os.path.join(self.work, "leaf-host.out"), "w"),
                                     stderr=open(os.path.join(self.work, "leaf-host.log"), "w"))
        for _ in range(100):
            time.sleep(0.2)
            try:
                scrape(self.port)
                break
            except Exception:
                if self.host.poll() is not None:
                    raise RuntimeError("leaf-host exited: see %s/leaf-host.log" % self.work)
        log("leaf-host pid", self.host.pid)
        self.ring = LineProc([os.path.join(self.bin, "e2e-ringwatch"), str(self.host.pid)],
                             os.path.join(self.work, "ringwatch.log"))
        log("ringwatch:", self.ring.read())

    def stop_host(self):
        self.ring.quit()
        self.host.send_signal(signal.SIGTERM)
        rc = self.host.wait(timeout=30)
        log("leaf-host exit status", rc)
        self.results.setdefault("leaf_host_exit", []).append(rc)

    def sample_load(self):
        while not self.load_stop.wait(5):
            self.results["loadavg"].append([round(time.time() - self.t_start, 1)] + loadavg())

    # -- phases
    def gen_baselines(self, label, store):
        for rep in range(self.a.gen_reps):
            for mode in ("tick", "exec", "connect"):
                r = run_gens(self.bin, [(mode, 0)], self.a.gen_seconds)[0]
                r.update({"rep": rep, "phase": label})
                store.append(r)
                log("%s %s rep %d: %.0f ops/s" % (label, mode, rep, r["rate"]))

    def drained(self, m, since):
        """True when every record the kernel emitted since `since` (the
        emitted-minus-outcome backlog at the step's start) has an outcome."""
        emitted = msum(m, "leaf_kernel_events_total")
        done = (msum(m, "leaf_kafka_messages_total") + msum(m, "leaf_kafka_send_errors_total")
                + msum(m, "leaf_events_filtered_total") + msum(m, "leaf_events_malformed_total")
                + msum(m, "leaf_sink_rejected_total"))
        # (leaf_kafka_queue_messages is not used: librdkafka's outq_len counts
        # ops, and idles at 1-2.)
        return emitted - done <= since

    def step(self, rate, rep):
        a = self.a
        exec_rate, conn_rate = a.exec_rate, a.connect_rate
        # Events per exec (exec + fork + exit) and per connection (connect,
        # accept, two closes) are what the generators add beside the tick.
        tick_rate = 0 if rate == 0 else max(rate - 3 * exec_rate - 4 * conn_rate, 1000)
        self.consumer.ask("mark")
        self.ring.ask("mark")
        st0 = self.read_stages()
        m0 = scrape(self.port)
        backlog0 = msum(m0, "leaf_kernel_events_total") - msum(m0, "leaf_kafka_messages_total")
        pending0 = msum(m0, "leaf_kernel_events_total") - (
            msum(m0, "leaf_kafka_messages_total") + msum(m0, "leaf_kafka_send_errors_total")
            + msum(m0, "leaf_events_filtered_total") + msum(m0, "leaf_events_malformed_total")
            + msum(m0, "leaf_sink_rejected_total"))
        cpu0, t0 = proc_cpu_s(self.host.pid), time.monotonic()
        th0 = proc_thread_cpu_ns(self.host.pid)
        others0 = (proc_cpu_s(self.mock.pid), proc_cpu_s(self.consumer.p.pid))
        cs0 = proc_ctxsw(self.host.pid)
        pids = (self.host.pid, self.mock.pid, self.consumer.p.pid)
        rq0 = [proc_run_delay_s(p) for p in pids]
        samples = {"rss": [], "queue": [], "scrape_failures": 0}
        stop = threading.Event()

        def rss_sampler():
            while not stop.wait(0.2):
                samples["rss"].append(proc_rss(self.host.pid))

        # /metrics is served by the dispatcher thread, and a scrape costs it ~1.5 ms on 2 cores
        # (BPF program stats from /proc/self/fdinfo, per-CPU map reads, rendering): sampled
        # every 0.25 s it added ~0.6 point of a core to every step's CPU figure (issue 16,
        # session 6); Prometheus scrapes every 15-60 s.
        def queue_sampler():
            while not stop.wait(a.queue_sample_seconds):
                try:
                    samples["queue"].append(msum(scrape(self.port), "leaf_kafka_queue_messages"))
                except Exception:
                    samples["scrape_failures"] += 1
        ths = [threading.Thread(target=rss_sampler), threading.Thread(target=queue_sampler)]
        for th in ths:
            th.start()
        gens = run_gens(self.bin, [("tick", tick_rate), ("exec", exec_rate), ("connect", conn_rate)],
                        a.step_seconds)
        t_gen = time.monotonic() - t0
        # Drain: until every emitted record has an outcome (bounded).
        deadline = time.monotonic() + a.drain_seconds
        while time.monotonic() < deadline:
            m1 = scrape(self.port)
            if self.drained(m1, pending0):
                break
            time.sleep(0.1)
        t_drain = time.monotonic() - t0
        cpu1 = proc_cpu_s(self.host.pid)
        th1 = proc_thread_cpu_ns(self.host.pid)
        others1 = (proc_cpu_s(self.mock.pid), proc_cpu_s(self.consumer.p.pid))
        cs1 = proc_ctxsw(self.host.pid)
        rq1 = [proc_run_delay_s(p) for p in pids]
        stop.set()
        for th in ths:
            th.join()
        time.sleep(0.3)  # the consumer reads what the broker just acknowledged
        st1 = self.read_stages()  # (e2e_stages.so rewrites its file every 100 ms)
        m1 = scrape(self.port)
        cons = self.consumer.ask("mark")
        ring = self.ring.ask("mark")

        d = lambda name, **kw: msum(m1, name, **kw) - msum(m0, name, **kw)
        emitted = d("leaf_kernel_events_total")
        ring_lost = d("leaf_ringbuf_lost_events_total")
        generated = emitted + ring_lost
        acked = d("leaf_kafka_messages_total")
        drops = {
            "ringbuf_lost": ring_lost,
            "filtered": d("leaf_events_filtered_total"),
            "malformed": d("leaf_events_malformed_total"),
            "unknown_type": d("leaf_events_unknown_type_total"),
            "sink_rejected": d("leaf_sink_rejected_total"),
            "kafka_queue_full": d("leaf_kafka_messages_dropped_total"),
            "kafka_send_errors": d("leaf_kafka_send_errors_total"),
        }
        counted = sum(v for k, v in drops.items() if k not in ("sink_rejected", "kafka_queue_full"))
        # sink_rejected and kafka_queue_full are the same events seen by the host
        # and by the sink; the sink's send errors include its queue_full drops.
        counted_sink = max(drops["sink_rejected"], drops["kafka_queue_full"], drops["kafka_send_errors"])
        counted = ring_lost + drops["filtered"] + drops["malformed"] + drops["unknown_type"] + counted_sink
        backlog1 = msum(m1, "leaf_kernel_events_total") - msum(m1, "leaf_kafka_messages_total")
        unaccounted = generated - acked - counted - (backlog1 - backlog0)
        ack_cum = hist_delta(m0, m1, "leaf_kafka_ack_latency_seconds")
        proc_cum = hist_delta(m0, m1, "leaf_processing_latency_seconds")
        q = lambda cum, p: (None if hist_quantile(cum, p) is None else round(hist_quantile(cum, p) * 1e6, 1))
        per_type = {}
        for (n, l, v) in m1:
            if n == "leaf_kernel_events_total":
                per_type[l["type"]] = per_type.get(l["type"], 0) + v - msum(m0, n, type=l["type"])
        tick_ops = next(g["ops"] for g in gens if g["mode"] == "tick")
        res = {
            "target_rate": rate, "rep": rep, "seconds": round(t_gen, 3), "drain_seconds": round(t_drain - t_gen, 3),
            "generated": generated, "emitted": emitted, "acked": acked,
            "broker_appended": None, "consumer_read": cons["messages"],
            "consumer_events": cons["events"],
            "rate_generated": generated / t_gen, "rate_acked": acked / t_gen,
            "drops": drops, "dropped_counted": counted, "unaccounted": unaccounted,
            "backlog_change": backlog1 - backlog0,
            "loss_pct": 100.0 * (counted + max(unaccounted, 0)) / generated if generated else 0,
            "lost_uncounted_pct": 100.0 * max(unaccounted, 0) / generated if generated else 0,
            "per_type": per_type, "generators": gens, "tick_ops": tick_ops,
            "tick_events": per_type.get("bench_tick", 0) + d("leaf_ringbuf_lost_events_total", type="bench_tick"),
            "latency_consumer_us": cons["latency_us"],
            "latency_ack_us": {"p50": q(ack_cum, 0.5), "p99": q(ack_cum, 0.99), "p999": q(ack_cum, 0.999),
                               "n": ack_cum.get(float("inf"), 0)},
            "latency_processing_us": {"p50": q(proc_cum, 0.5), "p99": q(proc_cum, 0.99),
                                      "p999": q(proc_cum, 0.999)},
            "bpf_run_seconds": d("leaf_bpf_program_run_seconds_total"),
            "bpf_runs": d("leaf_bpf_program_runs_total"),
            "cpu_seconds": cpu1 - cpu0,
            # ms per second each process's threads waited for a CPU while runnable
            "runq_wait_ms_per_s": {name: round(1e3 * (b - a) / t_gen, 2) for name, a, b in
                                   zip(("leaf_host", "mock", "consumer"), rq0, rq1)},
            "ctxsw_voluntary_per_s": (cs1[0] - cs0[0]) / t_gen,
            "ctxsw_involuntary_per_s": (cs1[1] - cs0[1]) / t_gen,
            "mock_cpu_pct": 100.0 * (others1[0] - others0[0]) / t_gen,
            "consumer_cpu_pct": 100.0 * (others1[1] - others0[1]) / t_gen, "cpu_pct_of_core": 100.0 * (cpu1 - cpu0) / t_gen,
            # per thread name, % of a core (schedstat: the split of cpu_pct_of_core)
            "cpu_pct_by_thread": {k: round(100.0 * d / 1e9 / t_gen, 2) for k, d in sorted(
                ((k, v - th0.get(k, 0)) for k, v in th1.items()), key=lambda kv: -kv[1]) if d > 0},
            "rss_max": max(samples["rss"] or [proc_rss(self.host.pid)]),
            "rss_end": proc_rss(self.host.pid),
            "kafka_queue_hwm": max(samples["queue"] or [0]),
            "queue_samples": len(samples["queue"]), "scrape_failures": samples["scrape_failures"],
            "rings": ring["rings"], "loadavg": loadavg(),
        }
        if self.a.stages:
            res["latency_stages_us"] = stages_delta(st0, st1)
        res["_log_end"] = cons["log_end"]
        return res

    def read_stages(self):
        if not self.a.stages:
            return None
        try:
            with open(self.stages_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def run(self):
        a = self.a
        self.t_start = time.time()
        threading.Thread(target=self.sample_load, daemon=True).start()
        self.results["loadavg"].append([0.0] + loadavg())
        self.start_mock()
        log("phase 1: generators alone (no Leaf)")
        self.gen_baselines("alone", self.results["baseline_gens"])

        log("phase 2: leaf-host, stepped load")
        self.start_host()
        time.sleep(2)
        c0, t0 = proc_cpu_s(self.host.pid), time.monotonic()
        time.sleep(a.idle_seconds)
        self.results["idle_cpu_pct"] = 100.0 * (proc_cpu_s(self.host.pid) - c0) / (time.monotonic() - t0)
        self.results["idle_rss"] = proc_rss(self.host.pid)
        log("idle: %.2f %% of a core, RSS %.1f MB" % (self.results["idle_cpu_pct"], self.results["idle_rss"] / 1e6))
        log_end = self.consumer.ask("mark")["log_end"]
        for rep in range(a.reps):
            if rep:
                # A fresh leaf-host per repetition: the saturation step at the
                # end of one must not leave its heap to the next one's RSS.
                self.stop_host()
                self.start_host()
                time.sleep(2)
                log_end = self.consumer.ask("mark")["log_end"]
            for rate in a.steps:
                r = self.step(rate, rep)
                r["broker_appended"] = r.pop("_log_end") - log_end
                log_end += r["broker_appended"]
                self.results["steps"].append(r)
                if a.stages:
                    st = r["latency_stages_us"]
                    log("  stages p50/p99 ms: " + "  ".join(
                        "%s %.2f/%.2f" % (k, st[k].get("p50", 0) / 1e3, st[k].get("p99", 0) / 1e3)
                        for k in ("ack", "produce", "produce_last", "rdkafka", "rtt") if k in st)
                        + "  run-queue wait ms/s: " + " ".join(
                            "%s %.1f" % kv for kv in r["runq_wait_ms_per_s"].items()))
                log("step %s rep %d: generated %.0f/s acked %.0f/s loss %.4f%% unaccounted %d "
                    "lat p50/p99 %.2f/%.2f ms cpu %.1f%% rss %.1f MB" % (
                        rate or "max", rep, r["rate_generated"], r["rate_acked"], r["loss_pct"],
                        r["unaccounted"], r["latency_consumer_us"]["p50"] / 1e3,
                        r["latency_consumer_us"]["p99"] / 1e3, r["cpu_pct_of_core"], r["rss_max"] / 1e6))
                log("  cpu % of a core by thread: " + ", ".join(
                    "%s %.2f" % kv for kv in r["cpu_pct_by_thread"].items() if kv[1] >= 0.05))
                self.save()

        log("phase 3: generators flat out with Leaf running")
        self.gen_baselines("with_leaf", self.results["leaf_gens"])
        if a.profile_rate:
            self.profile()
        self.results["leaf_host_vmhwm"] = proc_hwm(self.host.pid)
        samples = os.path.join(self.work, "samples.tsv")
        self.consumer.ask("sample " + samples)
        self.stop_host()

        log("phase 5: bare librdkafka producer, same messages, same broker")
        for rep in range(a.reps if a.bare_messages else 0):
            for rate in [0] + a.bare_rates:
                n = a.bare_messages if rate == 0 else int(rate * a.bare_seconds)
                out = subprocess.run([os.path.join(self.bin, "e2e-bare-producer"), self.bootstrap, samples,
                                      str(n), str(rate), str(self.tick_us())],
                                     capture_output=True, text=True)
                r = json.loads(out.stdout)
                r["rep"] = rep
                self.results["bare"].append(r)
                log("bare rate %s rep %d: %.0f msgs/s p99 %.2f ms" % (rate or "max", rep, r["rate"],
                                                                   r["latency_us"]["p99"] / 1e3))
        log("phase 6: generators alone again")
        self.gen_baselines("alone", self.results["baseline_gens"])
        self.consumer.quit()
        self.mock.send_signal(signal.SIGTERM)
        self.mock.wait(timeout=10)
        self.load_stop.set()
        self.results["loadavg"].append([round(time.time() - self.t_start, 1)] + loadavg())
        self.results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.results["wall_seconds"] = round(time.time() - self.t_start, 1)
        self.save()
        log("done in %.0f s: %s" % (self.results["wall_seconds"], os.path.join(self.out, "results.json")))

    def profile(self):
        """perf profile of leaf-host while the tick source runs at profile_rate."""
        a = self.a
        data = os.path.join(self.work, "perf.data")
        tick = max(a.profile_rate - 3 * a.exec_rate - 4 * a.connect_rate, 1000) if a.profile_rate > 0 else 0
        log("phase 4: perf record of leaf-host at %d events/s" % a.profile_rate)
        cg = [] if a.perf_call_graph == "none" else ["--call-graph", a.perf_call_graph]
        perf = subprocess.Popen(["perf", "record", "-F", "1999"] + cg + ["-p", str(self.host.pid), "-o", data,
                                 "--", "sleep", str(a.step_seconds - 1)],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, "perf.log"), "w"))
        run_gens(self.bin, [("tick", tick), ("exec", a.exec_rate), ("connect", a.connect_rate)], a.step_seconds)
        perf.wait()
        for name, args in (("profile_symbols.txt", ["--sort", "dso,symbol"]),
                           ("profile_threads.txt", ["--sort", "comm,dso"]),
                           ("profile_thread_symbols.txt", ["--sort", "comm,symbol"])):
            out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
                                  "--percent-limit", "0.4"] + args, capture_output=True, text=True)
            lines = [re.sub(r"\s+-\s+-\s*$", "", l.rstrip()) for l in out.stdout.splitlines()]
            open(os.path.join(self.out, name), "w").write("\n".join(lines) + "\n")
        self.results["profile_rate"] = a.profile_rate

    def save(self):
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1, default=str)

    def cleanup(self):
        for p in (getattr(self, "host", None), getattr(self, "mock", None)):
            if p and p.poll() is None:
                p.terminate()
        for lp in (getattr(self, "consumer", None), getattr(self, "ring", None)):
            if lp and lp.p.poll() is None:
                lp.p.kill()


def stages_delta(st0, st1):
    """Percentiles (us) of each e2e_stages.so histogram between two snapshots."""
    out = {}
    if not st1:
        return out
    w = st1["bin_us"]
    for name in ("ack", "produce", "produce_last", "rdkafka", "rtt"):
        b1 = st1.get(name, [])
        b0 = (st0 or {}).get(name, [])
        d = [c - (b0[i] if i < len(b0) else 0) for i, c in enumerate(b1)]
        n = sum(d)
        r = {"n": n}
        if n:
            r["mean"] = round(sum((i + 0.5) * w * c for i, c in enumerate(d)) / n, 1)
            for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")):
                acc, target = 0, q * n
                for i, c in enumerate(d):
                    acc += c
                    if acc >= target:
                        r[key] = (i + 1) * w  # upper edge of the bin
                        break
        out[name] = r
    for key in ("no_timestamp", "failed"):
        out[key] = st1.get(key, 0) - (st0 or {}).get(key, 0)
    return out


def set_toml(text, opt, file):
    """Replaces the value of KEY (section.key for a [section]) in a conf.d file."""
    key, value = opt.split("=", 1)
    section, _, name = key.rpartition(".")
    start = 0
    if section:
        m = re.search(r"(?m)^\[%s\]$" % re.escape(section), text)
        if not m:
            sys.exit("run_e2e: no [%s] in %s" % (section, file))
        start = m.end()
    m = re.compile(r"(?m)^%s = .*$" % re.escape(name)).search(text, start)
    if not m:
        sys.exit("run_e2e: no key %s in %s" % (key, file))
    return text[:m.start()] + "%s = %s" % (name, value) + text[m.end():]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(here)))
    ap.add_argument("--build", default="build-e2e")
    ap.add_argument("--out", required=True, help="results.json (and the profile) go here")
    ap.add_argument("--work", help="logs, conf.d, perf.data (default: BUILD/e2e-work)")
    ap.add_argument("--steps", default="25000,50000,100000,200000,400000,800000,0",
                    help="total events/s per step; 0 = the tick source flat out (saturation)")
    ap.add_argument("--step-seconds", type=float, default=8)
    ap.add_argument("--drain-seconds", type=float, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--exec-rate", type=int, default=100, help="execs/s during every step")
    ap.add_argument("--connect-rate", type=int, default=500, help="connections/s during every step")
    ap.add_argument("--gen-seconds", type=float, default=3)
    ap.add_argument("--gen-reps", type=int, default=2, help="per half: medians over 2x this")
    ap.add_argument("--idle-seconds", type=float, default=5)
    ap.add_argument("--bare-messages", type=int, default=1000000)
    ap.add_argument("--bare-rates", default="100000,400000")
    ap.add_argument("--bare-seconds", type=float, default=3)
    ap.add_argument("--profile-rate", type=int, default=0, help="events/s for a perf profile (0: none, -1: tick flat out)")
    ap.add_argument("--perf-call-graph", default="none", help="none, fp, dwarf (callers in perf.data)")
    ap.add_argument("--metrics-port", type=int, default=19464)
    ap.add_argument("--queue-sample-seconds", type=float, default=1.0,
                    help="period of the /metrics scrapes that sample the Kafka queue during a step "
                         "(each costs leaf-host's dispatcher ~1.5 ms on 2 cores; 0.25 before "
                         "2026-11-27 session 6)")
    ap.add_argument("--kafka-format", default="json", choices=["json", "json-batch"],
                    help="the sink's value format (json-batch: many events per Kafka message; "
                         "the consumer times every event)")
    ap.add_argument("--kafka-option", action="append", default=[],
                    help="a kafka.toml option, KEY=VALUE with a TOML value: linger='\"0ms\"', "
                         "batch.max_age='\"5ms\"'")
    ap.add_argument("--leaf-option", action="append", default=[],
                    help="a leaf.toml option, KEY=VALUE with a TOML value: "
                         "dispatcher.wakeup_delay='\"2ms\"'")
    ap.add_argument("--kafka-property", action="append", default=[],
                    help="extra librdkafka property for the sink (a what-if run), name=value")
    ap.add_argument("--stages", action="store_true",
                    help="time kernel -> produce() -> broker ack inside leaf-host (e2e_stages.so, "
                         "a librdkafka interceptor plugin): latency_stages_us per step")
    ap.add_argument("--leaf-cpus", default="",
                    help="run leaf-host (every thread) on these CPUs (taskset -c list, e.g. 2 or 2,3)")
    ap.add_argument("--gen-cpus", default="",
                    help="run the load generators on these CPUs (taskset -c list)")
    a = ap.parse_args()
    PINS["leaf"] = [a.leaf_cpus] if a.leaf_cpus else []
    PINS["gen"] = [a.gen_cpus] if a.gen_cpus else []
    a.steps = [int(x) for x in a.steps.split(",") if x]
    a.bare_rates = [int(x) for x in a.bare_rates.split(",") if x]
    if os.geteuid() != 0:
        sys.exit("run_e2e: needs root (BPF)")
    b = Bench(a)
    try:
        b.run()
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
