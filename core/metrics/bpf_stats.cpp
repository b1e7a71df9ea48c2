#include "metrics/bpf_stats.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
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
    p.name = info.name;
    p.type = info.type;
    p.run_count = info.run_cnt;
    p.run_time_ns = info.run_time_ns;
    p.recursion_misses = info.recursion_misses;
    out.push_back(std::move(p));
  }
  closedir(d);
  return out;
}

void BpfProgramOwners::claim_new(const std::string& plugin) {
  for (const auto& p : own_bpf_programs()) owners_.emplace(p.id, plugin);
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
