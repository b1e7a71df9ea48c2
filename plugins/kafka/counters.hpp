// Delivery accounting of the Kafka sink: what was produced, delivered,
// dropped, re-sent and failed (by reason). Written on the dispatcher thread
// (librdkafka callbacks are served there too); readable from any thread.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace leaf::kafka {

// A counter with one writer: a plain load/store, no locked instruction on
// the hot path, readable from other threads.
class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Event time -> broker acknowledgement, one bucket per power of two
// nanoseconds (bucket i: up to 2^i ns), reported to the host as the
// histogram kafka_ack_latency_seconds (ICounterVisitor::histogram).
class AckLatency {
 public:
  void observe(int64_t ns, uint64_t times = 1) {
    uint64_t v = ns > 0 ? static_cast<uint64_t>(ns) : 0;
    buckets_[v <= 1 ? 0 : 64 - std::countl_zero(v - 1)].add(times);
    sum_ns_.add(v * times);
  }
  uint64_t bucket(int i) const { return buckets_[i].get(); }
  uint64_t sum_ns() const { return sum_ns_.get(); }
  static constexpr int kBuckets = 65;  // the last: over 2^63 ns

 private:
  std::array<Counter, kBuckets> buckets_;
  Counter sum_ns_;
};

struct DeliveryCounters {
  // The reasons every sink can meet are exported at 0 from the start, so
  // dashboards and rate() see a series before the first failure.
  DeliveryCounters() : failed_{{"queue_full", 0}, {"msg_timed_out", 0}, {"shutdown", 0}} {}

  Counter produced;            // events accepted into librdkafka's queue
  Counter batches;             // json-batch messages accepted into librdkafka's queue
  Counter delivered;           // acknowledged by the broker (delivery reports)
  Counter dropped_queue_full;  // refused by write() after the bounded wait (Status::Again)
  Counter resent_queued;       // re-sent after a producer restart; never reached the broker
  Counter resent_in_flight;    // re-sent after a restart while unacknowledged: may be duplicates
  Counter restarts;            // producer recreated after a fatal error
  AckLatency ack_latency;      // of the delivered messages whose event time is known

  // Failures by reason (librdkafka error name, "queue_full", "shutdown"...).
  void fail(const std::string& reason, uint64_t n = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    failed_[reason] += n;
  }
  std::map<std::string, uint64_t> failures() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_;
  }
  uint64_t failed_total() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t n = 0;
    for (const auto& [reason, count] : failed_) n += count;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> failed_;
};

}  // namespace leaf::kafka
