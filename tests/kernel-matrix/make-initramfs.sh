#!/usr/bin/env bash
# The guests' common initramfs (one cpio): static busybox, guest-init.sh as
# /init, kernel-run.sh in /matrix, iproute2's ip, dash as /bin/sh, and the
# given ELF files (leaf-host, plugins, test or bench binaries) at their
# absolute paths (the binaries embed them), debug info stripped, with every
# library ldd names. Used by run-matrix.sh and bench/kernel-guest/run.sh;
# each appends a second cpio with what one boot needs (/matrix/plan, veth.ko,
# a bench script).
#
#   make-initramfs.sh <work dir> <out.cpio> <ELF file>...
#
# <work dir> is emptied and holds the root file system tree afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: make-initramfs.sh <work dir> <out.cpio> <ELF file>..." >&2; exit 2; }
rootfs=$1
cpio_out=$2
shift 2
busybox=/bin/busybox
rm -rf "$rootfs"
mkdir -p "$rootfs"/{bin,usr/lib,usr/lib64,usr/sbin,matrix,proc,sys,dev,tmp,run,root}
ln -s usr/lib "$rootfs/lib"
ln -s usr/lib64 "$rootfs/lib64"
ln -s ../bin "$rootfs/usr/bin"
ln -s ../usr/sbin "$rootfs/sbin"
cp $busybox "$rootfs/bin/busybox"
for applet in $($busybox --list); do
  [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
# iproute2's ip (netns, veth: the tests' popen) instead of busybox's, and
# dash as /bin/sh: busybox's static sh runs its own applets before PATH.
rm -f "$rootfs/bin/ip" "$rootfs/bin/sh"
elf_files=("$@" /usr/sbin/ip /bin/dash)
for f in "${elf_files[@]}"; do
  mkdir -p "$rootfs$(dirname "$f")"
  strip --strip-debug -o "$rootfs$f" "$f"
done
libs=$rootfs/../libs.txt
ldd "${elf_files[@]}" 2>/dev/null | grep -o '/[^ ]*' | sort -u >"$libs"
echo /lib/x86_64-linux-gnu/libgcc_s.so.1 >>"$libs"  # pthread_cancel unwinds through it
mv "$rootfs/bin/dash" "$rootfs/bin/sh"
while read -r lib; do
  [ -f "$lib" ] || continue
  mkdir -p "$rootfs$(dirname "$lib")"
  [ -e "$rootfs$lib" ] || cp -L "$lib" "$rootfs$lib"
done <"$libs"
cp "$here/guest-init.sh" "$rootfs/init"
cp "$here/kernel-run.sh" "$rootfs/matrix/"
chmod +x "$rootfs/init"
(cd "$rootfs" && find . -print0 | cpio --null -o -H newc --quiet) >"$cpio_out"
