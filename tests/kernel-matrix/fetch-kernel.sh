#!/usr/bin/env bash
# Prints the directory holding the vmlinuz of one kernel of kernels.conf
# (5.10, 6.1, 6.12), downloading and extracting its Debian package first when
# it is not cached: the same cache and private apt configuration as
# run-matrix.sh ($LEAF_KERNEL_CACHE, default /var/cache/leaf-kernels).
#
#   dir=$(bash tests/kernel-matrix/fetch-kernel.sh 6.1)   # $dir/vmlinuz
# Exit 1 (with the reason on stderr) when the package cannot be had.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${LEAF_KERNEL_CACHE:-/var/cache/leaf-kernels}
want=$1
line=$(awk -v k="$want" '$1 == k {print; exit}' "$here/kernels.conf")
[ -n "$line" ] || { echo "fetch-kernel: no kernel '$want' in kernels.conf" >&2; exit 1; }
read -r kname suite pin <<<"$line"
pkg=${pin%%=*}
ver=${pin#*=}
kdir=$cache/kernels/$kname-$ver
if [ -s "$kdir/vmlinuz" ]; then echo "$kdir"; exit 0; fi
exec 9>"$cache/.fetch.lock" 2>/dev/null || { mkdir -p "$cache"; exec 9>"$cache/.fetch.lock"; }
flock 9
if [ -s "$kdir/vmlinuz" ]; then echo "$kdir"; exit 0; fi
mkdir -p "$cache/debs" "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial"
deb="$cache/debs/${pkg}_${ver//:/%3a}_amd64.deb"
if [ ! -s "$deb" ]; then
  cat >"$cache/apt/sources.list" <<'SRC'
deb http://deb.debian.org/debian bullseye main
deb http://deb.debian.org/debian-security bullseye-security main
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
  apt_opts=(-o "Dir::Etc::sourcelist=$cache/apt/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache=$cache/apt/cache"
    -o APT::Sandbox::User=root -o Debug::NoLocking=1)
  apt-get "${apt_opts[@]}" -qq update >&2 || { echo "fetch-kernel: apt-get update failed" >&2; exit 1; }
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" -qq download "$pkg=$ver" >&2) ||
    { echo "fetch-kernel: cannot download $pkg=$ver ($suite)" >&2; exit 1; }
fi
rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp/x"
dpkg-deb -x "$deb" "$kdir.tmp/x"
cp "$kdir.tmp/x"/boot/vmlinuz-* "$kdir.tmp/vmlinuz"
rm -rf "$kdir.tmp/x" "$kdir"
mv "$kdir.tmp" "$kdir"
echo "$kdir"
