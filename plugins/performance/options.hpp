// The performance plugin's configuration options (conf.d/performance.toml).
// Defined in the header so that LEAF_PLUGIN sees the array's length.
#pragma once

#include <leaf/sdk/config.h>

namespace leaf::performance {

using sdk::ConfigOption;
using sdk::OptionType;

inline constexpr ConfigOption kOptions[] = {
    {"interval", OptionType::Duration, "\"10s\"", 100'000'000, 3600'000'000'000, nullptr,
     "how often a perf_stats snapshot is emitted"},
    {"aggregates", OptionType::StringList, "[\"cpu\", \"irq\", \"softirq\", \"runq\"]", 0, 0,
     nullptr,
     "aggregates kept in the kernel: cpu (switches, preemptions), irq, softirq, runq (run-queue "
     "latency), wakeups (sched_wakeup count per CPU; not in the default: it loads two more "
     "hooks)"},
    {"runq.source", OptionType::String, "\"auto\"", 0, 0, "auto|kernel|table",
     "where run-queue waits come from: kernel (the scheduler's own sched_info queue time, "
     "read at the switch: cheapest; needs CONFIG_SCHED_INFO and CONFIG_FAIR_GROUP_SCHED), "
     "table (wakeup and preemption times kept by the plugin), auto (kernel when available)"},
    {"raw.context_switch", OptionType::Bool, "false", 0, 0, nullptr,
     "also emit one context_switch event per switch (rate-limited)"},
    {"raw.irq", OptionType::Bool, "false", 0, 0, nullptr,
     "also emit one irq event per hard IRQ handler run (rate-limited)"},
    {"raw.softirq", OptionType::Bool, "false", 0, 0, nullptr,
     "also emit one softirq event per softirq run (rate-limited)"},
    {"raw.rate_limit", OptionType::Int, "1000", 1, 100'000'000, nullptr,
     "raw events per second per CPU, for each raw event type"},
    {"raw.burst", OptionType::Int, "1000", 1, 100'000'000, nullptr,
     "raw events a CPU may send at once above the rate, for each raw event type"},
    {"ring_buffer_size", OptionType::Size, "\"1M\"", 4096, 1LL << 30, nullptr,
     "ring buffer for raw events, bytes (rounded up to a power of two; 4K when raw mode is off)"},
    {"hooks.skip", OptionType::StringList, "[]", 0, 0, nullptr,
     "hook kinds not to use even when available (tp_btf, raw_tp)"},
};

}  // namespace leaf::performance
