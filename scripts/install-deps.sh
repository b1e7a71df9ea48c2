#!/usr/bin/env bash
# Installs every Debian 12 package Leaf needs to build, run and test, when missing.
# Idempotent: packages already installed are not touched; apt-get update runs only
# when something has to be installed.
set -euo pipefail

PACKAGES=(
  # build toolchain
  build-essential cmake pkg-config clang llvm clang-format
  # libFuzzer and the sanitizer runtimes of clang (fuzz/, scripts/fuzz.sh)
  libclang-rt-14-dev
  # BPF
  libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
  # libraries of the design card (Boost.DLL, Asio and Beast are header-only, in libboost-dev)
  librdkafka-dev libdeflate-dev libboost-program-options-dev libboost-system-dev
  libboost-filesystem-dev libboost-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  doctest-dev nlohmann-json3-dev prometheus-cpp-dev libbenchmark-dev libpcre2-dev
  # least privilege: capability sets (core/security)
  libcap-dev
  # test and bench tools
  kcat iproute2 stress-ng procps util-linux python3
  # monitoring: promtool lints /metrics and tests the alert rules; prometheus
  # evaluates the Grafana dashboard's queries against a live leaf-host
  prometheus python3-yaml
  # the Kafka sink tests' independent consumer (json-batch read by a non-librdkafka client)
  python3-kafka python3-lz4
  # bench/e2e report plots (run with /usr/bin/python3)
  python3-matplotlib
  # kernel matrix
  qemu-system-x86 busybox-static cpio xz-utils binutils
  # packaging (scripts/package.sh: CPack DEB, dpkg-shlibdeps, lintian), the
  # unit check (systemd-analyze), the Debian 12 root file system of the VM
  # test and the container test's base image (mmdebstrap), images (podman,
  # runc: crun refuses hybrid cgroups), the manifest test (python3-yaml)
  dpkg-dev fakeroot lintian help2man systemd mmdebstrap podman runc python3-yaml libcap2-bin
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get install needs it)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
