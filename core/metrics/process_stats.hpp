// The host process's own resource use, from /proc/self: CPU time, memory,
// threads, open file descriptors.
#pragma once

#include <cstdint>
#include <optional>

namespace leaf::core::metrics {

struct ProcessSample {
  int64_t taken_ns = 0;    // CLOCK_MONOTONIC when read
  double cpu_seconds = 0;  // user + system time of every thread
  uint64_t rss_bytes = 0;  // resident set size
  uint64_t virtual_bytes = 0;
  uint64_t threads = 0;
  uint64_t open_fds = 0;
};

// Reads /proc/self/stat and /proc/self/fd. Empty when /proc is unreadable.
std::optional<ProcessSample> read_process_sample();

// CPU use in percent of one core over the last interval of at least
// `min_interval_ns` between samples (the first interval starts when the
// tracker is made), so scrapes closer together than that do not report
// the noise of a few milliseconds.
class CpuUsage {
 public:
  explicit CpuUsage(int64_t min_interval_ns = 1'000'000'000);
  double percent(const ProcessSample& now);

 private:
  int64_t min_interval_ns_;
  ProcessSample base_;
  double last_percent_ = 0;
};

}  // namespace leaf::core::metrics
