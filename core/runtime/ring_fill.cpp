#include "runtime/ring_fill.hpp"

#include <bpf/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace leaf::core {

RingFill::~RingFill() {
  if (base_) munmap(base_, mapped_);
}

std::string RingFill::open(int map_fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0)
    return std::string("reading the ring's map info: ") + std::strerror(errno);
  if (info.max_entries == 0) return "ring of size 0";
  long page = sysconf(_SC_PAGESIZE);
  void* p = mmap(nullptr, 2 * page, PROT_READ, MAP_SHARED, map_fd, 0);
  if (p == MAP_FAILED) return std::string("mapping the ring's positions: ") + std::strerror(errno);
  base_ = p;
  mapped_ = 2 * page;
  cons_ = static_cast<const uint64_t*>(p);
  prod_ = reinterpret_cast<const uint64_t*>(static_cast<const char*>(p) + page);
  size_ = info.max_entries;
  name_ = info.name;
  return {};
}

}  // namespace leaf::core
