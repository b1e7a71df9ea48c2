#!/bin/sh
# /init of the matrix's initramfs (busybox sh, PID 1): mounts what Leaf and
# its tests need, brings loopback up, loads veth, runs kernel-run.sh (or
# /matrix/bench.sh, bench/kernel-guest/run.sh) with its
# results on the second serial port (ttyS1, a file on the host), and powers
# off. Whatever happens, the guest powers off: the host's timeout is the last
# resort, not the plan.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
# Under qemu's TCG emulation everything (BPF verification first) runs several
# times slower: the tests' bounded waits are scaled (tests/support/harness.hpp).
export LEAF_TEST_TIMEOUT_SCALE=4
export LEAF_MATRIX_GUEST=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /tmp /run /var/run /sys/fs/bpf /sys/fs/cgroup
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# /tmp stays on the initramfs root (writable): a tmpfs mounted there would
# hide the build tree when the checkout itself lives under /tmp.
chmod 1777 /tmp
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
[ -f /matrix/veth.ko ] && insmod /matrix/veth.ko
hostname leaf-matrix
out=/dev/ttyS1
stty -F $out raw -echo 2>/dev/null
if [ -f /matrix/bench.sh ]; then
  # bench/kernel-guest/run.sh: a benchmark command instead of the matrix's row.
  echo "leaf-matrix guest: $(uname -r), $(nproc) CPUs, running the benchmark" >/dev/console
  /bin/sh /matrix/bench.sh >$out 2>&1
else
  echo "leaf-matrix guest: $(uname -r), $(nproc) CPUs, running the tests" >/dev/console
  /bin/sh /matrix/kernel-run.sh /matrix/plan >$out 2>&1
fi
echo "@@LEAF poweroff" >$out
sync
poweroff -f
