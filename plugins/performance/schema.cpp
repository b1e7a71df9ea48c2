#include "schema.hpp"

#include <leaf/sdk/schema.h>

namespace leaf::performance {

using namespace sdk;

const char* const kSoftirqNames[PERF_SOFTIRQ_VECS] = {
    "hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched", "hrtimer", "rcu"};

const char* const kRawTypeNames[PERF_RAW_TYPES] = {"context_switch", "irq", "softirq"};

namespace {

const EnumDesc kSoftirqEnum{kSoftirqNames, PERF_SOFTIRQ_VECS};

const FieldDesc kSwitchFields[] = {
    LEAF_FIELD(leaf_perf_context_switch_event, cpu, U32),
    LEAF_FIELD(leaf_perf_context_switch_event, prev_pid, U32),
    LEAF_FIELD(leaf_perf_context_switch_event, prev_tgid, U32),
    LEAF_FIELD(leaf_perf_context_switch_event, prev_comm, Chars),
    LEAF_FIELD(leaf_perf_context_switch_event, prev_prio, I32),
    LEAF_FIELD(leaf_perf_context_switch_event, prev_state, U32),
    LEAF_FIELD(leaf_perf_context_switch_event, next_pid, U32),
    LEAF_FIELD(leaf_perf_context_switch_event, next_tgid, U32),
    LEAF_FIELD(leaf_perf_context_switch_event, next_comm, Chars),
    LEAF_FIELD(leaf_perf_context_switch_event, next_prio, I32),
    LEAF_FIELD(leaf_perf_context_switch_event, preempted, Bool),
};

const FieldDesc kIrqFields[] = {
    LEAF_FIELD(leaf_perf_irq_event, cpu, U32),
    LEAF_FIELD(leaf_perf_irq_event, irq, U32),
    LEAF_FIELD(leaf_perf_irq_event, irq_name, Chars),
    LEAF_FIELD(leaf_perf_irq_event, duration_ns, DurationNs),
    LEAF_FIELD(leaf_perf_irq_event, ret, I32),
};

const FieldDesc kSoftirqFields[] = {
    LEAF_FIELD(leaf_perf_softirq_event, cpu, U32),
    LEAF_FIELD(leaf_perf_softirq_event, softirq_vec, U32),
    LEAF_FIELD_ENUM(leaf_perf_softirq_event, softirq_name, "softirq_name", &kSoftirqEnum),
    LEAF_FIELD(leaf_perf_softirq_event, duration_ns, DurationNs),
};

const FieldDesc kStatsFields[] = {
    LEAF_FIELD(leaf_perf_stats_record, interval_ns, DurationNs),
    LEAF_FIELD(leaf_perf_stats_record, ncpus, U32),
    LEAF_FIELD(leaf_perf_stats_record, context_switches, U64),
    LEAF_FIELD(leaf_perf_stats_record, preemptions, U64),
    LEAF_FIELD(leaf_perf_stats_record, irq_count, U64),
    LEAF_FIELD(leaf_perf_stats_record, softirq_count, U64),
    LEAF_FIELD_AS(leaf_perf_stats_record, truncated, "truncated", Bool, kFieldOmitZero),
    LEAF_FIELD(leaf_perf_stats_record, cpus, VarJson),
    LEAF_FIELD(leaf_perf_stats_record, irqs, VarJson),
    LEAF_FIELD(leaf_perf_stats_record, softirqs, VarJson),
    LEAF_FIELD(leaf_perf_stats_record, runq_latency, VarJson),
    LEAF_FIELD(leaf_perf_stats_record, raw_suppressed, VarJson),
};

template <class T, size_t N>
constexpr uint32_t count_of(const T (&)[N]) {
  return static_cast<uint32_t>(N);
}

}  // namespace

const EventTypeDesc kEventTypes[] = {
    {.name = "context_switch",
     .category = Category::Performance,
     .fields = kSwitchFields,
     .field_count = count_of(kSwitchFields),
     .fixed_size = sizeof(leaf_perf_context_switch_event),
     .max_size = sizeof(leaf_perf_context_switch_event),
     .key_field = nullptr,
     .description = "a CPU switched tasks (raw mode, rate-limited)"},
    {.name = "irq",
     .category = Category::Performance,
     .fields = kIrqFields,
     .field_count = count_of(kIrqFields),
     .fixed_size = sizeof(leaf_perf_irq_event),
     .max_size = sizeof(leaf_perf_irq_event),
     .key_field = nullptr,
     .description = "a hard IRQ handler ran (raw mode, rate-limited)"},
    {.name = "softirq",
     .category = Category::Performance,
     .fields = kSoftirqFields,
     .field_count = count_of(kSoftirqFields),
     .fixed_size = sizeof(leaf_perf_softirq_event),
     .max_size = sizeof(leaf_perf_softirq_event),
     .key_field = nullptr,
     .description = "a softirq vector ran (raw mode, rate-limited)"},
    {.name = "perf_stats",
     .category = Category::Metrics,
     .fields = kStatsFields,
     .field_count = count_of(kStatsFields),
     .fixed_size = sizeof(leaf_perf_stats_record),
     .max_size = PERF_STATS_MAX_SIZE,
     .key_field = nullptr,
     .description =
         "scheduler and interrupt activity of one interval, per CPU, IRQ and softirq vector"},
};
const uint32_t kEventTypeCount = count_of(kEventTypes);

}  // namespace leaf::performance
