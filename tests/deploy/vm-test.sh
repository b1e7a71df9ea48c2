#!/usr/bin/env bash
# The proof on a fresh Debian 12 system: Debian 12's own kernel (6.1, from
# the kernel matrix's cache) boots under qemu a Debian 12 root file system
# with systemd as init (mmdebstrap, cached: debian-rootfs.sh); the guest
# installs the leaf package with apt from the local file and checks the
# service (vm-guest.sh); this script judges what it reports:
#   - apt installs it, the package starts the service, leaf-host runs;
#   - it holds exactly the capabilities of deploy/capabilities.txt (CapEff,
#     CapPrm and CapBnd; none inheritable or ambient), NoNewPrivs 1;
#   - a process_exec event of a process of the guest (its pid) reaches the
#     journal; /healthz answers 200; /metrics serves leaf_* metrics;
#   - `systemctl reload` applies a filter change (SIGHUP, same pid) and the
#     kernel drops the filtered comm while the other one still comes;
#   - `systemctl stop` ends it cleanly (exit 0, "leaf-host stopped");
#   - with BTF hidden, the start fails with one line naming what the kernel
#     lacks, exit 3, and no restart loop.
#
#   bash tests/deploy/vm-test.sh [--build-dir DIR] [--kernel 6.1]
# Exit 0 all held; 1 a failure; 77 (skip) a prerequisite missing, a failure
# under LEAF_REQUIRE_BPF=1. Writes <build>/vm-test/: console.log, results.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${LEAF_BUILD_DIR:-$root/build}
kernel=6.1
guest=vm-guest.sh
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$(cd "$2" && pwd); shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    # Which capabilities each probe needs on this kernel (vm-caps.sh): a
    # report, not a test.
    --discover-caps) guest=vm-caps.sh; shift ;;
    # The service's RSS and CPU idle and at 10K events/s (vm-measure.sh; needs
    # the targets leaf_e2e_tick and e2e-loadgen built): a report, not a test.
    --measure) guest=vm-measure.sh; shift ;;
    *) echo "vm-test: unknown argument $1" >&2; exit 2 ;;
  esac
done
out=$build/vm-test
started=$(date +%s)
log() { echo "[vm-test +$(($(date +%s) - started))s] $*"; }
unavailable() {
  if [ "${LEAF_REQUIRE_BPF:-}" = 1 ]; then
    echo "FAIL: the VM test cannot run: $* (LEAF_REQUIRE_BPF=1 forbids skipping)" >&2
    exit 1
  fi
  echo "SKIP: the VM test cannot run: $*" >&2
  exit 77
}
[ "$(id -u)" -eq 0 ] || unavailable "needs root (mmdebstrap, the kernel cache)"
for tool in qemu-system-x86_64 cpio gzip dpkg-deb capsh mmdebstrap; do
  command -v $tool >/dev/null || unavailable "$tool not found (scripts/install-deps.sh installs it)"
done
deb=$(ls "$build"/packages/leaf_*_amd64.deb 2>/dev/null | head -1 || true)
[ -n "$deb" ] || unavailable "no leaf package in $build/packages (bash scripts/package.sh builds it)"

kdir=$(bash "$root/tests/kernel-matrix/fetch-kernel.sh" "$kernel") ||
  unavailable "Debian's $kernel kernel cannot be had"
# The root file system: systemd, and every package leaf depends on (the
# guest has no network; apt must find them installed).
depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/[(|].*//; s/ //g' | sed '/^$/d' | paste -sd, -)
log "root file system: systemd + $depends"
rootfs=$(bash "$here/debian-rootfs.sh" cpio "$depends") || unavailable "mmdebstrap failed"
log "root file system: $rootfs ($(du -m "$rootfs" | cut -f1) MB)"

# One run at a time per build directory (they share $out).
mkdir -p "$(dirname "$out")"
exec 8>"$out.lock"
flock 8
rm -rf "$out" && mkdir -p "$out/extra/root/debs" "$out/extra/etc/systemd/system/multi-user.target.wants"
cp "$deb" "$out/extra/root/debs/"
cp "$here/$guest" "$out/extra/root/vm-guest.sh"
if [ "$guest" = vm-measure.sh ]; then
  mkdir -p "$out/extra/root/bench"
  cp "$build/bench/e2e/leaf_e2e_tick.so" "$build/bench/e2e/e2e-loadgen" "$out/extra/root/bench/"
fi
cat >"$out/extra/etc/systemd/system/leaf-vm-test.service" <<'UNIT'
[Unit]
Description=Leaf VM test (tests/deploy/vm-guest.sh)
After=basic.target dbus.service
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStart=/root/vm-guest.sh
StandardOutput=journal+console
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
UNIT
ln -s ../leaf-vm-test.service "$out/extra/etc/systemd/system/multi-user.target.wants/leaf-vm-test.service"
(cd "$out/extra" && find . -print0 | cpio --null -o -H newc --quiet --owner=0:0) >"$out/extra.cpio"
# The uncompressed archive first: after a compressed one the kernel expects
# another compressed one.
cat "$out/extra.cpio" "$rootfs" >"$out/initrd.img"

# KVM when usable; otherwise single-threaded TCG (see tests/kernel-matrix/README.md).
accel=(-accel tcg,thread=single -cpu max)
if [ -w /dev/kvm ]; then
  # /dev/kvm can be there and still fail (nested virtualisation without what
  # qemu needs): a kernel booted without root panics at once (panic=-1
  # reboots, -no-reboot ends qemu with 0) when KVM works.
  if (timeout -k 5 60 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults -no-user-config \
    -display none -no-reboot -kernel "$kdir/vmlinuz" -append "panic=-1 console=ttyS0" \
    -serial none </dev/null >/dev/null 2>&1; exit $?) 2>/dev/null; then
    accel=(-accel kvm -cpu host)
  fi
fi
limit=${LEAF_VM_TIMEOUT:-900}
log "booting Debian 12 ($kernel, ${accel[1]}), limit ${limit}s"
: >"$out/results.raw"
set +e
timeout --kill-after=15 "$limit" qemu-system-x86_64 "${accel[@]}" -smp 2 -m 2048 \
  -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$kdir/vmlinuz" -initrd "$out/initrd.img" \
  -append "console=ttyS0 rdinit=/sbin/init panic=-1 loglevel=4 systemd.show_status=0" \
  -chardev "file,id=con,path=$out/console.log" -serial chardev:con \
  -chardev "file,id=res,path=$out/results.raw" -serial chardev:res </dev/null >"$out/qemu.log" 2>&1
rc=$?
set -e
rm -f "$out/initrd.img" "$out/extra.cpio"
tr -d '\r' <"$out/results.raw" | grep '^@@VM ' | sed 's/^@@VM //' >"$out/results.txt" || true
log "guest ended (qemu exit $rc) after $(($(date +%s) - started))s; results: $out/results.txt"
[ $rc -eq 0 ] || echo "vm-test: qemu exit $rc (124: timed out); console: $out/console.log" >&2

if [ "$guest" != vm-guest.sh ]; then
  cat "$out/results.txt"
  exit 0
fi
# ------------------------------------------------------------ judging ----
fail=0
get() { sed -n "s/^$1 //p" "$out/results.txt" | head -1; }
expect() {  # <what> <condition result 0|1> [detail]
  if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1${3:+: $3}"; fail=1; fi
}
has() { [[ "$1" == $2 ]] && echo 0 || echo 1; }
sed -n 's/^journal //p' "$out/results.txt" | sed 's/^/     journal: /'
expect "guest kernel is $kernel" "$(has "$(get kernel)" "$kernel.*")" "$(get kernel)"
expect "apt installs the package from the local file" "$(has "$(get install)" 'ok*')" "$(get install)"
expect "the package enables and starts leaf.service" "$(has "$(get unit-state)" 'enabled*')" "$(get unit-state)"
expect "leaf-host runs" "$(has "$(get running)" 'yes*')"

# Capabilities: the hex masks of /proc/<pid>/status against what
# expected-caps.sh derives from deploy/capabilities.txt for this kernel.
tmpx=$(mktemp -d)
dpkg-deb -x "$deb" "$tmpx"
expected=$(bash "$here/expected-caps.sh" "$(get kernel)" "$(get unpriv-bpf)" "$tmpx/usr/bin/leaf-host")
rm -rf "$tmpx"
granted=$(echo "$expected" | sed -n 's/^granted //p')
effective=$(echo "$expected" | sed -n 's/^effective //p')
caps=$(get caps)
decode() {  # <field>: the capability names of that mask, sorted
  local hex
  hex=$(echo "$caps" | grep -o "$1: [0-9a-f]*" | cut -d' ' -f2)
  [ -n "$hex" ] || { echo "?"; return; }
  capsh --decode="$hex" | sed 's/^.*=//' | tr ',' '\n' | sed '/^$/d' | sort | paste -sd, -
}
echo "     capabilities: $caps (kernel.unprivileged_bpf_disabled $(get unpriv-bpf))"
for f in CapPrm CapBnd; do
  expect "$f is exactly {$granted}" "$( [ "$(decode $f)" = "$granted" ] && echo 0 || echo 1)" "$(decode $f)"
done
expect "CapEff is exactly {$effective}" "$( [ "$(decode CapEff)" = "$effective" ] && echo 0 || echo 1)" "$(decode CapEff)"
for f in CapInh CapAmb; do
  expect "$f is empty" "$( [ "$(decode $f)" = "" ] && echo 0 || echo 1)" "$(decode $f)"
done
expect "NoNewPrivs is set" "$( [ "$(get nonewprivs)" = 1 ] && echo 0 || echo 1)"
expect "a process_exec event of a guest process (by pid) reaches the journal" "$(has "$(get event)" 'yes*')" "$(get event)"
expect "/healthz answers 200" "$(has "$(get healthz)" '*200*')" "$(get healthz)"
expect "/metrics serves leaf_* metrics" "$( [ "$(get metrics-lines)" -gt 0 ] 2>/dev/null && echo 0 || echo 1)"
expect "systemctl reload applies the filter change (SIGHUP)" "$(has "$(get reload)" 'yes*')" "$(get reload)"
expect "the same process after reload" "$( [ "$(get pid-after-reload)" = "$(get pid)" ] && echo 0 || echo 1)"
expect "an unfiltered comm still reaches the journal" "$(has "$(get filter-kept)" 'yes*')"
expect "the filtered comm is dropped in the kernel" "$(has "$(get filter-dropped)" '0 *')" "$(get filter-dropped)"
expect "systemctl stop: inactive, success, exit 0, no restart" "$(has "$(get stop)" 'inactive success 0 0*')" "$(get stop)"
expect "stop: leaf-host logs a clean shutdown" "$(has "$(get stop-log)" '*leaf-host stopped*')"
expect "without BTF: failed, exit 3, not restarted" "$(has "$(get nobtf)" 'failed exit-code 3 0*')" "$(get nobtf)"
expect "without BTF: one line says what the kernel lacks" "$(has "$(get nobtf-log)" '*lacks what Leaf needs: BTF*')" "$(get nobtf-log)"
expect "without BTF: that is the only error line" "$( [ "$(get nobtf-lines)" = 1 ] && echo 0 || echo 1)" "$(get nobtf-lines) error lines"
echo "     idle: $(get idle)"
expect "the guest test ran to its end" "$( [ -n "$(get done)" ] && echo 0 || echo 1)"
log "$( [ $fail = 0 ] && echo PASSED || echo FAILED) in $(($(date +%s) - started))s"
exit $fail
