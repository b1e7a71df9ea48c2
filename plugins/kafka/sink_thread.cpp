#include "sink_thread.hpp"

#include <pthread.h>

namespace leaf::kafka {

namespace {
// Messages delivered between two polls while the ring stays busy: delivery
// reports free the queue's room, and lock() is let go now and then for the
// dispatcher's read_counters().
constexpr int kChunk = 4096;
}  // namespace

SinkThread::SinkThread(Work& work, size_t ring_bytes, int64_t idle_ns)
    : work_(work), ring_(ring_bytes), idle_(idle_ns) {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "leaf-kafka");
}

bool SinkThread::push(int category, const char* key, size_t key_size, std::string_view json,
                      uint64_t timestamp_ns, int64_t stall_ns) {
  if (!ring_.push(category, key, key_size, json, timestamp_ns)) {
    if (stall_ns <= 0) return false;
    notify();
    uint64_t seen = ring_.consumed();
    auto stall = std::chrono::nanoseconds(stall_ns);
    auto since = std::chrono::steady_clock::now();
    do {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      auto now = std::chrono::steady_clock::now();
      if (uint64_t c = ring_.consumed(); c != seen) {
        seen = c;
        since = now;
      } else if (now - since >= stall) {
        return false;
      }
    } while (!ring_.push(category, key, key_size, json, timestamp_ns));
  }
  // A long batch: the thread starts on it before the batch ends.
  pushed_ += json.size() + key_size;
  if (pushed_ > ring_.capacity() / 8) notify();
  return true;
}

void SinkThread::wake() {
  if (pushed_ > 0) notify();
}

void SinkThread::notify() {
  pushed_ = 0;
  {
    std::lock_guard<std::mutex> l(wake_mu_);
    if (woken_) return;
    woken_ = true;
  }
  wake_cv_.notify_one();
}

// Delivers up to `max` messages; returns how many.
int SinkThread::deliver(int max) {
  int n = 0;
  for (const Handoff::Entry* m; n < max && (m = ring_.front()); ++n) {
    work_.on_message(*m);
    ring_.pop();
  }
  return n;
}

void SinkThread::drain() {
  while (deliver(kChunk) == kChunk) work_.on_poll();
}

void SinkThread::run() {
  for (bool last = false; !last;) {
    {
      std::unique_lock<std::mutex> w(wake_mu_);
      wake_cv_.wait_for(w, idle_, [&] { return woken_ || stop_; });
      woken_ = false;
      last = stop_;
    }
    std::lock_guard<std::mutex> l(mu_);
    // A chunk at a time, letting go of the lock in between; at the end, all.
    bool more = false;
    if (last)
      drain();
    else
      more = deliver(kChunk) == kChunk;
    work_.on_poll();
    if (more) {
      std::lock_guard<std::mutex> w(wake_mu_);
      woken_ = true;  // no sleep before the next chunk
    }
  }
}

void SinkThread::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> w(wake_mu_);
    stop_ = true;
  }
  wake_cv_.notify_one();
  thread_.join();
}

}  // namespace leaf::kafka
