#!/usr/bin/env bash
# Builds Leaf's Debian packages from the normal build (CPack DEB):
#   build/packages/leaf_<v>_amd64.deb, leaf-dev_<v>_all.deb, leaf-mock-kafka_<v>_amd64.deb
# The build is configured for prefix /usr (the paths compiled into leaf-host
# are the installed ones) and built if needed; dependencies come from
# dpkg-shlibdeps. Then lintian runs on the packages (its report goes to
# build/packages/lintian.txt; errors fail the script, warnings are listed).
#
#   bash scripts/package.sh [--no-lintian]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LEAF_BUILD_DIR:-$root/build}
lintian=1
[ "${1:-}" = --no-lintian ] && lintian=0

prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
if [ "$prefix" != /usr ]; then
  # A build configured earlier for another prefix: only install_paths.cpp
  # and the unit change.
  cmake -S "$root" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
fi
targets=(leaf-host leaf-mock-kafka leaf_sdk_testing)
# The manual pages, when help2man was there at configure time.
grep -q /leaf_manpages.dir "$build/CMakeFiles/TargetDirectories.txt" && targets+=(leaf_manpages)
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" \
  $(cd "$root/plugins" && for d in */; do [ -f "$d/CMakeLists.txt" ] && echo "leaf_${d%/}"; done)
rm -rf "$build/packages"
(cd "$build" && cpack -G DEB -C RelWithDebInfo >"$build/cpack.log" 2>&1) || {
  cat "$build/cpack.log" >&2
  echo "package: cpack failed" >&2
  exit 1
}
ls "$build"/packages/*.deb
if [ $lintian = 1 ]; then
  if ! command -v lintian >/dev/null; then
    echo "package: lintian not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
  # --suppress-tags: none; everything it says is in the report.
  set +e
  lintian --no-tag-display-limit --info "$build"/packages/*.deb >"$build/packages/lintian.txt" 2>&1
  rc=$?
  set -e
  grep -E '^[EWI]: ' "$build/packages/lintian.txt" | cut -d' ' -f1-3 | sort | uniq -c || true
  if grep -q '^E: ' "$build/packages/lintian.txt"; then
    echo "package: lintian reports errors (build/packages/lintian.txt)" >&2
    exit 1
  fi
  [ $rc -eq 0 ] || [ $rc -eq 2 ] || { echo "package: lintian failed ($rc)" >&2; exit 1; }
fi
