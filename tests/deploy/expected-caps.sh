#!/usr/bin/env bash
# The capabilities a running leaf-host holds after start with the shipped
# configuration, as the container and VM tests expect them:
#   expected-caps.sh <kernel release> <kernel.unprivileged_bpf_disabled> <leaf-host binary>
# prints two lines, "granted <caps>" (CapPrm and CapBnd: deploy/capabilities.txt)
# and "effective <caps>" (CapEff), lower case, comma-separated, sorted.
# Effective after the drop (keep_capabilities = "reload", the default; see
# the notes of issue 15): CAP_DAC_READ_SEARCH (enrich's open_by_handle_at),
# plus CAP_BPF on kernels before 6.1 with unprivileged BPF disabled (every
# bpf() call, also on the process's own maps, needs it there: measured on 5.10,
# not on 6.1, 6.12, 6.18 in the kernel matrix). A leaf-host
# without the drop (built before it) keeps the granted set effective.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
release=$1 unpriv=$2 binary=$3
granted=$(grep -o '^CAP_[A-Z_]*' "$here/../../deploy/capabilities.txt" | tr 'A-Z' 'a-z' | sort | paste -sd, -)
echo "granted $granted"
if ! grep -q keep_capabilities "$binary"; then
  echo "effective $granted"
  exit 0
fi
major=${release%%.*}
minor=${release#*.}
minor=${minor%%[!0-9]*}
eff=cap_dac_read_search
if [ "$unpriv" != 0 ] && { [ "$major" -lt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -lt 1 ]; }; }; then
  eff="cap_bpf,$eff"
fi
echo "effective $eff"
