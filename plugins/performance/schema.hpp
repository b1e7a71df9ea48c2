// The performance plugin's event types and configuration options.
#pragma once

#include <leaf/sdk/abi.h>

#include "performance.h"

namespace leaf::performance {

// Indexed by enum leaf_perf_event_type.
extern const sdk::EventTypeDesc kEventTypes[];
extern const uint32_t kEventTypeCount;

// The kernel's names of the softirq vectors, by vector number.
extern const char* const kSoftirqNames[PERF_SOFTIRQ_VECS];

// The raw event types, by raw index (0 context_switch, 1 irq, 2 softirq).
extern const char* const kRawTypeNames[PERF_RAW_TYPES];

}  // namespace leaf::performance
