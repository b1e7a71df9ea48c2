// Builds the Prometheus metric families of a scrape from what the host
// already counts: the pipeline's per-type and per-sink counters, the
// kernel's per-type emitted/lost counters, the plugins' own counters
// (read_counters), the processing latency histograms, the BPF programs'
// run statistics and the process's CPU and memory.
//
// Runs on the dispatcher thread (the HTTP server shares its io_context),
// so the dispatcher-only counters are read without locks.
#pragma once

#include <prometheus/metric_family.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "metrics/bpf_stats.hpp"
#include "metrics/process_stats.hpp"

namespace leaf::core {
class Pipeline;
class Dispatcher;
class PluginInstance;
}  // namespace leaf::core

namespace leaf::core::metrics {

// The counters of plugin instances that stopped while the host runs
// (removed from the plugins directory, upgraded, disabled at SIGHUP), read
// just before their objects are destroyed: the kernel's per-type emitted and
// lost counts and the plugin's own counters (not its gauges or histograms).
// Kept for the life of the process: while no instance of that name runs they
// are served frozen; when one runs again its values are added to them, so a
// counter never goes backwards within one leaf-host (rate() over an upgrade
// is right). The pipeline's per-type counters (leaf_events_total...) belong
// to the host and simply go on.
class DepartedCounters {
 public:
  // Call after the plugin stopped (programs detached), before its object goes.
  void record(PluginInstance& p, Dispatcher& d);

  struct Entry {
    std::map<std::string, std::pair<uint64_t, uint64_t>> kernel;     // type -> emitted, lost
    std::map<std::pair<std::string, std::string>, double> counters;  // (name, label) -> value
  };
  const std::map<std::string, Entry>& entries() const { return by_plugin_; }

 private:
  std::map<std::string, Entry> by_plugin_;
};

struct Sources {
  Pipeline* pipeline = nullptr;
  Dispatcher* dispatcher = nullptr;
  // Every enabled plugin (its object is gone when it failed to open or start).
  const std::vector<std::unique_ptr<PluginInstance>>* plugins = nullptr;
  const BpfProgramOwners* bpf_owners = nullptr;  // may be null
  const BpfStatsSwitch* bpf_stats = nullptr;     // may be null
  const DepartedCounters* departed = nullptr;    // may be null
};

class Collector {
 public:
  explicit Collector(Sources sources);

  std::vector<prometheus::MetricFamily> collect();
  // The exposition text (format 0.0.4) of collect().
  std::string render();

 private:
  Sources src_;
  CpuUsage cpu_;
  uint64_t scrapes_ = 0;
  double last_scrape_seconds_ = 0;
};

// Bucket bounds (seconds) exposed for the log2 latency histograms: 2^10 ns
// (about 1 us) to 2^36 ns (about 69 s), then +Inf.
inline constexpr int kFirstExposedBucket = 10;
inline constexpr int kLastExposedBucket = 36;

}  // namespace leaf::core::metrics
