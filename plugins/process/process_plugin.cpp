// leaf_process: process_exec, process_fork and process_exit events from the
// scheduler's process tracepoints (process.bpf.c), described to the host by
// process_schema.cpp and configured by conf.d/process.toml.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <leaf/sdk/plugin.hpp>
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
    {PROCESS_STAT_TABLE_INSERT_FAILED, "process_table_insert_failed"},
    {PROCESS_STAT_TABLE_INSERTED, "process_table_inserted"},
    {PROCESS_STAT_TABLE_REMOVED, "process_table_removed"},
    {PROCESS_STAT_TABLE_REPLACED, "process_table_replaced"},
    {PROCESS_STAT_CMDLINE_TRUNCATED, "process_cmdline_truncated"},
    {PROCESS_STAT_CMDLINE_READ_FAILED, "process_cmdline_read_failed"},
    {PROCESS_STAT_THREAD_WALK_CUT, "process_exit_thread_walk_cut"},
    {PROCESS_STAT_USAGE_RACED, "process_exit_usage_raced"},
};
static_assert(sizeof(kStatNames) / sizeof(kStatNames[0]) == PROCESS_STAT_COUNT);

class ProcessProbe final : public ProbePluginBase {
 public:
  explicit ProcessProbe(IHost* host) : ProbePluginBase(host, kTypes, kTypeCount) {}
  ~ProcessProbe() override {
    detach();
    process_bpf::destroy(skel_);
  }

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
  void do_open() override {
    skel_ = process_bpf::open();
    if (!skel_) throw PluginError(std::string("opening the BPF object: ") + std::strerror(errno));
    apply_ring_settings(skel_->rodata);
    skel_->rodata->emit_exec = cfg_bool("events.exec");
    skel_->rodata->emit_fork = cfg_bool("events.fork");
    skel_->rodata->emit_exit = cfg_bool("events.exit");
    skel_->rodata->thread_events = cfg_bool("thread_events");
    skel_->rodata->cmdline_max = static_cast<uint32_t>(cfg_int("cmdline_max"));
    bpf_map__set_max_entries(skel_->maps.events, ring_buffer_bytes(cfg_int("ring_buffer_size")));
    bpf_map__set_max_entries(skel_->maps.proc_info,
                             static_cast<uint32_t>(cfg_int("proc_table_size")));
    size_t elf_size = 0;
    const void* elf = process_bpf::elf_bytes(&elf_size);
    // Every probe is needed even when its events are off: fork and exec fill
    // proc_info, exit empties it.
    select_hooks(elf, elf_size, skel_->obj, skip_mask_from(cfg_strings("hooks.skip")),
                 {"process_exec", "process_fork", "process_exit"});
    if (int err = process_bpf::load(skel_))
      throw PluginError(std::string("loading the BPF object: ") + std::strerror(-err));
  }

  void do_start() override {
    attach_selected(skel_->obj);
    add_ring(skel_->maps.events, skel_->maps.counters);
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

  process_bpf* skel_ = nullptr;
};

}  // namespace
}  // namespace leaf::process

LEAF_PLUGIN(leaf::process::ProcessProbe, Probe, "process", "1.0.0",
            "process_exec, process_fork and process_exit events from the scheduler's tracepoints",
            leaf::process::kOptions)
