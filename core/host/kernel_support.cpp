#include "host/kernel_support.hpp"

#include <bpf/bpf.h>
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

// True when creating a ring buffer fails for lack of privilege rather than
// of kernel support.
bool ringbuf_denied() {
  int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, nullptr, 0, 0,
                          static_cast<uint32_t>(sysconf(_SC_PAGESIZE)), nullptr);
  if (fd >= 0) {
    close(fd);
    return false;
  }
  return errno == EPERM || errno == EACCES;
}

}  // namespace

std::string missing_kernel_support(const std::string& btf_path) {
  std::vector<std::string> lacks;
  if (access(btf_path.c_str(), R_OK) != 0)
    lacks.push_back("BTF (" + btf_path + ": " + std::strerror(errno) +
                    "; the kernel needs CONFIG_DEBUG_INFO_BTF=y)");
  // 1: supported; 0: the kernel does not know the map type; < 0: the probe
  // itself failed (no CAP_BPF, say), which the plugins report better.
  // libbpf's probe also answers 0 when the map could not be created for lack
  // of privilege (EPERM): a non-root run was told its kernel had no ring
  // buffers. Only a kernel that refuses the map type itself lacks them.
  if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 0 && !ringbuf_denied())
    lacks.push_back("BPF ring buffers (BPF_MAP_TYPE_RINGBUF, Linux 5.8 or later)");
  if (lacks.empty()) return {};
  std::string out = "this kernel (" + kernel_release() + ") lacks what Leaf needs: " + lacks[0];
  if (lacks.size() > 1) out += " and " + lacks[1];
  return out;
}

}  // namespace leaf::core
