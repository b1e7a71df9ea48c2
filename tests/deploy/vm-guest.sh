#!/bin/bash
# Runs inside the Debian 12 guest (tests/deploy/vm-test.sh), as a oneshot
# unit once systemd is up: installs the leaf package with apt from the local
# file and exercises the service the way an operator would. Every finding
# goes to the second serial port as "@@VM <key> <value>" lines, read back and
# judged by vm-test.sh; the unit powers the guest off when this ends.
set -u
out=/dev/ttyS1
say() { echo "@@VM $*" >"$out"; echo "@@VM $*"; }
t0=$(date +%s)
elapsed() { echo $(($(date +%s) - t0)); }
journal() { journalctl -u leaf.service -o cat --no-pager 2>/dev/null; }
# The service's stdout (events, JSON lines) and stderr (its log) both go to
# the journal: log checks must not match events (whose command lines, such
# as this script's greps, can hold the very words).
logs() { journal | grep -v '^{'; }
events() { journal | grep '^{'; }
has_event() {  # <event type> <pid>
  events | grep "\"type\":\"$1\"" | grep -q "\"pid\":$2,"
}
state() {  # ActiveState Result ExecMainStatus NRestarts of leaf.service
  local p
  for p in ActiveState Result ExecMainStatus NRestarts; do
    printf '%s ' "$(systemctl show -p $p --value leaf.service)"
  done
}
# wait_for <seconds> <command...>: polls once a second until it succeeds.
wait_for() {
  local n=$1
  shift
  while [ "$n" -gt 0 ]; do
    "$@" && return 0
    sleep 1
    n=$((n - 1))
  done
  return 1
}
main_pid() { systemctl show -p MainPID --value leaf.service; }
http_get() {  # <path>: the response of leaf-host's metrics server
  exec 3<>/dev/tcp/127.0.0.1/9464 || return 1
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&3
  timeout 10 cat <&3
  exec 3<&-
}
# A process with a known pid and comm; echo its pid. It must exec (the probe
# reports exec events), so: a copy of sleep under the given name.
marker() {
  cp /bin/sleep "/tmp/$1"
  "/tmp/$1" 0.2 &
  echo $!
  wait $! 2>/dev/null
}
running() { logs | grep -q 'leaf-host running'; }

say kernel "$(uname -r)"
say unpriv-bpf "$(cat /proc/sys/kernel/unprivileged_bpf_disabled)"
say systemd "$(systemctl --version | head -1)"
deb=$(ls /root/debs/leaf_*.deb)
# --- install from the local file, with apt (the dependencies are in the root) ---
# (No network in the guest: apt finds every dependency installed.)
if apt-get install -y "$deb" >/tmp/apt.log 2>&1; then
  say install ok "$(elapsed)"
else
  say install failed
  sed 's/^/@@VM apt-log /' /tmp/apt.log | tail -20 >"$out"
  exit 1
fi
say unit-state "$(systemctl is-enabled leaf.service 2>&1) $(systemctl is-active leaf.service 2>&1)"

# --- the service started by the package runs ---
if wait_for 240 running; then
  say running yes "$(elapsed)"
else
  say running no
fi
pid=$(main_pid)
say pid "$pid"
if [ -n "$pid" ] && [ "$pid" != 0 ]; then
  say caps "$(grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/"$pid"/status | tr -s '\t ' ' ' | tr '\n' ' ')"
  say nonewprivs "$(awk '/^NoNewPrivs:/ {print $2}' /proc/"$pid"/status)"
  say uid "$(awk '/^Uid:/ {print $2, $3, $4, $5}' /proc/"$pid"/status)"
fi
logs | grep -E 'attached via|not running|error|warn' | head -40 | sed 's/^/@@VM journal /' >"$out"

# --- real events: a process of ours, by pid and comm ---
p=$(marker leafvmmark)
if wait_for 60 has_event process_exec "$p"; then
  say event yes "$p" "$(events | grep "\"pid\":$p," | head -1)"
else
  say event no "$p"
fi
say healthz "$(http_get /healthz | head -1 | tr -d '\r')"
say metrics-lines "$(http_get /metrics | grep -c '^leaf_')"

# --- the service's own figures, idle: RSS and CPU over 20 s ---
if [ -n "$pid" ] && [ "$pid" != 0 ]; then
  tck=$(getconf CLK_TCK)
  c0=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
  sleep 20
  c1=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
  say idle "rss_kb=$(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status)" \
    "cpu_pct=$(awk -v a="$c0" -v b="$c1" -v t="$tck" 'BEGIN {printf "%.2f", (b - a) / t / 20 * 100}')"
fi

# --- systemctl reload: a filter change reaches the kernel ---
conf=/etc/leaf/conf.d/process.toml
sed -i 's/^drop_comms = \[\]/drop_comms = ["leafvmdrop"]/' "$conf"
grep -q 'leafvmdrop' "$conf" || say reload-edit failed
before=$(logs | grep -c 'SIGHUP: configuration reloaded')
systemctl reload leaf.service
reloaded() { [ "$(logs | grep -c 'SIGHUP: configuration reloaded')" -gt "$before" ]; }
if wait_for 60 reloaded; then
  say reload yes "$(logs | grep 'SIGHUP: plugin process' | tail -1)"
else
  say reload no
fi
say pid-after-reload "$(main_pid)"
dropped=$(marker leafvmdrop)
kept=$(marker leafvmkeep)
if wait_for 60 has_event process_exec "$kept"; then
  say filter-kept yes "$kept"
else
  say filter-kept no "$kept"
fi
say filter-dropped "$(events | grep '"process_exec"' | grep -c "\"pid\":$dropped,")" "$dropped"

# --- systemctl stop: clean ---
systemctl stop leaf.service
say stop "$(state)"
say stop-log "$(logs | grep -E 'leaf-host stopped' | tail -1)"

# --- a kernel without BTF: one line, and no restart loop ---
mount -t tmpfs -o size=1M tmpfs /sys/kernel/btf
systemctl reset-failed leaf.service 2>/dev/null
systemctl start leaf.service
failed() { [ "$(systemctl show -p ActiveState --value leaf.service)" = failed ]; }
wait_for 60 failed
sleep 8  # longer than RestartSec: a restart would show
say nobtf "$(state)"
say nobtf-log "$(logs | grep 'lacks what Leaf needs' | tail -1)"
say nobtf-lines "$(logs | sed -n '/lacks what Leaf needs/,$p' | grep -c -E ' (error|critical) ')"
umount /sys/kernel/btf
say done "$(elapsed)"
