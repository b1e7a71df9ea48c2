// leaf_process: process_exec, process_fork and process_exit events from the
// scheduler's process tracepoints (process.bpf.c), described to the host by
// process_schema.cpp and configured by conf.d/process.toml.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <leaf/sdk/maps.hpp>
#include <leaf/sdk/skeleton.hpp>
#include <string>
#include <vector>

#include "process.h"
#include "process.skel.h"
#include "process_options.hpp"
#include "process_schema.hpp"

namespace leaf::process {
namespace {

using namespace leaf::sdk;

// Names under which read_counters() reports process.bpf.c's `stats` map.
struct StatName {
  process_stat index;
  const char* name;
};
constexpr StatName kStatNames[] = {
    {PROCESS_STAT_TABLE_INSERT_FAILED, "process_table_insert_failed_total"},
    {PROCESS_STAT_TABLE_INSERTED, "process_table_inserted_total"},
    {PROCESS_STAT_TABLE_REMOVED, "process_table_removed_total"},
    {PROCESS_STAT_TABLE_REPLACED, "process_table_replaced_total"},
    {PROCESS_STAT_CMDLINE_TRUNCATED, "process_cmdline_truncated_total"},
    {PROCESS_STAT_CMDLINE_READ_FAILED, "process_cmdline_read_failed_total"},
    {PROCESS_STAT_THREAD_WALK_CUT, "process_exit_thread_walk_cut_total"},
    {PROCESS_STAT_USAGE_RACED, "process_exit_usage_raced_total"},
    {PROCESS_STAT_FILTERED, "process_events_filtered_in_kernel_total"},
};
static_assert(sizeof(kStatNames) / sizeof(kStatNames[0]) == PROCESS_STAT_COUNT);

class ProcessProbe final : public SkeletonProbe<process_bpf> {
 public:
  explicit ProcessProbe(IHost* host) : SkeletonProbe(host, kTypes, kTypeCount) {}

  void read_counters(ICounterVisitor* visitor) noexcept override {
    if (!skel_ || !visitor) return;
    std::vector<uint64_t> sum = read_stats();
    if (sum.empty()) return;
    for (const auto& s : kStatNames) visitor->counter(make_view(s.name), {"", 0}, sum[s.index]);
    // Live entries: every insertion is undone by a removal or a replacement
    // in place, so the difference is the table's occupancy.
    int64_t live = static_cast<int64_t>(sum[PROCESS_STAT_TABLE_INSERTED]) -
                   static_cast<int64_t>(sum[PROCESS_STAT_TABLE_REMOVED]);
    visitor->gauge(make_view("process_table_entries"), {"", 0}, live);
    visitor->gauge(make_view("process_table_capacity"), {"", 0},
                   static_cast<int64_t>(bpf_map__max_entries(skel_->maps.proc_info)));
  }

 private:
  ProbeSelection configure(process_bpf& skel) override {
    skel.rodata->emit_exec = cfg_bool("events.exec");
    skel.rodata->emit_fork = cfg_bool("events.fork");
    skel.rodata->emit_exit = cfg_bool("events.exit");
    skel.rodata->thread_events = cfg_bool("thread_events");
    skel.rodata->cmdline_max = static_cast<uint32_t>(cfg_int("cmdline_max"));
    bpf_map__set_max_entries(skel.maps.proc_info,
                             static_cast<uint32_t>(cfg_int("proc_table_size")));
    // Every probe is needed even when its events are off: fork and exec fill
    // proc_info, exit empties it.
    return {};
  }

  void loaded(process_bpf&) override { apply_filter(); }

  // SIGHUP: the [filter] lists (flagged kOptionLive) apply in place; the host
  // restarts this plugin when any other option changed.
  bool do_reload() override {
    apply_filter();
    return true;
  }

  // Fills filter_uids / filter_comms from the configuration: new entries
  // first, then stale ones removed, then filter_cfg switched, so that every
  // event meets either the old or the new rules and none is lost twice.
  void apply_filter() {
    std::vector<int64_t> uids = cfg_ints("filter.drop_uids");
    std::vector<std::string> comms = cfg_strings("filter.drop_comms");
    if (uids.size() > PROCESS_FILTER_MAX || comms.size() > PROCESS_FILTER_MAX)
      throw PluginError(
          "filter lists: at most " + std::to_string(PROCESS_FILTER_MAX) + " entries each",
          Status::InvalidConfig);
    std::vector<process_filter_comm> comm_keys;
    for (const auto& c : comms) {
      if (c.empty() || c.size() >= PROCESS_COMM_LEN)
        throw PluginError(
            "key 'filter.drop_comms': '" + c + "' cannot be a comm (1 to 15 characters)",
            Status::InvalidConfig);
      process_filter_comm k{};
      std::memcpy(k.comm, c.data(), c.size());
      comm_keys.push_back(k);
    }
    std::vector<uint32_t> uid_keys(uids.begin(), uids.end());
    sync_set(skel_->maps.filter_uids, uid_keys);
    sync_set(skel_->maps.filter_comms, comm_keys);
    process_filter_cfg cfg{};
    cfg.uids = !uid_keys.empty();
    cfg.comms = !comm_keys.empty();
    uint32_t zero = 0;
    if (bpf_map__update_elem(skel_->maps.filter_cfg, &zero, sizeof(zero), &cfg, sizeof(cfg),
                             BPF_ANY) != 0)
      throw PluginError(std::string("filter_cfg: ") + std::strerror(errno));
  }

  // `stats` summed over CPUs, indexed by process_stat; empty on failure.
  std::vector<uint64_t> read_stats() const {
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return {};
    std::vector<uint64_t> sum(PROCESS_STAT_COUNT, 0), per_cpu(static_cast<size_t>(cpus));
    int fd = bpf_map__fd(skel_->maps.stats);
    for (uint32_t key = 0; key < PROCESS_STAT_COUNT; ++key) {
      if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) return {};
      for (uint64_t v : per_cpu) sum[key] += v;
    }
    return sum;
  }
};

}  // namespace
}  // namespace leaf::process

LEAF_PLUGIN(leaf::process::ProcessProbe, Probe, "process", "1.0.0",
            "process_exec, process_fork and process_exit events from the scheduler's tracepoints",
            leaf::process::kOptions)
