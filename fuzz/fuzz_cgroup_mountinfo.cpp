// The cgroup v2 mount point from a mountinfo text (/proc/self/mountinfo as
// the kernel writes it, here any bytes).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "processors/cgroup_cache.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int fd = memfd_create("leaf-fuzz-mountinfo", 0);
  if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
    return 0;
  std::string mount = leaf::core::find_cgroup2_mount("/proc/self/fd/" + std::to_string(fd));
  if (mount.size() > size) __builtin_trap();  // the mount point comes from the text
  return 0;
}
