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
for f in tcp_set_state tcp_connect inet_csk_accept; do
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
check() {  # <variant> <skip list, TOML>
  mkdir -p "$work/conf-$1"
  for p in $PLUGINS; do
    name=$(basename "$p" .so)
    name=${name#leaf_}
    printf '[hooks]\nskip = [%s]\n' "$2" >"$work/conf-$1/$name.toml"
  done
  out=$("$LEAF_HOST" --check-json --log-level error --plugins-dir "$work/plugins" \
    --config "$work/conf-$1" 2>"$work/check-$1.err")
  rc=$?
  say check "$1" "$rc" "$(echo "$out" | tr -d '\n')"
  if [ "$1" = default ]; then
    say check-text-begin
    "$LEAF_HOST" --check --log-level error --plugins-dir "$work/plugins" --config "$work/conf-$1" 2>&1
    say check-text-end
    # With libbpf's messages (the verifier's log of a refused program).
    if [ "$rc" -ne 0 ]; then
      say check-log-begin
      "$LEAF_HOST" --check --log-level debug --plugins-dir "$work/plugins" \
        --config "$work/conf-$1" 2>&1 | grep -v '^$' | tail -n 3000
      say check-log-end
    fi
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
  timeout -s KILL "$limit" "$bin" -d --no-colors=true $args 2>&1
  rc=$?
  say test "$name" "$rc" $(($(date +%s) - start))
done
rm -rf "$work"
say end "$(date +%s)"
