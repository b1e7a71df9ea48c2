// The performance probe plugin: scheduler and interrupt activity aggregated
// per CPU in the kernel (performance.bpf.c), read on a timer and emitted as
// one perf_stats event per interval; raw context_switch / irq / softirq
// events on request, each rate-limited by a per-CPU token bucket in the
// kernel whose suppressed events are counted (read_counters, perf_stats).
#include "performance.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <leaf/sdk/skeleton.hpp>
#include <memory>
#include <set>

#include "options.hpp"
#include "performance.skel.h"
#include "schema.hpp"
#include "stats_json.hpp"
#include "stats_reader.hpp"

namespace leaf::performance {

namespace {

using namespace sdk;

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Whether this kernel's sched_switch tracepoint passes prev_state (5.18+):
// btf_trace_sched_switch is a pointer to a function of (void *, bool, prev,
// next, unsigned int prev_state).
bool sched_switch_has_prev_state() {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  bool has = false;
  int id = btf__find_by_name_kind(vmlinux, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
  if (id > 0) {
    const btf_type* t = btf__type_by_id(vmlinux, id);
    t = t ? btf__type_by_id(vmlinux, t->type) : nullptr;  // the pointer
    t = t && btf_is_ptr(t) ? btf__type_by_id(vmlinux, t->type) : nullptr;
    has = t && btf_is_func_proto(t) && btf_vlen(t) >= 5;
  }
  btf__free(vmlinux);
  return has;
}

// Whether the kernel's BTF has what runq_from_kernel reads (performance.bpf.c):
// task_struct.sched_info.last_queued (CONFIG_SCHED_INFO) and
// task_struct.se.cfs_rq->rq->clock (CONFIG_FAIR_GROUP_SCHED).
bool kernel_keeps_runq_clock() {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  auto member = [&](int type_id, const char* name) -> int {
    const btf_type* t = type_id > 0 ? btf__type_by_id(vmlinux, type_id) : nullptr;
    if (!t || !btf_is_struct(t)) return -1;
    const btf_member* m = btf_members(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i, ++m)
      if (std::strcmp(btf__name_by_offset(vmlinux, m->name_off), name) == 0)
        return static_cast<int>(m->type);
    return -1;
  };
  // A pointer member's target struct.
  auto pointee = [&](int type_id) -> int {
    const btf_type* t = type_id > 0 ? btf__type_by_id(vmlinux, type_id) : nullptr;
    return t && btf_is_ptr(t) ? static_cast<int>(t->type) : -1;
  };
  int task = btf__find_by_name_kind(vmlinux, "task_struct", BTF_KIND_STRUCT);
  int info = member(task, "sched_info");
  int rq = pointee(member(pointee(member(member(task, "se"), "cfs_rq")), "rq"));
  bool has = info > 0 && member(info, "last_queued") > 0 && member(rq, "clock") > 0;
  btf__free(vmlinux);
  return has;
}

// runq.source: "kernel" (refused when this kernel lacks it), "table", "auto".
bool runq_from_kernel(const std::string& source) {
  if (source == "table") return false;  // the host checked the choices
  bool available = kernel_keeps_runq_clock();
  if (source == "kernel" && !available)
    throw PluginError(
        "runq.source = \"kernel\": this kernel's BTF has no task_struct.sched_info.last_queued "
        "or se.cfs_rq->rq->clock (CONFIG_SCHED_INFO, CONFIG_FAIR_GROUP_SCHED); use \"auto\" or "
        "\"table\"",
        Status::InvalidConfig);
  return available;
}

struct Aggregates {
  bool cpu = false, irq = false, softirq = false, runq = false, wakeups = false;
};

Aggregates parse_aggregates(const std::vector<std::string>& names) {
  Aggregates a;
  for (const auto& n : names) {
    if (n == "cpu")
      a.cpu = true;
    else if (n == "irq")
      a.irq = true;
    else if (n == "softirq")
      a.softirq = true;
    else if (n == "runq")
      a.runq = true;
    else if (n == "wakeups")
      a.wakeups = true;
    else
      throw PluginError(
          "aggregates: unknown aggregate '" + n + "' (cpu, irq, softirq, runq, wakeups)",
          Status::InvalidConfig);
  }
  return a;
}

class PerformanceProbe final : public SkeletonProbe<performance_bpf>, private ITimerHandler {
 public:
  explicit PerformanceProbe(IHost* host) : SkeletonProbe(host, kEventTypes, kEventTypeCount) {}

  void read_counters(ICounterVisitor* visitor) noexcept override {
    if (!reader_) return;
    try {
      leaf_perf_cpu_stats total = reader_->cumulative();
      visitor->counter(make_view("performance_context_switches_total"), make_view(""),
                       total.context_switches);
      visitor->counter(make_view("performance_preemptions_total"), make_view(""),
                       total.preemptions);
      visitor->counter(make_view("performance_irqs_total"), make_view(""), total.irq_count);
      visitor->counter(make_view("performance_softirqs_total"), make_view(""), total.softirq_count);
      for (uint32_t i = 0; i < PERF_RAW_TYPES; ++i)
        visitor->counter(make_view("performance_raw_suppressed_total"), make_view(kRawTypeNames[i]),
                         total.raw_suppressed[i]);
      visitor->counter(make_view("performance_runq_untracked_total"), make_view(""),
                       total.runq_untracked);
      // Runs the kernel skipped because the program was already running on
      // that CPU (its recursion guard): events these aggregates never saw.
      bpf_program* prog;
      bpf_object__for_each_program(prog, skel_->obj) {
        int fd = bpf_program__fd(prog);
        if (fd < 0) continue;
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
          visitor->counter(make_view("performance_program_misses_total"),
                           make_view(bpf_program__name(prog)), info.recursion_misses);
      }
      visitor->counter(make_view("performance_snapshots_total"), make_view("perf_stats"),
                       snapshots_);
      visitor->counter(make_view("performance_snapshot_errors_total"), make_view("perf_stats"),
                       snapshot_errors_);
      visitor->counter(make_view("performance_snapshots_truncated_total"), make_view("perf_stats"),
                       truncated_);
    } catch (...) {
    }
  }

 private:
  ProbeSelection configure(performance_bpf& skel) override {
    Aggregates agg = parse_aggregates(cfg_strings("aggregates"));
    bool raw[PERF_RAW_TYPES] = {cfg_bool("raw.context_switch"), cfg_bool("raw.irq"),
                                cfg_bool("raw.softirq")};
    interval_ns_ = static_cast<uint64_t>(cfg_int("interval"));

    auto* ro = skel.rodata;
    ro->agg_runq = agg.runq;
    ro->agg_wakeups = agg.wakeups;
    for (uint32_t i = 0; i < PERF_RAW_TYPES; ++i) ro->raw_enabled[i] = raw[i];
    ro->raw_rate = static_cast<uint64_t>(cfg_int("raw.rate_limit"));
    ro->raw_burst = static_cast<uint64_t>(cfg_int("raw.burst"));
    ro->switch_has_prev_state = sched_switch_has_prev_state();
    // The kernel's own queue times: no wakeup program unless wakeups are
    // counted, and the wakeup-time table is not needed (one entry).
    ro->runq_from_kernel = agg.runq && runq_from_kernel(cfg_string("runq.source"));
    if (ro->runq_from_kernel) bpf_map__set_max_entries(skel.maps.runq_start, 1);
    if (!raw[0] && !raw[1] && !raw[2]) bpf_map__set_max_entries(skel.maps.events, 4096);

    // The probes this configuration needs; the others are not loaded.
    std::set<std::string> wanted;
    if (agg.cpu || agg.runq || raw[0]) wanted.insert("sched_switch");
    if (agg.wakeups || (agg.runq && !ro->runq_from_kernel))
      wanted.insert({"sched_wakeup", "sched_wakeup_new"});
    if (agg.cpu || agg.irq || raw[1]) wanted.insert({"irq_handler_entry", "irq_handler_exit"});
    if (agg.cpu || agg.softirq || raw[2]) wanted.insert({"softirq_entry", "softirq_exit"});
    return {.required = std::vector<std::string>(wanted.begin(), wanted.end()),
            .others = ProbeSelection::Others::Unused};
  }

  void loaded(performance_bpf& skel) override {
    reader_ = std::make_unique<StatsReader>(
        StatsMaps{bpf_map__fd(skel.maps.cpu_stats), bpf_map__fd(skel.maps.softirq_stats),
                  bpf_map__fd(skel.maps.irq_stats), bpf_map__fd(skel.maps.irq_names)});
  }

  void started(performance_bpf&) override {
    reader_->baseline(monotonic_ns());
    if (host_->add_timer(interval_ns_, this) != Status::Ok)
      throw PluginError("host refused the snapshot timer");
  }

  // No final snapshot at stop(): IHost::emit is for the dispatcher thread
  // (decoders, timers, start()), and stop() is not among them. The interval
  // in progress at shutdown is therefore not reported.

  void on_timer() noexcept override {
    if (!started_) return;
    try {
      uint64_t now = monotonic_ns();
      StatsDelta d = reader_->next(now);
      std::vector<uint8_t> rec = build_stats_record(d, now, PERF_EVENT_STATS);
      if (reinterpret_cast<const leaf_perf_stats_record*>(rec.data())->truncated) ++truncated_;
      if (host_->emit(&kEventTypes[PERF_EVENT_STATS], rec.data(),
                      static_cast<uint32_t>(rec.size())) == Status::Ok)
        ++snapshots_;
      else
        ++snapshot_errors_;
    } catch (const std::exception& e) {
      ++snapshot_errors_;
      log(LogLevel::Warn, std::string("perf_stats snapshot failed: ") + e.what());
    }
  }

  std::unique_ptr<StatsReader> reader_;
  uint64_t interval_ns_ = 0;
  uint64_t snapshots_ = 0, snapshot_errors_ = 0, truncated_ = 0;
};

}  // namespace

}  // namespace leaf::performance

LEAF_PLUGIN(leaf::performance::PerformanceProbe, Probe, "performance", "1.0.0",
            "Scheduler and interrupt activity per CPU, IRQ and softirq; raw events on request",
            leaf::performance::kOptions)
