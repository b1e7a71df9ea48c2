// The kernel-side cost of the probes: run counts and run time of the BPF
// programs this process has loaded (bpf_prog_info run_cnt / run_time_ns).
//
// The kernel only counts while BPF_ENABLE_STATS is held (or the sysctl
// kernel.bpf_stats_enabled is 1): BpfStatsSwitch holds it for its lifetime.
// Counting costs every BPF program on the machine two clock reads per run,
// so leaf-host makes it optional (metrics.bpf_stats).
//
// Which plugin a program belongs to: the programs are found through this
// process's own descriptors (/proc/self/fd, "anon_inode:bpf-prog"), and
// BpfProgramOwners remembers which ones appeared while each plugin was
// opened (plugins load their BPF objects in open(); ProgramLoad makes the
// opens take turns).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace leaf::core::metrics {

class BpfStatsSwitch {
 public:
  BpfStatsSwitch() = default;
  ~BpfStatsSwitch();
  BpfStatsSwitch(const BpfStatsSwitch&) = delete;
  BpfStatsSwitch& operator=(const BpfStatsSwitch&) = delete;

  // Returns an empty string, or why the kernel refused.
  std::string enable();
  bool enabled() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct BpfProgram {
  uint32_t id = 0;
  std::string name;  // whole (from the program's BTF; the kernel keeps 15 characters)
  uint32_t type = 0;
  uint64_t run_count = 0;
  uint64_t run_time_ns = 0;
  uint64_t recursion_misses = 0;
};

// Every BPF program this process holds a descriptor of, once each.
std::vector<BpfProgram> own_bpf_programs();

// The programs that appear while one plugin opens. The kernel does not say
// which thread loaded a program, so loads take turns: one process-wide lock,
// held from construction to taken(). Without it, two probes opening at once
// on loader threads (one SIGHUP restarting two plugins) each saw the other's
// programs appear, and /metrics credited them to whichever swapped in first.
class ProgramLoad {
 public:
  ProgramLoad();
  ProgramLoad(const ProgramLoad&) = delete;
  ProgramLoad& operator=(const ProgramLoad&) = delete;
  // The ids of the programs loaded since construction; ends the turn.
  std::vector<uint32_t> taken();

 private:
  std::unique_lock<std::mutex> turn_;
  std::set<uint32_t> before_;
};

class BpfProgramOwners {
 public:
  // Attributes the programs `ids` (from ProgramLoad::taken) to `plugin`;
  // returns how many were not attributed yet.
  size_t claim(const std::vector<uint32_t>& ids, const std::string& plugin);
  // The plugin of program `id`, or empty.
  std::string owner(uint32_t id) const;

 private:
  std::map<uint32_t, std::string> owners_;
};

// The bpf_prog_type's name as bpftool prints it ("tracing", "raw_tracepoint"...).
const char* bpf_prog_type_name(uint32_t type);

}  // namespace leaf::core::metrics
