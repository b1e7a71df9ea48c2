// Reads the kernel's per-CPU aggregates and turns them into per-interval
// figures. The kernel's counters only grow; the reader keeps the previous
// read and reports differences, so an event that lands between two reads is
// counted in the next interval instead of being lost to a reset.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "performance.h"

namespace leaf::performance {

// Counts per key (an IRQ number, a softirq vector) over one interval.
struct HistTable {
  leaf_perf_hist total{};         // summed over CPUs
  std::vector<uint64_t> per_cpu;  // counts, by CPU
};

struct StatsDelta {
  uint64_t interval_ns = 0;
  std::vector<uint32_t> cpu_ids;          // the CPUs reported (online or active)
  std::vector<leaf_perf_cpu_stats> cpus;  // by CPU id (every possible CPU)
  leaf_perf_cpu_stats total{};            // summed over CPUs
  std::array<HistTable, PERF_SOFTIRQ_VECS> softirqs;
  std::map<uint32_t, HistTable> irqs;  // IRQs that ran in the interval
  std::map<uint32_t, std::string> irq_names;
};

struct StatsMaps {
  int cpu_stats;      // PERCPU_ARRAY[1] of leaf_perf_cpu_stats
  int softirq_stats;  // PERCPU_ARRAY[PERF_SOFTIRQ_VECS] of leaf_perf_hist
  int irq_stats;      // PERCPU_HASH irq -> leaf_perf_hist
  int irq_names;      // HASH irq -> char[PERF_IRQ_NAME_LEN]
};

class StatsReader {
 public:
  explicit StatsReader(StatsMaps maps);

  // Takes the starting point of the first interval.
  void baseline(uint64_t now_ns);
  // The figures since the previous call (or the baseline).
  StatsDelta next(uint64_t now_ns);
  // Per-CPU counters summed over CPUs, since the programs were loaded.
  leaf_perf_cpu_stats cumulative() const;
  uint32_t possible_cpus() const { return ncpus_; }

 private:
  struct Reading {
    std::vector<leaf_perf_cpu_stats> cpus;
    std::vector<std::vector<leaf_perf_hist>> softirqs;     // [vec][cpu]
    std::map<uint32_t, std::vector<leaf_perf_hist>> irqs;  // irq -> [cpu]
  };
  Reading read() const;
  void read_names();

  StatsMaps maps_;
  uint32_t ncpus_;
  std::vector<bool> online_;
  Reading prev_;
  uint64_t prev_ns_ = 0;
  std::map<uint32_t, std::string> names_;
};

}  // namespace leaf::performance
