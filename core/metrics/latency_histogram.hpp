// A latency histogram cheap enough for the per-event path: one bucket per
// power of two nanoseconds, plain integers, no locks, no allocation.
//
// Written and read on the dispatcher thread only (the /metrics scrape runs
// on the same io_context thread), so no atomics are needed; the scrape
// copies the counts.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <ctime>

namespace leaf::core {

class Log2Histogram {
 public:
  // Bucket i counts values v with 2^(i-1) < v <= 2^i ns (bucket 0: v <= 1);
  // bucket 64 catches v > 2^63.
  static constexpr int kBuckets = 65;

  static int bucket_of(uint64_t ns) { return ns <= 1 ? 0 : 64 - std::countl_zero(ns - 1); }

  // A negative latency (clock adjustments, a plugin's odd timestamp) counts as 0.
  void observe(int64_t ns) {
    uint64_t v = ns > 0 ? static_cast<uint64_t>(ns) : 0;
    ++counts_[bucket_of(v)];
    sum_ns_ += v;
  }

  // Upper bound in nanoseconds of bucket i (i < 64).
  static uint64_t upper_bound_ns(int i) { return uint64_t{1} << i; }

  const std::array<uint64_t, kBuckets>& counts() const { return counts_; }
  uint64_t sum_ns() const { return sum_ns_; }
  uint64_t count() const {
    uint64_t n = 0;
    for (uint64_t c : counts_) n += c;
    return n;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t sum_ns_ = 0;
};

// The "now" the latency observations use: CLOCK_MONOTONIC read once every
// kReuse events and again after every batch (invalidate()). An observation
// may then end up to kReuse-1 events' processing time early (a few
// microseconds), which the log2 buckets do not resolve anyway; the clock read
// (~20 ns in a VM) drops off the per-event cost.
class AmortizedNow {
 public:
  static constexpr uint32_t kReuse = 16;

  int64_t now() {
    if (left_ == 0) {
      timespec t;
      clock_gettime(CLOCK_MONOTONIC, &t);
      now_ = int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
      left_ = kReuse;
    }
    --left_;
    return now_;
  }
  void invalidate() { left_ = 0; }

 private:
  int64_t now_ = 0;
  uint32_t left_ = 0;
};

}  // namespace leaf::core
