#!/usr/bin/env bash
# The container image, built from the package the build just made (no
# second compile: deploy/Dockerfile's runtime stage with --build-context
# debs=...) on a Debian 12 base image made here (mmdebstrap, podman import;
# no registry needed), run the way deploy/kubernetes/daemonset.yaml runs it:
# the same capabilities, mounts, arguments and host PID namespace, read from
# that file (daemonset_podman.py), never --privileged. Then, from the host:
#   - leaf-host runs; its /proc/<pid>/status holds exactly the capabilities
#     of deploy/capabilities.txt (none inheritable or ambient), NoNewPrivs 1;
#   - a process started on the host shows up as a process_exec event (its
#     host pid) on the container's stdout (`podman logs`, as `kubectl logs`);
#   - /healthz answers 200 and /metrics serves leaf_* on 0.0.0.0:9464 inside;
#   - podman stop (SIGTERM) ends it with exit 0 and "leaf-host stopped".
# Prints the image's size.
#
#   bash tests/deploy/container-test.sh [--build-dir DIR]
# Exit 0 all held; 1 a failure; 77 (skip) podman or the package missing, a
# failure under LEAF_REQUIRE_BPF=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${LEAF_BUILD_DIR:-$root/build}
[ "${1:-}" = --build-dir ] && build=$(cd "$2" && pwd)
out=$build/container-test
started=$(date +%s)
log() { echo "[container-test +$(($(date +%s) - started))s] $*"; }
unavailable() {
  if [ "${LEAF_REQUIRE_BPF:-}" = 1 ]; then
    echo "FAIL: the container test cannot run: $* (LEAF_REQUIRE_BPF=1 forbids skipping)" >&2
    exit 1
  fi
  echo "SKIP: the container test cannot run: $*" >&2
  exit 77
}
[ "$(id -u)" -eq 0 ] || unavailable "needs root (BPF, podman)"
for tool in podman runc mmdebstrap capsh; do
  command -v $tool >/dev/null || unavailable "$tool not found (scripts/install-deps.sh installs it)"
done
deb=$(ls "$build"/packages/leaf_*_amd64.deb 2>/dev/null | head -1 || true)
[ -n "$deb" ] || unavailable "no leaf package in $build/packages (bash scripts/package.sh builds it)"
export CONTAINERS_CONF=$here/containers.conf

# The base image: a minbase Debian 12 from mmdebstrap, imported once per
# root file system (its cache key is in the tar's name).
tar=$(bash "$here/debian-rootfs.sh" tar) || unavailable "mmdebstrap failed"
key=$(basename "$tar" .tar | sed 's/^bookworm-minbase-//')
base=localhost/leaf-test-debian:12-$key
if ! podman image exists "$base"; then
  log "importing $tar as $base"
  podman import "$tar" "$base" >/dev/null
  # Base images of earlier root file systems are not used again.
  for old in $(podman images --format '{{.Repository}}:{{.Tag}}' localhost/leaf-test-debian); do
    [ "$old" = "$base" ] || podman rmi -f "$old" >/dev/null 2>&1 || true
  done
fi

rm -rf "$out" && mkdir -p "$out/debs/debs" "$out/context" "$out/conf.d"
cp "$deb" "$out/debs/debs/"
image=localhost/leaf:test-$$
log "building the runtime image from $(basename "$deb") on $base"
# --layers=false: every run has a new package, so cached layers never help.
if ! podman build --network=host --pull=never --layers=false --build-arg BASE="$base" \
  --build-context debs="$out/debs" --target runtime -f "$root/deploy/Dockerfile" \
  -t "$image" "$out/context" >"$out/build.log" 2>&1; then
  tail -30 "$out/build.log"
  echo "FAIL: podman build" >&2
  exit 1
fi
size=$(podman image inspect --format '{{.Size}}' "$image")
base_size=$(podman image inspect --format '{{.Size}}' "$base")
log "image $image: $((size / 1024 / 1024)) MB, of which the base $((base_size / 1024 / 1024)) MB"

mapfile -t run_args < <(/usr/bin/python3 "$here/daemonset_podman.py" \
  "$root/deploy/kubernetes/daemonset.yaml" "$root/deploy/kubernetes/configmap.yaml" "$out/conf.d")
sep=0
for i in "${!run_args[@]}"; do [ "${run_args[$i]}" = -- ] && sep=$i; done
opts=("${run_args[@]:0:$sep}")
args=("${run_args[@]:$((sep + 1))}")
log "podman run ${opts[*]} $image ${args[*]}"
name=leaf-ctest-$$
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  podman rmi -f "$image" >/dev/null 2>&1 || true
}
trap cleanup EXIT
podman run -d --name "$name" --ulimit host "${opts[@]}" "$image" "${args[@]}" >/dev/null

fail=0
expect() {  # <what> <0|1> [detail]
  if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1${3:+: $3}"; fail=1; fi
}
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
# The container's stdout (events) and stderr (log), in files: greps on a pipe
# from podman would stop it early (SIGPIPE), which pipefail counts as failure.
logs() { podman logs "$name" >"$out/stdout" 2>"$out/stderr"; }
running() { logs && grep -q 'leaf-host running' "$out/stderr"; }
if wait_for 120 running; then expect "leaf-host runs in the container" 0; else
  expect "leaf-host runs in the container" 1 "$(tail -20 "$out/stderr")"
fi
grep -E 'attached via|not running|error|warn' "$out/stderr" | sed 's/^/     log: /' | head -30 || true
pid=$(podman inspect --format '{{.State.Pid}}' "$name")
tmpx=$(mktemp -d)
dpkg-deb -x "$deb" "$tmpx"
expected=$(bash "$here/expected-caps.sh" "$(uname -r)" \
  "$(cat /proc/sys/kernel/unprivileged_bpf_disabled)" "$tmpx/usr/bin/leaf-host")
rm -rf "$tmpx"
granted=$(echo "$expected" | sed -n 's/^granted //p')
effective=$(echo "$expected" | sed -n 's/^effective //p')
decode() {
  capsh --decode="$(awk -v f="$1:" '$1 == f {print $2}' "/proc/$pid/status")" |
    sed 's/^.*=//' | tr ',' '\n' | sed '/^$/d' | sort | paste -sd, -
}
for f in CapPrm CapBnd; do
  got=$(decode $f)
  expect "$f is exactly {$granted}" "$([ "$got" = "$granted" ] && echo 0 || echo 1)" "$got"
done
got=$(decode CapEff)
expect "CapEff is exactly {$effective}" "$([ "$got" = "$effective" ] && echo 0 || echo 1)" "$got"
for f in CapInh CapAmb; do
  got=$(decode $f)
  expect "$f is empty" "$([ -z "$got" ] && echo 0 || echo 1)" "$got"
done
expect "NoNewPrivs is set" "$(awk '/^NoNewPrivs:/ {print ($2 == 1) ? 0 : 1}' "/proc/$pid/status")"

# A process of the host, by its pid (host PID namespace: the same numbers).
cp /bin/sleep "$out/leafctrmark"
"$out/leafctrmark" 0.2 &
mark=$!
wait $mark
seen() { logs && grep '"type":"process_exec"' "$out/stdout" | grep -q "\"pid\":$mark,"; }
if wait_for 60 seen; then
  expect "a host process_exec event (pid $mark) on the container's stdout" 0
else
  expect "a host process_exec event (pid $mark) on the container's stdout" 1
fi
ev=$(grep '"type":"process_exec"' "$out/stdout" | grep "\"pid\":$mark," | head -1 || true)
expect "the event names the node (NODE_NAME): $(hostname)" \
  "$([[ "$ev" == *"\"hostname\":\"$(hostname)\""* ]] && echo 0 || echo 1)" "$ev"
http() {
  podman exec "$name" bash -c "exec 3<>/dev/tcp/127.0.0.1/9464 && printf 'GET $1 HTTP/1.0\r\n\r\n' >&3 && timeout 10 cat <&3" 2>&1
}
health=$(http /healthz | tr -d '\r' | sed -n 1p)
expect "/healthz answers 200" "$([[ "$health" == *200* ]] && echo 0 || echo 1)" "$health"
http /metrics >"$out/metrics.txt"
expect "/metrics serves leaf_* metrics" "$([ "$(grep -c '^leaf_' "$out/metrics.txt")" -gt 0 ] && echo 0 || echo 1)"
listen=$(grep -o 'serving http://[^ ]*' "$out/stderr" | head -1 || true)
expect "metrics on every interface in the container" "$([[ "$listen" == *0.0.0.0:9464* ]] && echo 0 || echo 1)" "$listen"

podman stop -t 30 "$name" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
expect "podman stop: exit 0" "$([ "$code" = 0 ] && echo 0 || echo 1)" "exit $code"
logs
expect "podman stop: leaf-host logs a clean shutdown" \
  "$(grep -q 'leaf-host stopped' "$out/stderr" && echo 0 || echo 1)"
echo "     image size: $((size / 1024 / 1024)) MB ($size bytes; the Debian base $((base_size / 1024 / 1024)) MB)"
log "$([ $fail = 0 ] && echo PASSED || echo FAILED) in $(($(date +%s) - started))s"
exit $fail
