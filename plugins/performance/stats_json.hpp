// The perf_stats record: host-wide totals in fixed fields, the tables as JSON
// in the record's tail (VarJson fields), ready for IHost::emit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stats_reader.hpp"

namespace leaf::performance {

// `timestamp_ns` is CLOCK_MONOTONIC; `type` the perf_stats index. The record
// never exceeds PERF_STATS_MAX_SIZE: when the tables do not fit, per-IRQ
// detail is dropped first, then the least busy IRQs, and `truncated` is set.
std::vector<uint8_t> build_stats_record(const StatsDelta& d, uint64_t timestamp_ns, uint16_t type);

// A log2 histogram as a JSON array of counts, trailing empty slots left out.
std::string hist_json(const leaf_perf_hist& h);

// The upper bound (ns) of the slot holding the q-quantile (0 < q <= 1) of a
// log2 histogram, 0 when it is empty.
uint64_t hist_quantile_ns(const leaf_perf_hist& h, double q);

}  // namespace leaf::performance
