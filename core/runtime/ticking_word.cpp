#include "runtime/ticking_word.hpp"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace leaf::core {

TickingWord::~TickingWord() {
  if (base_) munmap(base_, mapped_);
}

std::string TickingWord::open(int map_fd, uint32_t offset) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0)
    return std::string("reading the map's info: ") + std::strerror(errno);
  if (info.type != BPF_MAP_TYPE_ARRAY) return "not an array map";
  if (!(info.map_flags & BPF_F_MMAPABLE))
    return "the map cannot be mapped (no BPF_F_MMAPABLE: kernel before 5.5?)";
  if (offset % sizeof(uint64_t) != 0 || uint64_t{offset} + sizeof(uint64_t) > info.value_size)
    return "offset " + std::to_string(offset) + " is outside the map's " +
           std::to_string(info.value_size) + "-byte value or not 8-byte aligned";
  // The kernel maps an array's values from offset 0, whole pages.
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t size = (info.value_size + page - 1) / page * page;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
  if (p == MAP_FAILED) return std::string("mapping it: ") + std::strerror(errno);
  base_ = p;
  mapped_ = size;
  word_ = reinterpret_cast<uint64_t*>(static_cast<char*>(p) + offset);
  return {};
}

}  // namespace leaf::core
