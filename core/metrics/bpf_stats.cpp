#include "metrics/bpf_stats.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

namespace leaf::core::metrics {

BpfStatsSwitch::~BpfStatsSwitch() {
  if (fd_ >= 0) close(fd_);
}

std::string BpfStatsSwitch::enable() {
  if (fd_ >= 0) return {};
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) return std::string("BPF_ENABLE_STATS refused: ") + std::strerror(errno);
  fd_ = fd;
  return {};
}

namespace {

// The program's whole name. The kernel keeps 15 characters of it
// (BPF_OBJ_NAME_LEN): tcp_accept__tp__accept and tcp_accept__tp__accept4 both
// read "tcp_accept__tp_", which made two series with the same labels. The
// whole name is the one of the program's function in its BTF (as bpftool
// finds it), read once per program id, while leaf-host holds its start
// capabilities (every plugin's programs are listed then, for
// BpfProgramOwners): after the drop the kernel no longer tells the program's
// BTF (bpf_capable()), and the cache answers.
std::string whole_name(int fd, const bpf_prog_info& info) {
  static std::mutex mutex;
  static std::map<uint32_t, std::string> known;  // ids are not reused while the program lives
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = known.find(info.id); it != known.end()) return it->second;
  std::string name = info.name;
  if (name.size() < BPF_OBJ_NAME_LEN - 1 || info.btf_id == 0 || info.nr_func_info == 0) return name;
  bpf_func_info func{};
  bpf_prog_info more{};
  more.nr_func_info = 1;
  more.func_info_rec_size = sizeof(func);
  more.func_info = reinterpret_cast<uintptr_t>(&func);
  uint32_t len = sizeof(more);
  if (bpf_obj_get_info_by_fd(fd, &more, &len) != 0) return name;
  btf* b = btf__load_from_kernel_by_id(info.btf_id);
  if (!b) return name;
  const btf_type* t = btf__type_by_id(b, func.type_id);
  const char* n = t ? btf__name_by_offset(b, t->name_off) : nullptr;
  if (n && std::strncmp(n, info.name, BPF_OBJ_NAME_LEN - 1) == 0) name = n;
  btf__free(b);
  known.emplace(info.id, name);
  return name;
}

}  // namespace

std::vector<BpfProgram> own_bpf_programs() {
  std::vector<BpfProgram> out;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return out;
  std::set<uint32_t> seen;
  int self = dirfd(d);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (*end || fd == self) continue;
    char target[64];
    ssize_t n = readlinkat(self, e->d_name, target, sizeof(target) - 1);
    if (n <= 0) continue;
    target[n] = 0;
    if (std::strcmp(target, "anon_inode:bpf-prog") != 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(static_cast<int>(fd), &info, &len) != 0) continue;
    if (!seen.insert(info.id).second) continue;
    BpfProgram p;
    p.id = info.id;
    p.name = whole_name(static_cast<int>(fd), info);
    p.type = info.type;
    p.run_count = info.run_cnt;
    p.run_time_ns = info.run_time_ns;
    p.recursion_misses = info.recursion_misses;
    out.push_back(std::move(p));
  }
  closedir(d);
  return out;
}

namespace {
std::mutex load_turn;
}

// own_bpf_programs() also reads each new program's whole name while the
// loading thread holds the load capabilities (whole_name's cache).
ProgramLoad::ProgramLoad() : turn_(load_turn) {
  for (const auto& p : own_bpf_programs()) before_.insert(p.id);
}

std::vector<uint32_t> ProgramLoad::taken() {
  std::vector<uint32_t> ids;
  if (!turn_.owns_lock()) return ids;
  for (const auto& p : own_bpf_programs())
    if (!before_.count(p.id)) ids.push_back(p.id);
  turn_.unlock();
  return ids;
}

size_t BpfProgramOwners::claim(const std::vector<uint32_t>& ids, const std::string& plugin) {
  size_t n = 0;
  for (uint32_t id : ids) n += owners_.emplace(id, plugin).second;
  return n;
}

std::string BpfProgramOwners::owner(uint32_t id) const {
  auto it = owners_.find(id);
  return it == owners_.end() ? std::string() : it->second;
}

const char* bpf_prog_type_name(uint32_t type) {
  const char* name = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(type));
  return name ? name : "unknown";
}

}  // namespace leaf::core::metrics
