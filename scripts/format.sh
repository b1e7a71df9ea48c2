#!/usr/bin/env bash
# clang-format over the tracked C and C++ sources, in place, or with --check
# only report the files that differ (exit 1). Two styles:
#   - BPF side: *.bpf.c, *.bpf.h and the record headers they include (shared
#     with user space) in kernel style, bpf/.clang-format (tabs, as libbpf
#     and the kernel's samples are written);
#   - everything else: the root .clang-format (Google, 100 columns).
# tests/abi/frozen-* are frozen copies of released headers: never touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
check=0
[ "${1:-}" = "--check" ] && check=1
command -v clang-format >/dev/null || { echo "format.sh: clang-format is not installed" >&2; exit 2; }
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "format.sh: $root is not a git checkout (the files to format are the tracked ones)" >&2
  exit 77
fi

mapfile -t all < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' | grep -v '^tests/abi/frozen-')
mapfile -t bpf_sources < <(git ls-files '*.bpf.c' '*.bpf.h')
declare -A is_bpf=()
for f in "${bpf_sources[@]}"; do
  is_bpf[$f]=1
  # Quoted includes resolve next to the file or in bpf/ (the BPF include path).
  while read -r h; do
    for c in "$(dirname "$f")/$h" "bpf/$h"; do
      if [ -f "$c" ]; then is_bpf[$(realpath --relative-to=. "$c")]=1; break; fi
    done
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done

bad=0
for f in "${all[@]}"; do
  style=file
  [ -n "${is_bpf[$f]:-}" ] && style=file:bpf/.clang-format
  if [ $check = 1 ]; then
    if ! clang-format --style="$style" "$f" | cmp -s - "$f"; then
      echo "format.sh: $f is not formatted (style ${style#file:}); run scripts/format.sh"
      bad=1
    fi
  else
    clang-format --style="$style" -i "$f"
  fi
done
exit $bad
