// Delivery accounting of the Kafka sink: what was produced, delivered,
// dropped, re-sent and failed (by reason). Written on the dispatcher thread
// (librdkafka callbacks are served there too); readable from any thread.
#pragma once

#include <atomic>
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

struct DeliveryCounters {
  Counter produced;            // accepted into librdkafka's queue
  Counter delivered;           // acknowledged by the broker (delivery reports)
  Counter dropped_queue_full;  // refused by write() after the bounded wait (Status::Again)
  Counter resent_queued;       // re-sent after a producer restart; never reached the broker
  Counter resent_in_flight;    // re-sent after a restart while unacknowledged: may be duplicates
  Counter restarts;            // producer recreated after a fatal error

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
