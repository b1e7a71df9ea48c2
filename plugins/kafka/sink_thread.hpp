// The Kafka sink on a thread of its own (option `thread = true`).
//
// Why: with one Kafka message per event, librdkafka's per-message calls
// (rd_kafka_producev, and rd_kafka_poll serving delivery reports) are over
// half of the dispatcher thread's time at high rates
// (bench/results/2026-11-28-2core/dispatcher-profiles.txt), so one thread
// doing both the pipeline and the producing cannot keep up with a bare
// producer whose thread only produces. Here the dispatcher's write() only
// copies the message into a ring (handoff.hpp); this thread hands the
// messages, in order, to the sink's logic (produce, json-batch batches,
// the spool) and serves librdkafka's callbacks. Where cores are free the two
// halves run side by side.
//
// The sink's state belongs to whoever holds lock(): this thread while it
// delivers and polls, the dispatcher for flush(), read_counters() and
// healthy(). One lock, no finer sharing: the exactly-once logic runs as it
// does without the thread, one caller at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <thread>

#include "handoff.hpp"

namespace leaf::kafka {

class SinkThread {
 public:
  // What the thread runs, under lock().
  class Work {
   public:
    virtual void on_message(const Handoff::Entry& message) = 0;
    virtual void on_poll() = 0;

   protected:
    ~Work() = default;
  };

  // ring_bytes: the hand-off ring's size; idle_ns: how often the thread
  // polls while no message comes (librdkafka's callbacks, batch ages).
  SinkThread(Work& work, size_t ring_bytes, int64_t idle_ns);
  ~SinkThread() { stop(); }
  SinkThread(const SinkThread&) = delete;
  SinkThread& operator=(const SinkThread&) = delete;

  // Dispatcher: copies the message into the ring. When the ring is full it
  // waits for room as long as the thread makes progress, as the dispatcher
  // would wait for the same work without the thread (the kernel's ring
  // buffers absorb the burst meanwhile); false once the thread made none
  // for stall_ns (stuck), or at once with stall_ns 0.
  bool push(int category, const char* key, size_t key_size, std::string_view json,
            uint64_t timestamp_ns, int64_t stall_ns);
  // Dispatcher, after a batch of push()es: the thread delivers them now.
  void wake();
  // Dispatcher: wakes the thread whether or not anything was pushed.
  void notify();
  // Delivers every message in the ring; the caller holds lock().
  void drain();
  std::mutex& lock() const { return mu_; }
  // Delivers what the ring holds, polls once more and joins the thread.
  void stop();

 private:
  void run();
  int deliver(int max);

  Work& work_;
  Handoff ring_;
  std::chrono::nanoseconds idle_;
  mutable std::mutex mu_;  // the sink's state
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;  // under wake_mu_
  bool stop_ = false;   // under wake_mu_
  size_t pushed_ = 0;   // dispatcher: bytes pushed since the last wake()
  std::thread thread_;
};

}  // namespace leaf::kafka
