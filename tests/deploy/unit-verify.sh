#!/usr/bin/env bash
# systemd-analyze verify of leaf.service as the package installs it: the
# package's files unpacked into a scratch directory; ExecStart runs the
# packaged binary.
#   bash tests/deploy/unit-verify.sh <build dir>
set -euo pipefail
build=$1
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not found" >&2; exit 77; }
deb=$(ls "$build"/packages/leaf_*_amd64.deb | head -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/root"
unit=$tmp/root/lib/systemd/system/leaf.service
[ -f "$unit" ] || { echo "FAIL: the package has no /lib/systemd/system/leaf.service" >&2; exit 1; }
# The unit's executables must be where the package puts them.
for exe in $(sed -n 's/^Exec[A-Za-z]*=\([^ ]*\).*/\1/p' "$unit"); do
  [ -x "$tmp/root$exe" ] || [ -x "$exe" ] || { echo "FAIL: $exe is not in the package" >&2; exit 1; }
done
# Verified on this machine's systemd, as a copy whose leaf-host paths point
# into the unpacked package (the rest of the unit unchanged).
mkdir -p "$tmp/unit"
sed "s|/usr/bin/leaf-host|$tmp/root/usr/bin/leaf-host|g" "$unit" >"$tmp/unit/leaf.service"
set +e
SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$tmp/unit/leaf.service" >"$tmp/verify.txt" 2>&1
rc=$?
set -e
cat "$tmp/verify.txt"
[ $rc -eq 0 ] || { echo "FAIL: systemd-analyze verify exited $rc" >&2; exit 1; }
# verify exits 0 on some findings it only prints: any line about our unit fails.
if grep -i 'leaf.service' "$tmp/verify.txt"; then
  echo "FAIL: systemd-analyze verify reports the lines above" >&2
  exit 1
fi
echo "systemd-analyze verify: leaf.service OK"
