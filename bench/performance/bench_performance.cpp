// What the performance plugin costs the host: round trips per second of two
// processes ping-ponging a byte over pipes (a context-switch-bound workload,
// the plugin's worst case), without the plugin, with it in its default mode
// (aggregates only) and in raw modes, in one run. Modes are interleaved
// round by round so that background load hits them alike; the median of the
// rounds is reported.
//
//   bench_performance [--round-trips N] [--rounds R] [--cpu C] [--modes K,K...]
//                     [--baseline-plugin SO]
//   C >= 0 pins both processes to CPU C: every switch on one CPU, two per
//   round trip (unpinned, the pair lands on one CPU or on two, and a round
//   trip then costs ~10x more time and twice the switches: ratios swing).
//   --modes: only these modes (keys in all_modes(); `none` and `baseline`
//   always run).
//   --baseline-plugin: also run the default mode with another build of the
//   plugin (mode `baseline`), interleaved with the rest: an A/B of two builds
//   in the same rounds.
//
// Mode `default-stats` holds BPF_ENABLE_STATS open during its wall-clock
// rounds, as leaf-host does with `[metrics] bpf_stats = true` (off by default):
// every run of every BPF program then pays two clock reads. All other wall
// rounds run without it; the BPF-ns rounds after them enable it for all.
#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "empty_hooks.skel.h"
#include "perf_snapshots.hpp"
#include "workloads.hpp"

using leaf::performance::test::monotonic_ns;
using leaf::performance::test::PingPong;
using leaf::sdk::testing::TestHost;

namespace {

struct Mode {
  std::string key;
  std::string name;
  bool loaded;  // the plugin; `empty` attaches empty programs instead
  bool empty;
  std::map<std::string, std::string> config;
  // With `empty`: only on the tracepoints the default mode uses (it loads
  // no sched_wakeup program): the floor of the default mode itself.
  bool empty_without_wakeups = false;
  bool stats = false;  // BPF_ENABLE_STATS on during the wall-clock rounds too
  std::string plugin = LEAF_PERFORMANCE_PLUGIN;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Result {
  double rate = 0;           // round trips per second
  uint64_t raw_records = 0;  // raw records the ring received
  double bpf_ns = 0;         // kernel-measured BPF run time per round trip (with stats)
  // Per program (with stats): name -> {runs, run time ns} during the round trips.
  std::map<std::string, std::pair<uint64_t, uint64_t>> programs;
};

std::set<uint32_t> prog_ids() {
  std::set<uint32_t> ids;
  uint32_t id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) ids.insert(id);
  return ids;
}

// Runs and run time (ns) the kernel accounted to these programs so far, by name.
std::map<std::string, std::pair<uint64_t, uint64_t>> run_times(const std::vector<int>& fds) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> out;
  for (int fd : fds) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    auto& [runs, ns] = out[info.name];
    runs += info.run_cnt;
    ns += info.run_time_ns;
  }
  return out;
}

uint64_t total_ns(const std::map<std::string, std::pair<uint64_t, uint64_t>>& t) {
  uint64_t ns = 0;
  for (const auto& [name, v] : t) ns += v.second;
  return ns;
}

// `stats`: also measure the programs' own run time (BPF_ENABLE_STATS, which
// costs a little itself, so rates of such runs are not used).
Result measure(const Mode& mode, uint64_t round_trips, int cpu, bool stats = false) {
  std::set<uint32_t> before = stats ? prog_ids() : std::set<uint32_t>();
  std::unique_ptr<TestHost> host;
  empty_hooks_bpf* empty = nullptr;
  if (mode.empty) {
    empty = empty_hooks_bpf::open();
    if (empty && mode.empty_without_wakeups) {
      bpf_program__set_autoload(empty->progs.empty_sched_wakeup, false);
      bpf_program__set_autoload(empty->progs.empty_sched_wakeup_new, false);
    }
    if (!empty || empty_hooks_bpf::load(empty) != 0 || empty_hooks_bpf::attach(empty) != 0) {
      std::fprintf(stderr, "cannot attach the empty programs\n");
      std::exit(1);
    }
  }
  if (mode.loaded) {
    host = std::make_unique<TestHost>(mode.plugin, mode.config);
    host->open();
    host->start();
    leaf::performance::test::tick(*host);
  }
  std::vector<int> progs;
  int stats_fd = -1;
  if (stats) {
    for (uint32_t id : prog_ids())
      if (!before.count(id)) progs.push_back(bpf_prog_get_fd_by_id(id));
  }
  if (stats || mode.stats) {
    stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (stats_fd < 0) {
      std::fprintf(stderr, "cannot enable BPF run-time statistics\n");
      std::exit(1);
    }
  }
  PingPong pp(cpu);
  pp.run(round_trips / 10);  // warm up
  auto bpf0 = run_times(progs);
  uint64_t t0 = monotonic_ns();
  pp.run(round_trips);
  uint64_t t1 = monotonic_ns();
  auto bpf1 = run_times(progs);
  pp.finish();
  if (stats_fd >= 0) close(stats_fd);
  for (int fd : progs) close(fd);
  Result r;
  r.rate = static_cast<double>(round_trips) * 1e9 / static_cast<double>(t1 - t0);
  r.bpf_ns =
      static_cast<double>(total_ns(bpf1) - total_ns(bpf0)) / static_cast<double>(round_trips);
  for (const auto& [name, v] : bpf1)
    r.programs[name] = {v.first - bpf0[name].first, v.second - bpf0[name].second};
  if (host) {
    host->drain([&](const uint8_t*, uint32_t) { ++r.raw_records; });
    host->stop();
  }
  empty_hooks_bpf::destroy(empty);
  return r;
}

std::vector<Mode> all_modes(const std::string& baseline_plugin) {
  const std::string big_ring = "\"256M\"";
  std::vector<Mode> modes = {
      {"none", "not loaded", false, false, {}},
      {"empty", "empty programs, same tracepoints", false, true, {}},
      {"empty-default", "empty programs, default's tracepoints", false, true, {}, true},
      {"default", "default (aggregates)", true, false, {}},
      {"default-stats", "default, BPF stats on (bpf_stats)", true, false, {}, false, true},
      {"no-runq",
       "aggregates without runq",
       true,
       false,
       {{"aggregates", "[\"cpu\", \"irq\", \"softirq\"]"}}},
      {"wakeups",
       "default + wakeups counted",
       true,
       false,
       {{"aggregates", "[\"cpu\", \"irq\", \"softirq\", \"runq\", \"wakeups\"]"}}},
      {"raw-switch",
       "raw context_switch, 1000/s per CPU",
       true,
       false,
       {{"raw.context_switch", "true"}}},
      {"raw-all",
       "raw all types, unlimited",
       true,
       false,
       {{"raw.context_switch", "true"},
        {"raw.irq", "true"},
        {"raw.softirq", "true"},
        {"raw.rate_limit", "100000000"},
        {"raw.burst", "100000000"},
        {"ring_buffer_size", big_ring}}},
  };
  if (!baseline_plugin.empty()) {
    Mode base{"baseline", "default, --baseline-plugin build", true, false, {}};
    base.plugin = baseline_plugin;
    modes.insert(modes.begin() + 3, base);
  }
  return modes;
}

// The modes named in `keys` (comma-separated; empty: all), `none` first.
std::vector<Mode> select_modes(const std::vector<Mode>& all, const std::string& keys) {
  std::set<std::string> wanted;
  for (size_t at = 0; !keys.empty() && at <= keys.size();) {
    size_t comma = std::min(keys.find(',', at), keys.size());
    wanted.insert(keys.substr(at, comma - at));
    at = comma + 1;
  }
  const bool every = wanted.empty();
  std::vector<Mode> out;
  for (const Mode& m : all)
    if (m.key == "none" || m.key == "baseline" || every || wanted.erase(m.key)) out.push_back(m);
  wanted.erase("none");
  for (const auto& k : wanted) {
    std::fprintf(stderr, "bench_performance: unknown mode %s (known:", k.c_str());
    for (const Mode& m : all) std::fprintf(stderr, " %s", m.key.c_str());
    std::fprintf(stderr, ")\n");
    std::exit(2);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t round_trips = 50000;
  int rounds = 5, cpu = -1;
  std::string keys, baseline_plugin;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--round-trips"))
      round_trips = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--rounds"))
      rounds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--cpu"))
      cpu = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--modes"))
      keys = argv[i + 1];
    else if (!std::strcmp(argv[i], "--baseline-plugin"))
      baseline_plugin = argv[i + 1];
    else {
      std::fprintf(stderr, "bench_performance: unknown option %s (see the source's header)\n",
                   argv[i]);
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_performance: needs root to load BPF programs\n");
    return 77;
  }
  const std::vector<Mode> modes = select_modes(all_modes(baseline_plugin), keys);
  // Each round measures every mode, in an order rotated round by round; a
  // mode's slowdown is taken against the baseline of the same round, and the
  // median over rounds is reported (background load drifts between rounds).
  std::vector<std::vector<double>> rates(modes.size()), slowdowns(modes.size());
  std::vector<uint64_t> records(modes.size());
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> round(modes.size());
    for (size_t k = 0; k < modes.size(); ++k) {
      size_t m = (k + static_cast<size_t>(r)) % modes.size();
      Result res = measure(modes[m], round_trips, cpu);
      round[m] = res.rate;
      records[m] += res.raw_records;
    }
    for (size_t m = 0; m < modes.size(); ++m) {
      rates[m].push_back(round[m]);
      slowdowns[m].push_back((round[0] - round[m]) / round[0] * 100.0);
    }
    std::fprintf(stderr, "round %d/%d done\n", r + 1, rounds);
  }
  std::printf("pipe ping-pong, %llu round trips x %d rounds, %s\n",
              static_cast<unsigned long long>(round_trips), rounds,
              cpu >= 0 ? ("both on CPU " + std::to_string(cpu)).c_str() : "unpinned");
  std::printf("%-38s %14s %18s %14s\n", "mode", "round trips/s", "slowdown (median)",
              "raw records");
  for (size_t m = 0; m < modes.size(); ++m) {
    std::printf("%-38s %14.0f %17.2f%% %14llu\n", modes[m].name.c_str(), median(rates[m]),
                median(slowdowns[m]), static_cast<unsigned long long>(records[m]));
  }
  std::printf("goal: default mode <= 3%% slowdown\n\n");

  // The same cost without background noise: the time the kernel spent in
  // the programs (BPF_ENABLE_STATS; other programs loaded meanwhile on this
  // machine may be counted too), per round trip, against a round trip.
  double round_trip_ns = 1e9 / median(rates[0]);
  std::printf("%-38s %14s %18s\n", "mode", "BPF ns/round trip", "of a round trip");
  std::vector<Result> last(modes.size());
  for (size_t m = 1; m < modes.size(); ++m) {
    if (modes[m].stats) continue;  // every mode runs with the statistics here
    std::vector<double> ns;
    for (int r = 0; r < 3; ++r) {
      last[m] = measure(modes[m], round_trips, cpu, true);
      ns.push_back(last[m].bpf_ns);
    }
    std::printf("%-38s %14.0f %17.2f%%\n", modes[m].name.c_str(), median(ns),
                median(ns) / round_trip_ns * 100.0);
  }
  // Runs per round trip count every task's switches and wakeups meanwhile
  // (other work on the machine too); ns per run is the steadier figure.
  std::printf("\nper program (last stats run): runs per round trip, ns per run\n");
  for (size_t m = 1; m < modes.size(); ++m) {
    if (modes[m].stats) continue;
    std::printf("%s\n", modes[m].name.c_str());
    for (const auto& [name, v] : last[m].programs)
      std::printf("  %-36s %8.2f %8.1f\n", name.c_str(),
                  static_cast<double>(v.first) / static_cast<double>(round_trips),
                  v.first ? static_cast<double>(v.second) / static_cast<double>(v.first) : 0.0);
  }
  return 0;
}
