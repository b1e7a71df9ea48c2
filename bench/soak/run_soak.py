#!/usr/bin/python3
"""Soak benchmark (issue 17, Deliver 6; not a test): leaf-host with the
bench-only e2e_tick probe and the Kafka sink (the shipped kafka.toml, spool
on, its directory in the work dir) delivering to leaf-mock-kafka, under a
steady tick load (e2e-loadgen, default 50,000 events/s) for a long time
(default 30 minutes). Every --interval seconds it samples leaf-host's RSS,
open file descriptors and threads (/proc), the events acknowledged by the
broker and the drops; at the end it prints the samples, the least-squares
slope of RSS, fds and threads per hour over the whole run and over its
second half (after warm-up), and the delivery totals. Run as root (BPF):

  cmake --build build --target leaf-bench-e2e -j2
  sudo python3 bench/soak/run_soak.py --build build [--rate 50000] [--minutes 30]

Writes soak.json (samples and figures) to --out (default: the work dir).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request


def log(*a):
    print("[soak %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def scrape(port):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        base = name.split("{", 1)[0]
        try:
            out[base] = out.get(base, 0.0) + float(value)
        except ValueError:
            pass
    return out


def proc_status(pid):
    rss = threads = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, fds, threads


def slope_per_hour(xs, ys):
    """Least-squares slope of ys over xs (seconds), per hour."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return 3600.0 * sxy / sxx if sxx else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--source", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--rate", type=int, default=50000)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--interval", type=float, default=10, help="seconds between samples")
    ap.add_argument("--format", default="json-batch", help="the sink's format (json, json-batch)")
    ap.add_argument("--port", type=int, default=27500)
    ap.add_argument("--work", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    work = os.path.abspath(a.work or os.path.join(build, "soak-work"))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    bench = os.path.join(build, "bench", "e2e")

    mock = subprocess.Popen([os.path.join(build, "tools", "mock_kafka", "leaf-mock-kafka")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    bootstrap = mock.stdout.readline().strip()
    log("broker", bootstrap)

    conf = os.path.join(work, "conf.d")
    shutil.copytree(os.path.join(a.source, "conf.d"), conf)
    k = open(os.path.join(conf, "kafka.toml")).read()
    k = re.sub(r'(?m)^enabled = false', 'enabled = true', k, count=1)
    k = re.sub(r'(?m)^brokers = .*$', 'brokers = "%s"' % bootstrap, k)
    k = re.sub(r'(?m)^format = .*$', 'format = "%s"' % a.format, k)
    k = re.sub(r'(?m)^dir = "/var/lib/leaf/spool/kafka"', 'dir = "%s/spool"' % work, k)
    open(os.path.join(conf, "kafka.toml"), "w").write(k)
    l = open(os.path.join(conf, "leaf.toml")).read()
    l = re.sub(r'(?ms)^\[jsonl\]\nenabled = true', '[jsonl]\nenabled = false', l)
    l = re.sub(r'(?m)^listen = .*$', 'listen = "127.0.0.1:%d"' % a.port, l)
    open(os.path.join(conf, "leaf.toml"), "w").write(l)
    plugins = os.path.join(work, "plugins")
    os.makedirs(plugins)
    os.symlink(os.path.join(build, "plugins", "leaf_kafka.so"), os.path.join(plugins, "leaf_kafka.so"))
    os.symlink(os.path.join(bench, "leaf_e2e_tick.so"), os.path.join(plugins, "leaf_e2e_tick.so"))

    host = subprocess.Popen([os.path.join(build, "core", "leaf-host"), "--config", conf,
                             "--plugins-dir", plugins],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "leaf-host.log"), "w"))
    for _ in range(150):
        time.sleep(0.2)
        try:
            scrape(a.port)
            break
        except OSError:
            if host.poll() is not None:
                sys.exit("leaf-host exited: see %s/leaf-host.log" % work)
    seconds = int(a.minutes * 60)
    log("leaf-host pid %d; %d ev/s for %d s, a sample every %g s" % (host.pid, a.rate, seconds, a.interval))
    gen = subprocess.Popen([os.path.join(bench, "e2e-loadgen"), "tick", str(a.rate), str(seconds)],
                           stdout=subprocess.PIPE, text=True)
    samples = []
    t0 = time.monotonic()
    cpu0 = None
    while gen.poll() is None:
        time.sleep(a.interval)
        t = time.monotonic() - t0
        try:
            rss, fds, threads = proc_status(host.pid)
            m = scrape(a.port)
            with open("/proc/%d/stat" % host.pid) as f:
                st = f.read().rsplit(")", 1)[1].split()
            cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
            mock_rss = proc_status(mock.pid)[0]
        except OSError as e:
            log("sample failed:", e)
            if host.poll() is not None:
                log("leaf-host exited with", host.returncode)
                break
            continue
        s = {"t": round(t, 1), "rss": rss, "fds": fds, "threads": threads, "cpu_s": cpu,
             "acked": m.get("leaf_kafka_messages_total", 0),
             "events": m.get("leaf_events_total", 0),
             "dropped": m.get("leaf_kafka_messages_dropped_total", 0) + m.get("leaf_kafka_spool_dropped_total", 0),
             "spool_records": m.get("leaf_kafka_spool_records", 0),
             "queue_bytes": m.get("leaf_kafka_queue_bytes", 0), "mock_rss": mock_rss,
             "load": float(open("/proc/loadavg").read().split()[0])}
        prev = samples[-1] if samples else None
        rate = (s["acked"] - prev["acked"]) / (s["t"] - prev["t"]) if prev else 0
        cpu_pct = 100 * (s["cpu_s"] - prev["cpu_s"]) / (s["t"] - prev["t"]) if prev else 0
        samples.append(s)
        log("t=%5.0fs rss %6.1f MiB fds %3d threads %2d acked %.0f/s cpu %.1f%% dropped %d spool %d mock %.0f MiB load %.1f"
            % (t, rss / 2**20, fds, threads, rate, cpu_pct, s["dropped"], s["spool_records"],
               mock_rss / 2**20, s["load"]))
    gen_out = gen.stdout.read()
    time.sleep(3)
    final = scrape(a.port)
    host.send_signal(signal.SIGTERM)
    rc = host.wait(60)
    mock.terminate()
    mock.wait(30)

    xs = [s["t"] for s in samples]
    half = [s for s in samples if s["t"] >= xs[-1] / 2] if samples else []
    fig = {
        "rate": a.rate, "seconds": seconds, "format": a.format, "samples": len(samples),
        "loadgen": json.loads(gen_out) if gen_out.strip() else None,
        "rss_first_mib": samples[0]["rss"] / 2**20 if samples else 0,
        "rss_last_mib": samples[-1]["rss"] / 2**20 if samples else 0,
        "rss_max_mib": max(s["rss"] for s in samples) / 2**20 if samples else 0,
        "rss_slope_mib_per_h": slope_per_hour(xs, [s["rss"] / 2**20 for s in samples]),
        "rss_slope_2nd_half_mib_per_h": slope_per_hour([s["t"] for s in half], [s["rss"] / 2**20 for s in half]),
        "fds_min_max": [min(s["fds"] for s in samples), max(s["fds"] for s in samples)] if samples else [],
        "fds_slope_per_h": slope_per_hour(xs, [s["fds"] for s in samples]),
        "threads_min_max": [min(s["threads"] for s in samples), max(s["threads"] for s in samples)] if samples else [],
        "threads_slope_per_h": slope_per_hour(xs, [s["threads"] for s in samples]),
        "cpu_pct_mean": 100 * (samples[-1]["cpu_s"] - samples[0]["cpu_s"]) / (xs[-1] - xs[0]) if len(samples) > 1 else 0,
        "events_total": final.get("leaf_events_total", 0),
        "acked_total": final.get("leaf_kafka_messages_total", 0),
        "dropped_total": final.get("leaf_kafka_messages_dropped_total", 0) + final.get("leaf_kafka_spool_dropped_total", 0),
        "ring_lost_total": final.get("leaf_ringbuf_lost_events_total", 0),
        "exit_status": rc,
    }
    out = os.path.abspath(a.out or work)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "soak.json"), "w") as f:
        json.dump({"figures": fig, "samples": samples}, f, indent=1)
    print(json.dumps(fig, indent=1))
    log("written", os.path.join(out, "soak.json"))


if __name__ == "__main__":
    main()
