#include "partition_counts.hpp"

#include <cstring>

namespace leaf::kafka {

namespace {
constexpr int kRequestTimeoutMs = 500;  // bounds how long the destructor may wait
constexpr std::chrono::milliseconds kRetry{500};
}  // namespace

PartitionCounts::PartitionCounts(rd_kafka_t* rk,
                                 const std::array<rd_kafka_topic_t*, kCategories>& topics,
                                 std::chrono::milliseconds refresh)
    : rk_(rk), topics_(topics), refresh_(refresh) {
  thread_ = std::thread([this] { run(); });
}

PartitionCounts::~PartitionCounts() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }  // under the lock: the thread cannot miss the wake-up between its check and its wait
  cv_.notify_all();
  thread_.join();
}

void PartitionCounts::update(const rd_kafka_metadata_t& md) {
  for (int t = 0; t < md.topic_cnt; ++t) {
    const rd_kafka_metadata_topic_t& mt = md.topics[t];
    if (mt.err || mt.partition_cnt <= 0) continue;
    for (size_t c = 0; c < kCategories; ++c)
      if (std::strcmp(mt.topic, rd_kafka_topic_name(topics_[c])) == 0)
        counts_[c].store(mt.partition_cnt, std::memory_order_relaxed);
  }
}

bool PartitionCounts::all_known() const {
  for (const auto& c : counts_)
    if (c.load(std::memory_order_relaxed) == 0) return false;
  return true;
}

void PartitionCounts::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    for (size_t c = 0; c < kCategories && !stop_; ++c) {
      const rd_kafka_metadata_t* md = nullptr;
      if (rd_kafka_metadata(rk_, 0, topics_[c], &md, kRequestTimeoutMs) == 0 && md) update(*md);
      if (md) rd_kafka_metadata_destroy(md);
    }
    lock.lock();
    cv_.wait_for(lock, all_known() ? refresh_ : kRetry, [this] { return stop_.load(); });
  }
}

}  // namespace leaf::kafka
