#!/bin/bash
# Runs inside the Debian 12 guest instead of vm-guest.sh (vm-test.sh
# --discover-caps): which capabilities does leaf-host need on this kernel?
# Installs the package, stops the service, then runs `leaf-host --check`
# under systemd-run with the unit's sandboxing and capability bounding set
# plus, in turn, each candidate capability; reports per run which probes
# attach ("@@VM caps <set> <probe>=<hook>...") and, for the base set, the
# libbpf/verifier messages of every probe that fails.
set -u
out=/dev/ttyS1
say() { echo "@@VM $*" >"$out"; }
say kernel "$(uname -r)"
apt-get install -y /root/debs/leaf_*.deb >/tmp/apt.log 2>&1 || { say install failed; exit 1; }
systemctl stop leaf.service
base=$(systemctl show -p CapabilityBoundingSet --value leaf.service)
say unit-caps "$base"
props=()
for p in NoNewPrivileges ProtectSystem ProtectHome PrivateTmp PrivateDevices ProtectKernelTunables \
  ProtectKernelModules ProtectKernelLogs ProtectControlGroups LimitMEMLOCK; do
  v=$(systemctl show -p $p --value leaf.service)
  [ -n "$v" ] && props+=(-p "$p=$v")
done
check() {  # <extra capability or ->
  local caps=$base
  [ "$1" != - ] && caps="$caps $1"
  systemd-run --quiet --wait --pipe --collect "${props[@]}" -p "CapabilityBoundingSet=$caps" \
    /usr/bin/leaf-host --check --log-level "$2" 2>&1
}
for extra in - CAP_SYS_RESOURCE CAP_SYS_ADMIN CAP_NET_ADMIN CAP_SYS_PTRACE CAP_IPC_LOCK CAP_SYSLOG; do
  res=$(check "$extra" error | grep -E '^  probe |^check ' | sed 's/^  probe //; s/: attached via /=/' | tr '\n' ' ')
  say caps "+$extra" "$res"
done
check - debug >/tmp/check-debug.txt
grep -n -i -E 'permission|not permitted|EPERM|EACCES|libbpf: .*(error|fail)' /tmp/check-debug.txt | head -60 |
  sed 's/^/@@VM debug /' >"$out"
say done
