#!/usr/bin/python3
"""The kernel matrix's report: reads each kernel's results (the "@@LEAF" lines
of kernel-run.sh and the tests' output between them), prints the table, and
writes matrix.txt, matrix.json and check-<kernel>.txt to --out.

    report.py --out DIR --test-plugins FILE [--elapsed S] <kernel>=<results file>...

Exit status 0 when every test passed on every kernel and each kernel's
--check agrees with its tests; 1 otherwise."""
import argparse
import json
import os
import re
import sys

VARIANTS = [  # (check variant, the hooks it skips, column title)
    ("default", "", "chosen"),
    ("no-fentry", "fentry", "-fentry"),
    ("no-kprobe", "fentry,kprobe", "-kprobe"),
    ("no-tp_btf", "fentry,kprobe,tp_btf", "-tp_btf"),
    ("no-raw_tp", "fentry,kprobe,tp_btf,raw_tp", "-raw_tp"),
]
SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed"
                     r"(?:\s*\|\s*(\d+) skipped)?")
DIGEST_LINES = 24  # per failed test, in the digest printed before the table


def parse(path):
    r = {"kernel": "?", "features": {}, "checks": {}, "check_text": [], "tests": {},
         "timeout": False, "qemu_failed": None, "wall": None, "package": "", "ended": False}
    current, buf, in_check_text, in_check_log, in_hang = None, [], False, False, False
    r["check_log"] = []
    r["check_times"] = {}
    r["hangs"] = []  # [(what, limit, diagnostic lines)]
    r["lockups"] = []  # [(header, console lines)]: guest kernel lockups (run-matrix.sh)
    r["lockup_final"] = False
    in_lockup = False
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        lines = []
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    for line in lines:
        line = ansi.sub("", line)
        if not line.startswith("@@LEAF "):
            if in_lockup:
                r["lockups"][-1][1].append(line)
                continue
            if in_hang:
                r["hangs"][-1][2].append(line)
            if in_check_text:
                r["check_text"].append(line)
            elif in_check_log:
                r["check_log"].append(line)
            elif current:
                buf.append(line)
            continue
        parts = line.split(" ", 3)
        kind = parts[1] if len(parts) > 1 else ""
        if kind == "kernel":
            r["kernel"] = line.split(" ", 2)[2]
        elif kind == "feature":
            r["features"][parts[2]] = parts[3] == "yes"
        elif kind == "check":
            _, _, variant, rest = line.split(" ", 3)
            rc, _, text = rest.partition(" ")
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            r["checks"][variant] = {"rc": int(rc), "json": data, "raw": text}
        elif kind == "check-time":
            r["check_times"][parts[2]] = int(parts[3])
        elif kind == "hang":
            what, _, limit = line.split(" ", 2)[2].rpartition(" ")
            r["hangs"].append((what, limit, []))
            in_hang = True
        elif kind == "lockup-begin":
            r["lockups"].append((line.split(" ", 2)[2], []))
            in_lockup = True
        elif kind == "lockup-end":
            in_lockup = False
        elif kind == "lockup-final":
            r["lockup_final"] = True
        elif kind == "hang-end":
            in_hang = False
        elif kind == "check-text-begin":
            in_check_text = True
        elif kind == "check-text-end":
            in_check_text = False
        elif kind == "check-log-begin":
            in_check_log = True
        elif kind == "check-log-end":
            in_check_log = False
        elif kind == "test-begin":
            current, buf = parts[2], []
        elif kind == "test":
            name, rc, secs = line.split(" ")[2:5]
            t = {"rc": rc, "seconds": int(secs), "cases": None, "failed_cases": []}
            for b in buf:
                m = SUMMARY.search(b)
                if m:
                    t["cases"] = [int(m.group(1)), int(m.group(2)), int(m.group(3)),
                                  int(m.group(4) or 0)]
            t["errors"] = error_lines(buf)
            t["failed_cases"] = sorted({e.split(":", 1)[1].strip() for e in t["errors"]
                                        if e.startswith("TEST CASE:")})
            t["output_tail"] = buf[-60:] if rc != "0" else []
            r["tests"][name] = t
            current, buf = None, []
        elif kind == "timeout":
            r["timeout"] = True
        elif kind == "qemu-failed":
            r["qemu_failed"] = parts[2]
        elif kind == "wall":
            r["wall"] = int(parts[2])
            r["package"] = parts[3] if len(parts) > 3 else ""
        elif kind == "end":
            r["ended"] = True
    if current:  # the guest died inside a test
        r["tests"][current] = {"rc": "died", "seconds": 0, "cases": None, "failed_cases": [],
                               "output_tail": buf[-60:], "errors": error_lines(buf)}
    return r


def error_lines(buf):
    """A failed test's failed doctest cases: the case's name, each failed
    assertion and the lines of its report (values, first line of INFO)."""
    out, case, in_error = [], None, False
    for b in buf:
        if b.startswith("TEST CASE:"):
            case, in_error = b, False
        elif re.search(r": (FATAL )?ERROR: ", b):
            if case:
                out.append(case)
                case = None
            out.append(b)
            in_error = True
        elif in_error and re.match(r"\s*(values|logged):", b):
            out.append(b)
        elif in_error and b.strip() and not b.startswith(" "):
            in_error = False
    return out


def failure_digest(kernels, problems):
    """The problems and each failed test's doctest errors, printed before the
    table: CI logs keep a test's first lines, and the table runs to ~150."""
    if not problems:
        return ""
    out = ["KERNEL MATRIX FAILED (the table and each failed test's last lines follow):"]
    out += [f"  - {p}" for p in problems]
    for label, r in kernels:
        for name, t in r["tests"].items():
            shown = (t.get("errors") or [])[:DIGEST_LINES] if t["rc"] != "0" else []
            if shown:
                out.append(f"  {label}: {name}:")
                out += [f"    {b}" for b in shown]
    return "\n".join(out) + "\n\n"


def probe_hooks(check):
    """{(plugin, probe): (hook, attached, detail)} of one --check-json run."""
    out = {}
    if not check or not check.get("json"):
        return out
    for p in check["json"].get("plugins", []):
        for pr in p.get("probes", []):
            out[(p["name"], pr["name"])] = (pr["hook"], pr["attached"], pr.get("detail", ""))
    return out


def plugin_status(check):
    if not check or not check.get("json"):
        return {}
    return {p["name"]: (p["status"], p.get("error", "")) for p in check["json"].get("plugins", [])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--test-plugins", required=True)
    ap.add_argument("--elapsed", type=int, default=0)
    ap.add_argument("results", nargs="*")
    a = ap.parse_args()

    test_plugin = {}
    for line in open(a.test_plugins):
        name, plugin = line.split()
        test_plugin[name] = plugin
    kernels = []
    for spec in a.results:
        label, _, path = spec.partition("=")
        kernels.append((label, parse(path)))

    lines, problems, notes_flaky = [], [], []
    say = lines.append
    probes = []
    for _, r in kernels:
        for key in probe_hooks(r["checks"].get("default")):
            if key not in probes:
                probes.append(key)
    plugins = sorted({p for p, _ in probes} | set(test_plugin.values()))

    # Per kernel and plugin: did every test of the plugin pass?
    verdict = {}
    for label, r in kernels:
        for plugin in plugins:
            names = [t for t, p in test_plugin.items() if p == plugin]
            ran = [r["tests"][t] for t in names if t in r["tests"]]
            if not names:
                v = "-"
            elif len(ran) < len(names) or any(t["rc"] == "missing" for t in ran):
                v = "NOT RUN"
            elif all(t["rc"] == "0" for t in ran):
                v = "pass"
            else:
                v = "FAIL"
            verdict[(label, plugin)] = v

    # ---- the matrix: hook chosen and test verdict, per probe and kernel ----
    width = max([len(f"{p}/{q}") for p, q in probes] + [20]) + 1
    col = 22
    say("Kernel matrix: hook chosen by leaf-host (default configuration) and the plugin's tests")
    say("")
    say("probe".ljust(width) + "".join(label.ljust(col) for label, _ in kernels))
    say("".ljust(width) + "".join(r["kernel"][:col - 2].ljust(col) for _, r in kernels))
    for plugin, probe in probes:
        row = f"{plugin}/{probe}".ljust(width)
        for label, r in kernels:
            hooks = probe_hooks(r["checks"].get("default"))
            hook, attached, _ = hooks.get((plugin, probe), ("-", False, ""))
            if not attached and hook != "-":
                hook = f"({hook}, not attached)"
            row += f"{hook} {verdict[(label, plugin)]}".ljust(col)
        say(row)
    say("")

    # ---- forced fallback: the hook under each hooks.skip level ----
    say("Forced fallback (hooks.skip): hook per probe with the listed hooks skipped")
    for label, r in kernels:
        say(f"  {label} ({r['kernel']}):")
        say("    " + "probe".ljust(width) + "".join(t.ljust(12) for _, _, t in VARIANTS))
        for plugin, probe in probes:
            row = "    " + f"{plugin}/{probe}".ljust(width)
            for variant, _, _ in VARIANTS:
                got = probe_hooks(r["checks"].get(variant)).get((plugin, probe))
                if got is None:  # not among that configuration's probes
                    row += "-".ljust(12)
                    continue
                hook, attached, _ = got
                row += (hook if attached else f"!{hook}").ljust(12)
            say(row)
    say("  (!hook: not attached; -: not a probe of that configuration (not needed there, e.g.")
    say("   network/udp_flush and udp_close only serve udp_send/udp_recv on fentry); the default")
    say("   column is the hook the tests ran on; the network,")
    say("   process and signals tests also force raw_tp and tracepoint themselves, and the")
    say("   network test the kprobe fallback (fentry skipped) where the kernel has kprobes)")
    say("")

    # ---- tests ----
    say("Tests (doctest cases: total | passed | failed | skipped; seconds)")
    for label, r in kernels:
        state = ""
        if r["timeout"]:
            state = "  GUEST TIMED OUT (killed)"
            problems.append(f"{label}: the guest timed out and was killed")
        if r["qemu_failed"]:
            state = f"  qemu failed ({r['qemu_failed']})"
            problems.append(f"{label}: qemu exited {r['qemu_failed']}")
        if not r["ended"] and not state:
            state = "  (no end marker: the run was cut short)"
            problems.append(f"{label}: the run did not reach its end")
        say(f"  {label}: {r['kernel']}  {r['package']}  wall {r['wall']}s{state}")
        if r["check_times"]:
            say("    leaf-host --check-json seconds: " + ", ".join(
                f"{v} {s}" for v, s in r["check_times"].items()))
        for header, console in r["lockups"]:
            say(f"    KERNEL LOCKUP, attempt {header}; the guest was stopped"
                + ("" if r["lockup_final"] and header == r["lockups"][-1][0]
                   else " and booted again"))
            first = next((i for i, c in enumerate(console)
                          if re.search(r"soft lockup|stall", c)), 0)
            for c in console[first:first + 60]:
                say(f"      {c}")
        if r["lockups"]:
            if r["lockup_final"]:
                problems.append(f"{label}: the guest kernel locked up on every attempt")
            else:
                notes_flaky.append(f"{label}: guest kernel lockup on attempt "
                                   + ", ".join(h.split(" ")[0] for h, _ in r["lockups"])
                                   + ", passed when booted again (see the Tests section)")
        for what, limit, diag in r["hangs"]:
            say(f"    HUNG: {what} still running after {limit}s, killed; its threads:")
            for d in diag[:80]:
                say(f"      {d}")
            problems.append(f"{label}: {what} hung (killed after {limit}s)")
        for name in test_plugin:
            t = r["tests"].get(name)
            if not t:
                say(f"    {name.ljust(36)} not run")
                problems.append(f"{label}: {name} not run")
                continue
            cases = "/".join(str(c) for c in t["cases"]) if t["cases"] else "-"
            res = "pass" if t["rc"] == "0" else f"FAIL (exit {t['rc']})"
            if t["rc"] in ("124", "137"):
                res = "FAIL (killed at its time limit)"
            if t["rc"] == "missing":
                res = "not built"
            say(f"    {name.ljust(36)} {res.ljust(30)} cases {cases.ljust(12)} {t['seconds']}s")
            for c in t["failed_cases"]:
                say(f"      failed: {c}")
            if t["rc"] != "0":
                problems.append(f"{label}: {name} {res}")
        try:
            excl = [l.split(" ", 2) for l in open(os.path.join(a.out, f"exclusions-{label}.txt"))
                    if l.strip()]
        except OSError:
            excl = []
        for test, pattern, reason in excl:
            say(f"    excluded: {test} {pattern}: {reason.strip()}")
    say("")

    # ---- kernel features, as detected ----
    feats = []
    for _, r in kernels:
        for f in r["features"]:
            if f not in feats:
                feats.append(f)
    say("Kernel features (detected in each kernel)")
    fw = max([len(f) for f in feats] + [10]) + 1
    say("  " + "".ljust(fw) + "".join(label.ljust(8) for label, _ in kernels))
    for f in feats:
        say("  " + f.ljust(fw) + "".join(
            {True: "yes", False: "no", None: "?"}[r["features"].get(f)].ljust(8)
            for _, r in kernels))
    say("")

    # ---- --check against the tests ----
    say("leaf-host --check against the tests")
    for label, r in kernels:
        status = plugin_status(r["checks"].get("default"))
        rc = r["checks"].get("default", {}).get("rc")
        notes = []
        for plugin in plugins:
            st, err = status.get(plugin, ("absent", ""))
            v = verdict[(label, plugin)]
            # "core": tests of leaf-host's own runtime, no plugin for --check to report.
            if v == "-" or plugin == "core":
                continue
            if st == "ok" and v == "pass":
                notes.append(f"{plugin}: agree (runs, tests pass)")
            elif st != "ok" and v != "pass":
                notes.append(f"{plugin}: agree (check: {st}; tests {v})")
            else:
                notes.append(f"{plugin}: DISAGREE (check: {st} {err}; tests {v})")
                problems.append(f"{label}: --check says {plugin} {st}, its tests {v}")
        say(f"  {label}: --check exit {rc}; " + "; ".join(notes))
        with open(os.path.join(a.out, f"check-{label}.txt"), "w") as f:
            f.write(f"# leaf-host --check on {r['kernel']}\n" + "\n".join(r["check_text"]) + "\n")
            for variant, skip, _ in VARIANTS:
                c = r["checks"].get(variant)
                f.write(f"# --check-json, hooks.skip = [{skip}]: exit {c['rc'] if c else '?'}\n")
                f.write((c["raw"] if c else "") + "\n")
            if r["check_log"]:
                f.write("# leaf-host --check --log-level debug (libbpf, verifier)\n")
                f.write("\n".join(r["check_log"]) + "\n")
    say("")
    say(f"matrix time: {a.elapsed}s")
    if notes_flaky:
        say("RETRIED (not failures, but not clean either):")
        for n in notes_flaky:
            say(f"  - {n}")
    if problems:
        say("PROBLEMS:")
        for p in problems:
            say(f"  - {p}")
    else:
        say("every kernel: every test passed, --check agrees")

    text = "\n".join(lines) + "\n"
    sys.stdout.write(failure_digest(kernels, problems))
    sys.stdout.write(text)
    for label, r in kernels:
        for name, t in r["tests"].items():
            if t.get("output_tail"):
                sys.stdout.write(f"\n--- {label}: {name}: last lines of its output ---\n")
                sys.stdout.write("\n".join(t["output_tail"]) + "\n")
    with open(os.path.join(a.out, "matrix.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "matrix.json"), "w") as f:
        json.dump({"elapsed_s": a.elapsed, "problems": problems, "retried": notes_flaky,
                   "kernels": [{"label": label, **{k: v for k, v in r.items()
                                                   if k not in ("check_text", "check_log")}}
                               for label, r in kernels]}, f, indent=1)
    return 1 if problems or not kernels else 0


if __name__ == "__main__":
    sys.exit(main())
