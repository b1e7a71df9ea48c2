#!/usr/bin/env python3
"""Where each BPF program's time goes, from a system-wide `perf record -g`.

BPF_ENABLE_STATS (bench_network's table) gives a program's run time; this
splits it: for every sample whose call chain holds a JITed program
(bpf_prog_<tag>_<name>), the frame the program called directly (a helper or
a map operation: htab_lru_map_update_elem, bpf_probe_read_kernel,
__bpf_ringbuf_reserve...), or "(program body)" when the sample is in the
program's own code (direct loads, inlined map lookups' callers, copies).
With --depth 2 the frame below that one is shown too ("(self)": the sample
was in the callee itself).

  perf record -a -g -o storm.data -- sleep 6      # while the workload runs
  python3 bench/common/bpf_callees.py storm.data [--programs tcp_accept,tcp_close]

The JITed programs have symbols only with net.core.bpf_jit_kallsyms = 1 (the
default when the JIT hardens nothing for root). Written here, not taken from
a package: perf report's own call-graph views fold callers, not "the frame
under one named frame", across many programs at once.
"""
import argparse
import collections
import re
import subprocess
import sys

PROG = re.compile(r"^bpf_prog_[0-9a-f]+_(\S+)")


def frames(perf_data):
    """Yields each sample's frames, innermost first, as symbol names."""
    out = subprocess.run(["perf", "script", "-i", perf_data, "-F", "ip,sym"],
                         capture_output=True, text=True, check=True).stdout
    for block in out.split("\n\n"):
        syms = []
        for line in block.splitlines():
            parts = line.split(None, 1)
            if len(parts) == 2:
                syms.append(parts[1].split("+")[0].strip())
        if syms:
            yield syms


def split(perf_data, wanted, depth):
    """{program: Counter(callee -> samples)}, for the outermost BPF frame."""
    by_prog = collections.defaultdict(collections.Counter)
    for syms in frames(perf_data):
        at = next((i for i in range(len(syms) - 1, -1, -1) if PROG.match(syms[i])), None)
        if at is None:
            continue
        name = PROG.match(syms[at]).group(1)
        if wanted and not any(w in name for w in wanted):
            continue
        below = syms[:at][::-1]  # outermost callee first
        if not below:
            callee = "(program body)"
        else:
            shown = below[:depth]
            callee = " < ".join(reversed(shown)) + (" (self)" if len(shown) < depth else "")
        by_prog[name][callee] += 1
    return by_prog


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("perf_data")
    ap.add_argument("--programs", default="", help="comma-separated name parts (default: all)")
    ap.add_argument("--depth", type=int, default=1, help="frames under the program to show")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    wanted = [p for p in a.programs.split(",") if p]
    by_prog = split(a.perf_data, wanted, a.depth)
    if not by_prog:
        sys.exit("no sample in a BPF program (net.core.bpf_jit_kallsyms = 0, or none ran)")
    for name, callees in sorted(by_prog.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(callees.values())
        print(f"{name}: {total} samples")
        for callee, n in callees.most_common(a.top):
            print(f"  {n:6d} {100.0 * n / total:5.1f}%  {callee}")


if __name__ == "__main__":
    main()
