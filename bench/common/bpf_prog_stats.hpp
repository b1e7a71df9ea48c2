// What each BPF program of one process costs, from the kernel's own
// accounting: with run-time statistics enabled (BPF_ENABLE_STATS, held by an
// open descriptor; the kernel then times every program run on the machine,
// which costs a little itself), every program keeps run_cnt and run_time_ns.
// Two snapshots around a workload give, per program, its runs and its mean
// run time: a figure that background load on a shared machine disturbs far
// less than the workload's wall-clock rate.
//
// The programs are found through the process's descriptors
// (/proc/<pid>/fdinfo: "prog_id"), so programs other processes load at the
// same time are not counted. Their runs are, when other processes hit the
// same hooks: a hook such as sys_exit runs for every process on the machine.
#pragma once
#include <bpf/bpf.h>
#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace leaf::bench {

struct ProgStat {
  std::string name;
  uint64_t run_cnt = 0;
  uint64_t run_time_ns = 0;
};
using ProgStats = std::map<uint32_t, ProgStat>;  // by program id

// Holds run-time statistics on while it lives.
class BpfStatsOn {
 public:
  BpfStatsOn() : fd_(bpf_enable_stats(BPF_STATS_RUN_TIME)) {}
  ~BpfStatsOn() {
    if (fd_ >= 0) close(fd_);
  }
  BpfStatsOn(const BpfStatsOn&) = delete;
  BpfStatsOn& operator=(const BpfStatsOn&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

// Ids of the BPF programs process `pid` holds a descriptor of.
inline std::vector<uint32_t> prog_ids_of(pid_t pid) {
  std::vector<uint32_t> ids;
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (!d) return ids;
  while (dirent* e = readdir(d)) {
    std::ifstream in(dir + "/" + e->d_name);
    for (std::string line; std::getline(in, line);)
      if (line.rfind("prog_id:", 0) == 0) ids.push_back(std::stoul(line.substr(8)));
  }
  closedir(d);
  return ids;
}

inline ProgStats snapshot(const std::vector<uint32_t>& ids) {
  ProgStats out;
  for (uint32_t id : ids) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
      out[id] = ProgStat{info.name, info.run_cnt, info.run_time_ns};
    close(fd);
  }
  return out;
}

// Runs and run time per program name, summed over workloads (a program
// loaded again by a new process has a new id, the same name; the kernel
// keeps the first 15 characters of a name).
struct ProgTotal {
  uint64_t runs = 0;
  uint64_t ns = 0;
};
using ProgTotals = std::map<std::string, ProgTotal>;

inline void add_delta(ProgTotals& totals, const ProgStats& before, const ProgStats& after) {
  for (const auto& [id, a] : after) {
    auto b = before.find(id);
    ProgTotal& t = totals[a.name];
    t.runs += a.run_cnt - (b == before.end() ? 0 : b->second.run_cnt);
    t.ns += a.run_time_ns - (b == before.end() ? 0 : b->second.run_time_ns);
  }
}

// One row per program that ran: runs, ns per run, runs and ns per unit of
// work (`units` of `unit`, e.g. connections), then the total per unit.
// Returns the total BPF ns per unit.
inline double print_totals(const ProgTotals& totals, double units, const char* unit) {
  std::printf("  %-16s %10s %8s %12s %12s\n", "BPF program", "runs", "ns/run",
              (std::string("runs/") + unit).c_str(), (std::string("ns/") + unit).c_str());
  double total = 0;
  for (const auto& [name, t] : totals) {
    if (t.runs == 0) continue;
    double ns_unit = static_cast<double>(t.ns) / units;
    total += ns_unit;
    std::printf("  %-16s %10llu %8.0f %12.2f %12.0f\n", name.c_str(),
                static_cast<unsigned long long>(t.runs),
                static_cast<double>(t.ns) / static_cast<double>(t.runs),
                static_cast<double>(t.runs) / units, ns_unit);
  }
  std::printf("  %-16s %10s %8s %12s %12.0f\n", "all", "", "", "", total);
  return total;
}

}  // namespace leaf::bench
