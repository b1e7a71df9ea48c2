#include "host/kernel_support.hpp"

#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace leaf::core {

namespace {

std::string kernel_release() {
  struct utsname u {};
  if (uname(&u) != 0) return "?";
  return u.release;
}

}  // namespace

std::string missing_kernel_support(const std::string& btf_path) {
  std::vector<std::string> lacks;
  if (access(btf_path.c_str(), R_OK) != 0)
    lacks.push_back("BTF (" + btf_path + ": " + std::strerror(errno) +
                    "; the kernel needs CONFIG_DEBUG_INFO_BTF=y)");
  // 1: supported; 0: the kernel does not know the map type; < 0: the probe
  // itself failed (no CAP_BPF, say), which the plugins report better.
  if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 0)
    lacks.push_back("BPF ring buffers (BPF_MAP_TYPE_RINGBUF, Linux 5.8 or later)");
  if (lacks.empty()) return {};
  std::string out = "this kernel (" + kernel_release() + ") lacks what Leaf needs: " + lacks[0];
  if (lacks.size() > 1) out += " and " + lacks[1];
  return out;
}

}  // namespace leaf::core
