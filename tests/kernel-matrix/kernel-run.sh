#!/bin/sh
# One kernel's row of the matrix: kernel features, `leaf-host --check-json`
# under each hooks.skip level, then the BPF test binaries. Runs inside the
# guest (called by guest-init.sh, busybox sh) and on the host itself (called
# by run-matrix.sh); POSIX sh only.
#
#   kernel-run.sh <plan file>
#
# The plan file (written by run-matrix.sh) sets shell variables:
#   LEAF_HOST=<absolute path of leaf-host>
#   PLUGINS="<absolute .so paths of the probe plugins>"
#   TESTS="<name>:<timeout s>:<absolute binary path>[:<doctest filter args, ';'-separated>] ..."
#   EXCLUDE_<name>="<doctest test-case patterns, ','-separated>" (optional)
# Results go to stdout as lines starting with "@@LEAF " (everything else is
# the tests' own output), read back by report.py.
set -uf  # -f: doctest filters carry wildcards
plan=$1
. "$plan"
# Each leaf-host --check run's limit (seconds): it loads and attaches every
# plugin's programs once per hook it tries, minutes under TCG at worst.
CHECK_LIMIT=${CHECK_LIMIT:-300}

say() { echo "@@LEAF $*"; }

say kernel "$(uname -r)"
say begin "$(date +%s)"

# --- kernel features, detected here rather than assumed from the version ---
feature() { if [ -e "$2" ]; then say feature "$1" yes; else say feature "$1" no; fi; }
tracing=/sys/kernel/tracing
[ -d $tracing/events ] || tracing=/sys/kernel/debug/tracing
feature btf /sys/kernel/btf/vmlinux
feature tracefs $tracing/events
feature kprobe_events $tracing/kprobe_events
feature tp:sock:inet_sock_set_state $tracing/events/sock/inet_sock_set_state
feature tp:sock:sock_send_length $tracing/events/sock/sock_send_length
feature tp:sock:sock_recv_length $tracing/events/sock/sock_recv_length
feature tp:syscalls:sys_exit_accept4 $tracing/events/syscalls/sys_exit_accept4
feature tp:sched:sched_process_exec $tracing/events/sched/sched_process_exec
feature tp:irq:softirq_entry $tracing/events/irq/softirq_entry
# fentry needs ftrace direct calls; the ftrace function list tells whether
# the functions the network probe hooks can be traced at all.
for f in tcp_set_state tcp_connect security_sock_graft; do
  if [ -r $tracing/available_filter_functions ] &&
    grep -q "^$f\( \|$\)" $tracing/available_filter_functions 2>/dev/null; then
    say feature "traceable:$f" yes
  else
    say feature "traceable:$f" no
  fi
done

# --- leaf-host --check-json at each level of forced fallback ---
work=$(mktemp -d /tmp/leaf-matrix.XXXXXX)
mkdir -p "$work/plugins"
for p in $PLUGINS; do [ -f "$p" ] && ln -s "$p" "$work/plugins/"; done
# bounded <limit s> <label> <stdout file | -> <command...>: runs the command
# with its stdout in the file ("-": not redirected; reopening /dev/stdout
# would truncate the results file); a command still running at
# its limit is reported with what each of its threads is doing (state, wait
# channel, kernel stack) and killed, so a hang names itself instead of
# stopping the whole kernel's run. Returns the command's exit status, or 124.
bounded() {
  b_limit=$1 b_label=$2 b_out=$3
  shift 3
  if [ "$b_out" = - ]; then
    "$@" &
  else
    "$@" >"$b_out" &
  fi
  b_pid=$!
  b_waited=0
  while kill -0 "$b_pid" 2>/dev/null; do
    if [ "$b_waited" -ge "$b_limit" ]; then
      say hang "$b_label" "$b_limit"
      cat /proc/loadavg
      for t in /proc/"$b_pid"/task/*; do
        echo "thread ${t##*/} $(cat "$t/comm" 2>/dev/null):" \
          "$(grep '^State' "$t/status" 2>/dev/null)" "wchan=$(cat "$t/wchan" 2>/dev/null)" \
          "utime/stime=$(cut -d' ' -f14,15 "$t/stat" 2>/dev/null)"
        cat "$t/stack" 2>/dev/null
      done
      # In a guest: every blocked task of the kernel, on its console.
      [ -n "${LEAF_MATRIX_GUEST:-}" ] && echo w >/proc/sysrq-trigger 2>/dev/null
      say hang-end
      kill -KILL "$b_pid" 2>/dev/null
      wait "$b_pid" 2>/dev/null
      return 124
    fi
    sleep 1
    b_waited=$((b_waited + 1))
  done
  wait "$b_pid"
}

check() {  # <variant> <skip list, TOML>
  mkdir -p "$work/conf-$1"
  for p in $PLUGINS; do
    name=$(basename "$p" .so)
    name=${name#leaf_}
    printf '[hooks]\nskip = [%s]\n' "$2" >"$work/conf-$1/$name.toml"
  done
  start=$(date +%s)
  bounded "$CHECK_LIMIT" "check $1" "$work/check-$1.json" "$LEAF_HOST" --check-json \
    --log-level error --plugins-dir "$work/plugins" --config "$work/conf-$1" 2>"$work/check-$1.err"
  rc=$?
  say check "$1" "$rc" "$(tr -d '\n' <"$work/check-$1.json")"
  say check-time "$1" $(($(date +%s) - start))
  if [ "$1" = default ]; then
    say check-text-begin
    bounded "$CHECK_LIMIT" "check-text $1" - "$LEAF_HOST" --check --log-level error \
      --plugins-dir "$work/plugins" --config "$work/conf-$1" 2>&1
    say check-text-end
  fi
  # With libbpf's messages (the verifier's log of a refused program).
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
    say check-log-begin "$1"
    bounded "$CHECK_LIMIT" "check-log $1" "$work/check-$1.log" "$LEAF_HOST" --check \
      --log-level debug --plugins-dir "$work/plugins" --config "$work/conf-$1" 2>&1
    grep -v '^$' "$work/check-$1.log" | tail -n 3000
    say check-log-end
  fi
}
check default ''
check no-fentry '"fentry"'
check no-kprobe '"fentry", "kprobe"'
check no-tp_btf '"fentry", "kprobe", "tp_btf"'
check no-raw_tp '"fentry", "kprobe", "tp_btf", "raw_tp"'

# --- the BPF integration tests ---
export LEAF_REQUIRE_BPF=1
for t in $TESTS; do
  name=${t%%:*}
  rest=${t#*:}
  limit=${rest%%:*}
  rest=${rest#*:}
  bin=${rest%%:*}
  args=
  [ "$rest" != "$bin" ] && args=$(echo "${rest#*:}" | tr ';' ' ')
  # Test cases excluded on this kernel (exclusions.conf): EXCLUDE_<test>.
  eval "excluded=\${EXCLUDE_$name:-}"
  if [ -n "$excluded" ]; then
    say excluded "$name" "$excluded"
    args="$args -tce=$excluded"
  fi
  if [ ! -x "$bin" ]; then
    say test "$name" missing 0
    continue
  fi
  say test-begin "$name"
  start=$(date +%s)
  # shellcheck disable=SC2086  # the filter arguments are split on purpose
  # -d: each test case's time as it ends (progress, and where a hang is).
  bounded "$limit" "test $name" - "$bin" -d --no-colors=true $args 2>&1
  rc=$?
  say test "$name" "$rc" $(($(date +%s) - start))
done
rm -rf "$work"
say end "$(date +%s)"
