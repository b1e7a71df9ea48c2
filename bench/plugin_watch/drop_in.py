#!/usr/bin/env python3
"""Plugins that come and go (issue 14, item 4): how long from a .so landing in
leaf-host's watched plugins directory to its first event, and how long no
program of a plugin is attached while it is upgraded by a rename.

Needs root (BPF). Runs the real leaf-host with an empty plugins directory:
  - drop-in: leaf_process.so is renamed in while a shell runs /bin/true in a
    loop; the time from rename() to the first process_exec line on leaf-host's
    stdout, then the file is removed (rounds times);
  - upgrade: leaf_network.so is renamed over itself (a fresh copy), with a
    loopback connection loop running; the figure is leaf-host's own log line
    ("no probe of it attached for X ms", split into the old one's stop and the
    new one's attach).

  sudo python3 bench/plugin_watch/drop_in.py --build build --rounds 10
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time


class Host:
    def __init__(self, build, work):
        conf = os.path.join(work, "conf.d")
        self.plugins = os.path.join(work, "plugins")
        os.makedirs(conf)
        os.makedirs(self.plugins)
        os.chmod(work, 0o755)
        os.chmod(self.plugins, 0o755)
        with open(os.path.join(conf, "leaf.toml"), "w") as f:
            f.write('[metrics]\nlisten = ""\n')
        self.proc = subprocess.Popen(
            [os.path.join(build, "core/leaf-host"), "--config", conf, "--plugins-dir", self.plugins],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.log, self.lines = [], []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.log), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        self.wait(lambda: any("leaf-host running" in l for l in self.log), "start")

    def _read(self, stream, into):
        for line in stream:
            with self.cv:
                into.append((time.monotonic(), line) if into is self.lines else line)
                self.cv.notify_all()

    def wait(self, pred, what, timeout=30):
        with self.cv:
            if not self.cv.wait_for(pred, timeout):
                raise SystemExit(f"timeout waiting for {what}:\n" + "".join(self.log[-20:]))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)


def rename_in(src, dst):
    tmp = os.path.join(os.path.dirname(dst), ".incoming")
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o644)
    t0 = time.monotonic()
    os.rename(tmp, dst)
    return t0


def drop_in(host, build, rounds):
    so = os.path.join(host.plugins, "leaf_process.so")
    loop = subprocess.Popen(["/bin/sh", "-c", "while :; do /bin/true; done"])
    out = []
    try:
        for _ in range(rounds):
            n = len(host.lines)
            t0 = rename_in(os.path.join(build, "plugins/leaf_process.so"), so)
            host.wait(lambda: any('"process_exec"' in l for _, l in host.lines[n:]), "an exec event")
            t1 = next(t for t, l in host.lines[n:] if '"process_exec"' in l)
            out.append((t1 - t0) * 1000)
            m = len(host.log)
            os.unlink(so)
            host.wait(lambda: any("plugin process removed" in l for l in host.log[m:]), "removal")
    finally:
        loop.kill()
    return out


def upgrade(host, build, rounds):
    so = os.path.join(host.plugins, "leaf_network.so")
    rename_in(os.path.join(build, "plugins/leaf_network.so"), so)
    host.wait(lambda: any("plugin network" in l and "started from" in l for l in host.log), "network")
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 24515))
    srv.listen(1024)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            c, _ = srv.accept()
            c.close()

    def storm():
        while not stop.is_set():
            s = socket.create_connection(("127.0.0.1", 24515))
            s.close()
            time.sleep(0.001)

    threading.Thread(target=serve, daemon=True).start()
    threading.Thread(target=storm, daemon=True).start()
    gaps = []
    pat = re.compile(r"no probe of it attached for ([\d.]+) ms \(old stopped, drained and unloaded "
                     r"in ([\d.]+) ms, new attached in ([\d.]+) ms\)")
    for _ in range(rounds):
        m = len(host.log)
        rename_in(os.path.join(build, "plugins/leaf_network.so"), so)
        host.wait(lambda: any(pat.search(l) for l in host.log[m:]), "the upgrade line")
        g = next(pat.search(l) for l in host.log[m:] if pat.search(l))
        gaps.append(tuple(float(x) for x in g.groups()))
    stop.set()
    return gaps


def summary(name, values):
    values = sorted(values)
    print(f"{name}: median {statistics.median(values):.1f} ms, min {values[0]:.1f}, "
          f"max {values[-1]:.1f} ({len(values)} rounds)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    with tempfile.TemporaryDirectory() as work:
        host = Host(build, work)
        try:
            summary("drop-in: leaf_process.so renamed in -> first process_exec line",
                    drop_in(host, build, a.rounds))
            gaps = upgrade(host, build, a.rounds)
            summary("upgrade of leaf_network.so under a connection loop: nothing attached for",
                    [g[0] for g in gaps])
            summary("  of which the old one's stop, drain and unload", [g[1] for g in gaps])
            summary("  of which the new one's attach", [g[2] for g in gaps])
        finally:
            host.stop()


if __name__ == "__main__":
    main()
