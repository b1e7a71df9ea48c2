#!/usr/bin/env bash
# Runs a benchmark inside a kernel-matrix guest: one of Debian's cloud kernels
# (tests/kernel-matrix/kernels.conf: 5.10, 6.1, 6.12) booted under qemu from
# the matrix's initramfs, where fentry, fexit and kprobes attach (this
# machine's own kernel has tracepoints only).
#
#   bash bench/kernel-guest/run.sh [--build-dir DIR] [--kernel 6.12] [--out FILE]
#        [--timeout S] [--memory MB] [--smp N] [--icount SHIFT] [--bin PATH]... [--copy FILE]...
#        -- <command> [args...]
#
# The initramfs (tests/kernel-matrix/make-initramfs.sh) holds leaf-host, the
# network plugin, bench_traffic and bench_network at their build-tree paths
# (the benchmarks embed them), any --bin ELF file, and each --copy file in
# /matrix/. In the guest, <command> runs from /tmp under /bin/sh with BUILD
# set to the build directory; its output is written to the guest's second
# serial port: FILE (default <build>/kernel-guest/<kernel>-<UTC time>.txt),
# shown as it comes. The guest's console is FILE.console.
# Exit: the command's exit status; 1 when the guest did not finish (timeout,
# default 3600 s); 77 when qemu, busybox-static or the kernel cannot be had.
#
# Under TCG (no usable KVM: the usual case here) the guest's two vCPUs take
# turns on one host thread and every instruction is emulated: figures are
# ratios between variants measured in the same boot, never hardware timings.
# The guest's clock follows the host's, so other work on the host inflates
# whatever phase it lands on; --icount SHIFT instead makes guest time
# instructions x 2^SHIFT ns (qemu -icount): the host's load no longer moves
# it, and a ratio becomes one of instructions executed (a cache miss costs
# what any instruction does: a different distortion, stated with the figures).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
matrix=$root/tests/kernel-matrix
build=$root/build
kernel=6.12
out=""
limit=3600
memory=2048
smp=2
icount=""
bins=()
copies=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$(cd "$2" && pwd); shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --icount) icount=$2; shift 2 ;;
    --bin) bins+=("$(realpath "$2")"); shift 2 ;;
    --copy) copies+=("$2"); shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "kernel-guest: unknown argument $1 (the command goes after --)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "kernel-guest: no command (after --)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "kernel-guest: needs root (BPF in the guest; the kernel cache)" >&2; exit 77; }
for tool in qemu-system-x86_64 cpio strip ldd timeout; do
  command -v $tool >/dev/null || { echo "kernel-guest: $tool not found (scripts/install-deps.sh)" >&2; exit 77; }
done
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
  echo "kernel-guest: a static /bin/busybox (busybox-static) is needed" >&2
  exit 77
fi
kdir=$(bash "$matrix/fetch-kernel.sh" "$kernel") || exit 77

for f in core/leaf-host plugins/leaf_network.so bench/network/bench_traffic \
  bench/network/bench_network; do
  [ -f "$build/$f" ] || { echo "kernel-guest: $build/$f not built" >&2; exit 2; }
  bins+=("$build/$f")
done
work=$build/kernel-guest/work-$kernel
stamp=$(date -u +%Y%m%dT%H%M%SZ)
[ -n "$out" ] || out=$build/kernel-guest/$kernel-$stamp.txt
mkdir -p "$(dirname "$out")"
rm -rf "$work" && mkdir -p "$work/extra/matrix"
bash "$matrix/make-initramfs.sh" "$work/rootfs" "$work/common.cpio" "${bins[@]}"
for f in "${copies[@]}"; do cp "$f" "$work/extra/matrix/"; done
# The quoted command: POSIX sh in the guest (dash), each argument in single quotes.
cmd=""
for a in "$@"; do cmd="$cmd '${a//\'/\'\\\'\'}'"; done
printf '%s\n' "$cmd" >"$work/extra/matrix/command.txt"
cat >"$work/extra/matrix/bench.sh" <<EOF
echo "@@LEAF kernel \$(uname -r)"
echo "@@LEAF cpus \$(nproc)"
echo "@@LEAF command\$(cat /matrix/command.txt)"
export BUILD='$build'
cd /tmp
$cmd
echo "@@LEAF bench-exit \$?"
EOF
(cd "$work/extra" && find . -print0 | cpio --null -o -H newc --quiet) >"$work/extra.cpio"
cat "$work/common.cpio" "$work/extra.cpio" >"$work/initrd.cpio"
rm -rf "$work/rootfs" "$work/common.cpio" "$work/extra.cpio"

# The matrix's choice of accelerator (run-matrix.sh: why single-threaded TCG).
# shellcheck disable=SC2054  # qemu option values, not array elements
accel=(-accel tcg,thread=single -cpu max)
accel_name="TCG (single-threaded)"
if [ -n "$icount" ]; then
  # Deterministic guest time: the virtual clock advances 2^SHIFT ns per
  # emulated instruction, whatever else the host runs (single-threaded TCG).
  accel=(-accel tcg -cpu max -icount "shift=$icount,sleep=on")
  accel_name="TCG with -icount shift=$icount (guest time = instructions x $((1 << icount)) ns)"
elif [ -w /dev/kvm ] && (timeout -k 5 60 qemu-system-x86_64 -accel kvm -cpu host -m 256 \
  -nodefaults -no-user-config -display none -no-reboot -kernel "$kdir/vmlinuz" \
  -append "panic=-1 console=ttyS0" -serial none </dev/null >/dev/null 2>&1; exit $?) 2>/dev/null; then
  accel=(-accel kvm -cpu host)
  accel_name=KVM
fi
echo "kernel-guest: $kernel ($kdir) under qemu $accel_name, $smp vCPUs, $memory MB; output $out"
: >"$out.raw"
timeout --kill-after=15 "$limit" qemu-system-x86_64 "${accel[@]}" \
  -smp "$smp" -m "$memory" -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$kdir/vmlinuz" -initrd "$work/initrd.cpio" \
  -append "console=ttyS0 rdinit=/init panic=-1 loglevel=5 nokaslr" \
  -chardev "file,id=con,path=$out.console" -serial chardev:con \
  -chardev "file,id=res,path=$out.raw" -serial chardev:res </dev/null >"$work/qemu.log" 2>&1 &
qpid=$!
tail -n +1 -f --pid=$qpid "$out.raw" | tr -d '\r' || true
set +e
wait $qpid
rc=$?
set -e
{ echo "@@LEAF accel $accel_name, $smp vCPUs"; tr -d '\r' <"$out.raw"; } >"$out"
rm -f "$out.raw" "$work/initrd.cpio"
if [ $rc -ne 0 ]; then
  echo "kernel-guest: qemu ended with $rc (124: the ${limit}s limit): $(tail -3 "$work/qemu.log")" >&2
  exit 1
fi
status=$(sed -n 's/^@@LEAF bench-exit //p' "$out" | tail -1)
[ -n "$status" ] || { echo "kernel-guest: the command did not finish (console: $out.console)" >&2; exit 1; }
exit "$status"
