#!/bin/sh
# The network plugin's workload overhead on each hook path, in one guest boot
# (run by bench/kernel-guest/run.sh; POSIX sh, $BUILD set):
#   default   the hooks leaf-host chooses (fentry/fexit where the kernel has
#             them: what a distribution kernel runs);
#   skip      [hooks] skip = [SKIP] (default "fentry", "kprobe": the
#             tracepoint path of a kernel without fentry and kprobes, such
#             as the development VM's).
# First `leaf-host --check` under both configurations (the hook each network
# probe attached with: proof that the path switched), then, as PARTS asks:
#   udp     bench_traffic --only udp: UDP flood and one-thread sendto+recvfrom
#           pairs, without Leaf / default / skip / without, rotating, with the
#           A/A line and the BPF run-time statistics of both paths;
#   storm   bench_network: connect/close storm, default and skip, each between
#           two storms without Leaf, with BPF statistics per path;
#   stream  bench_traffic --only stream (loopback TCP).
#
#   sh hook-paths.sh [--rounds R] [--seconds S] [--connections N]
#                    [--parts udp,storm,stream] [--skip '"fentry", "kprobe"']
#                    [--toml 'KEY = VALUE']   (more network.toml keys, both
#                                              configurations; e.g. events)
#                    [--floor fentry,traced]  (bench_traffic's empty-program
#                                              phases on the UDP hooks)
rounds=8
seconds=2
connections=5000
parts=udp,storm
skip='"fentry", "kprobe"'
toml=''
floor=fentry,traced
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2 ;;
    --seconds) seconds=$2 ;;
    --connections) connections=$2 ;;
    --parts) parts=$2 ;;
    --skip) skip=$2 ;;
    --toml) toml=$2 ;;
    --floor) floor=$2 ;;
    *) echo "hook-paths: unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
host=$BUILD/core/leaf-host
bench=$BUILD/bench/network
alt=$(printf '%s\n[hooks]\nskip = [%s]' "$toml" "$skip")
work=$(mktemp -d /tmp/hook-paths.XXXXXX)
mkdir -p "$work/plugins" "$work/conf-default" "$work/conf-skip"
ln -s "$BUILD/plugins/leaf_network.so" "$work/plugins/"
printf '%s\n' "$toml" >"$work/conf-default/network.toml"
printf '%s\n' "$alt" >"$work/conf-skip/network.toml"
rc=0
for c in default skip; do
  echo "== leaf-host --check, network.toml: $(tr '\n' ' ' <"$work/conf-$c/network.toml")"
  "$host" --check --log-level error --plugins-dir "$work/plugins" --config "$work/conf-$c" 2>&1 |
    grep -E 'probe (tcp|udp)_'
done
case ",$parts," in *,udp,*)
  echo "== bench_traffic udp: plugin = default hooks $toml, compare = $alt"
  "$bench/bench_traffic" --only udp --seconds "$seconds" --rounds "$rounds" \
    --network-toml "$toml" --compare-toml "$alt" --floor "$floor" || rc=1 ;;
esac
case ",$parts," in *,storm,*)
  echo "== bench_network: network-toml = default hooks $toml, compare-toml = $alt"
  "$bench/bench_network" --connections "$connections" --rounds "$rounds" \
    --network-toml "$toml" --compare-toml "$alt" || rc=1 ;;
esac
case ",$parts," in *,stream,*)
  echo "== bench_traffic stream: plugin = default hooks $toml, compare = $alt"
  "$bench/bench_traffic" --only stream --seconds "$seconds" --rounds "$rounds" \
    --network-toml "$toml" --compare-toml "$alt" || rc=1 ;;
esac
rm -rf "$work"
exit $rc
