#!/usr/bin/env bash
# A Debian 12 root file system made by mmdebstrap, cached under
# $LEAF_ROOTFS_CACHE (default /var/cache/leaf-rootfs), keyed by a hash of
# this script, the format and the packages: built once, reused after.
#
#   path=$(bash tests/deploy/debian-rootfs.sh tar  [pkg,pkg...])  # podman import
#   path=$(bash tests/deploy/debian-rootfs.sh cpio [pkg,pkg...])  # qemu initramfs (gzip'd newc)
#
# tar: --variant=minbase, the packages added (a container base image).
# cpio: minbase with systemd as init (systemd-sysv, dbus) and the packages
# added, booted as an initramfs (rdinit=/sbin/init): the serial getty is
# masked (no udev: it would wait 90 s for its device).
# Prints the path; exit 1 with the reason when mmdebstrap fails.
set -euo pipefail
format=$1
extra=${2:-}
cache=${LEAF_ROOTFS_CACHE:-/var/cache/leaf-rootfs}
command -v mmdebstrap >/dev/null || { echo "debian-rootfs: mmdebstrap not found" >&2; exit 1; }
include=$extra
[ "$format" = cpio ] && include="systemd-sysv,dbus,mount${extra:+,$extra}"
include=$(echo "$include" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)
key=$( (cat "$0"; echo "$format $include") | sha256sum | cut -c1-16)
case $format in
  tar) out=$cache/bookworm-minbase-$key.tar ;;
  cpio) out=$cache/bookworm-systemd-$key.cpio.gz ;;
  *) echo "debian-rootfs: format is tar or cpio" >&2; exit 2 ;;
esac
if [ -s "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -s "$out" ]; then echo "$out"; exit 0; fi
tmp=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/mmdebstrap.log
opts=(--variant=minbase --mode=root --quiet ${include:+--include="$include"})
if [ "$format" = tar ]; then
  # Slim like debian:12-slim: no manuals, documentation (but copyrights) or
  # translations, no apt lists or caches.
  mmdebstrap "${opts[@]}" --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$tmp/rootfs.tar" >"$log" 2>&1 ||
    { tail -20 "$log" >&2; echo "debian-rootfs: mmdebstrap failed" >&2; exit 1; }
  mv "$tmp/rootfs.tar" "$out"
else
  mmdebstrap "${opts[@]}" \
    --customize-hook='chroot "$1" systemctl mask serial-getty@ttyS0.service getty@tty1.service' \
    --customize-hook='echo leaf-vm >"$1/etc/hostname"' \
    --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*_Packages' \
    bookworm "$tmp/root" >"$log" 2>&1 ||
    { tail -20 "$log" >&2; echo "debian-rootfs: mmdebstrap failed" >&2; exit 1; }
  (cd "$tmp/root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$tmp/root.cpio.gz"
  mv "$tmp/root.cpio.gz" "$out"
fi
echo "$out"
