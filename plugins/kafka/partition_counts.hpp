// json-batch: the partition count of each category's topic, which the
// partitioner needs before a batch is formed. librdkafka has no call that
// reads its cached count without asking a broker, and asking blocks, so a
// thread of this class asks (rd_kafka_metadata, thread-safe) and the
// dispatcher only reads an atomic. It asks at once, then every 500 ms while
// a topic's count is unknown and every `refresh` after that (partitions
// added to a topic are seen within that time).
#pragma once

#include <librdkafka/rdkafka.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "sink_config.hpp"

namespace leaf::kafka {

class PartitionCounts {
 public:
  PartitionCounts(rd_kafka_t* rk, const std::array<rd_kafka_topic_t*, kCategories>& topics,
                  std::chrono::milliseconds refresh);
  ~PartitionCounts();  // stops the thread; waits at most for one metadata request
  PartitionCounts(const PartitionCounts&) = delete;
  PartitionCounts& operator=(const PartitionCounts&) = delete;

  // The count of category `cat`'s topic; 0 while unknown.
  int32_t get(int cat) const { return counts_[cat].load(std::memory_order_relaxed); }
  // Takes the counts of our topics from a metadata answer got elsewhere.
  void update(const rd_kafka_metadata_t& md);
  // A count known before (a producer recreated after a fatal error starts
  // with its predecessor's counts); one already read stays.
  void seed(int cat, int32_t count) {
    int32_t unknown = 0;
    if (count > 0) counts_[cat].compare_exchange_strong(unknown, count, std::memory_order_relaxed);
  }

 private:
  void run();
  bool all_known() const;

  rd_kafka_t* rk_;
  std::array<rd_kafka_topic_t*, kCategories> topics_;
  std::chrono::milliseconds refresh_;
  std::array<std::atomic<int32_t>, kCategories> counts_{};
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace leaf::kafka
