// json-batch: the open batches, one per category and partition. A batch is a
// malloc()ed buffer of newline-terminated events, behind room for a Held
// header (held.hpp): the producer hands it to librdkafka without a copy and
// frees it after its delivery report, so an event is copied once, into its
// batch, and never again by the sink.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "held.hpp"
#include "sink_config.hpp"

namespace leaf::kafka {

class Batch {
 public:
  Batch() = default;
  ~Batch() { std::free(block()); }
  Batch(Batch&& o) noexcept { *this = std::move(o); }
  Batch& operator=(Batch&& o) noexcept {
    std::swap(data_, o.data_);
    size_ = o.size_;
    capacity_ = o.capacity_;
    events_ = o.events_;
    first_event_ns_ = o.first_event_ns_;
    opened_ns_ = o.opened_ns_;
    refused_ = o.refused_;
    return *this;
  }

  // Appends `json` and a newline; `capacity` is the size a new buffer gets
  // (the batch's size limit: a batch fills without a realloc).
  void append(const char* json, size_t size, uint64_t event_ns, int64_t now_ns, size_t capacity) {
    if (size_ + size + 1 > capacity_) grow(std::max(capacity, size_ + size + 1));
    std::memcpy(data_ + size_, json, size);
    data_[size_ + size] = '\n';
    size_ += size + 1;
    if (events_++ == 0) {
      first_event_ns_ = event_ns;
      opened_ns_ = now_ns;
    }
  }

  // Gives back the unused tail of a buffer much larger than its content
  // (glibc shrinks in place), so that memory queued in librdkafka is what the
  // queue's bound counts.
  void shrink_to_fit() {
    if (capacity_ - size_ < 4096) return;
    if (char* p = static_cast<char*>(std::realloc(block(), kHeadroom + size_))) {
      data_ = p + kHeadroom;
      capacity_ = size_;
    }
  }

  // After the producer took the buffer: the batch is empty and has none.
  void released() {
    data_ = nullptr;
    clear();
  }
  // After the batch failed (counted): empty, keeping the buffer.
  void clear() {
    size_ = 0;
    events_ = 0;
    refused_ = false;
    if (!data_) capacity_ = 0;
  }

  // The events; a Held header fits in front of them (Held::of(data())).
  char* data() const { return data_; }
  size_t size() const { return size_; }
  uint32_t events() const { return events_; }
  uint64_t first_event_ns() const { return first_event_ns_; }
  int64_t opened_ns() const { return opened_ns_; }  // CLOCK_MONOTONIC
  // librdkafka refused it on a full queue: it goes first when room comes.
  bool refused() const { return refused_; }
  void set_refused() { refused_ = true; }

 private:
  static constexpr size_t kHeadroom = sizeof(Held);
  char* block() const { return data_ ? data_ - kHeadroom : nullptr; }
  void grow(size_t capacity) {
    char* p = static_cast<char*>(std::realloc(block(), kHeadroom + capacity));
    if (!p) throw std::bad_alloc();
    data_ = p + kHeadroom;
    capacity_ = capacity;
  }

  char* data_ = nullptr;
  size_t size_ = 0, capacity_ = 0;
  uint32_t events_ = 0;
  uint64_t first_event_ns_ = 0;
  int64_t opened_ns_ = 0;
  bool refused_ = false;
};

// The batches of every category, indexed by partition.
class Batches {
 public:
  // The batch of (category, partition) on a topic of `count` partitions.
  Batch& at(int category, int32_t partition, int32_t count) {
    auto& v = by_category_[category];
    if (static_cast<int32_t>(v.size()) < count) v.resize(count);
    return v[partition];
  }

  // Calls fn(category, partition, batch) for each batch holding events.
  template <class Fn>
  void for_each_open(Fn&& fn) {
    for (size_t c = 0; c < kCategories; ++c)
      for (size_t p = 0; p < by_category_[c].size(); ++p)
        if (by_category_[c][p].events() > 0)
          fn(static_cast<int>(c), static_cast<int32_t>(p), by_category_[c][p]);
  }

  uint64_t events() const {
    uint64_t n = 0;
    for (const auto& v : by_category_)
      for (const auto& b : v) n += b.events();
    return n;
  }

 private:
  std::array<std::vector<Batch>, kCategories> by_category_;
};

}  // namespace leaf::kafka
