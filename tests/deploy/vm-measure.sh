#!/bin/bash
# Runs inside the Debian 12 guest instead of vm-guest.sh (vm-test.sh
# --measure): the installed service's resident memory and CPU, idle and
# under a steady event load. The load: bench/e2e's e2e-loadgen calling
# getppid() at RATE per second from a thread named e2e-tick, each call one
# bench_tick event of the benchmark-only probe leaf_e2e_tick, dropped into
# the plugins directory next to the packaged ones. Events go to /dev/null
# (jsonl.path) so the journal does not take the CPU. Figures as
# "@@VM measure <phase> rss_kb=.. cpu_pct=.. events=.."; a report, not a test.
set -u
out=/dev/ttyS1
say() { echo "@@VM $*" >"$out"; }
say kernel "$(uname -r)"
apt-get install -y /root/debs/leaf_*.deb >/tmp/apt.log 2>&1 || { say install failed; exit 1; }
systemctl stop leaf.service
plugins=$(ls -d /usr/lib/*/leaf/plugins)
cp /root/bench/leaf_e2e_tick.so "$plugins/"
sed -i 's|^path = "-".*|path = "/dev/null"|' /etc/leaf/conf.d/leaf.toml
systemctl start leaf.service
n=0
until journalctl -u leaf.service -o cat | grep -q 'leaf-host running' || [ $n -ge 240 ]; do sleep 1; n=$((n + 1)); done
pid=$(systemctl show -p MainPID --value leaf.service)
say pid "$pid" "$(journalctl -u leaf.service -o cat | grep -c 'attached via')" probes attached
tck=$(getconf CLK_TCK)
sample() {  # <phase> <seconds>
  local c0 c1 e0 e1
  c0=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
  e0=$(exec 3<>/dev/tcp/127.0.0.1/9464; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3 |
    awk '/^leaf_events_total/ {s += $2} END {printf "%d", s}')
  sleep "$2"
  c1=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
  e1=$(exec 3<>/dev/tcp/127.0.0.1/9464; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3 |
    awk '/^leaf_events_total/ {s += $2} END {printf "%d", s}')
  say measure "$1" "rss_kb=$(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status)" \
    "hwm_kb=$(awk '/^VmHWM:/ {print $2}' /proc/"$pid"/status)" \
    "cpu_pct=$(awk -v a="$c0" -v b="$c1" -v t="$tck" -v s="$2" 'BEGIN {printf "%.1f", (b - a) / t / s * 100}')" \
    "events_per_s=$(( (e1 - e0) / $2 ))"
}
sleep 10
sample idle 30
for rate in 10000; do
  /root/bench/e2e-loadgen tick "$rate" 50 >/tmp/loadgen.json &
  sleep 10
  sample "load-$rate" 30
  wait
  say loadgen "$(cat /tmp/loadgen.json)"
done
say cgroup-memory "$(cat /sys/fs/cgroup/system.slice/leaf.service/memory.peak 2>/dev/null || cat /sys/fs/cgroup/system.slice/leaf.service/memory.current)"
say done
