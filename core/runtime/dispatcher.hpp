// The dispatcher: one Boost.Asio io_context thread that drains every
// plugin's BPF ring buffers, runs plugin timers and hands records to the
// pipeline.
//
// Each ring gets a libbpf ring_buffer of its own and its map fd is watched
// by Asio directly (not libbpf's epoll fd: nested epoll under Asio's
// edge-triggered reactor would stop waking once the inner set stays ready).
// The kernel wakes a ring's waiters only when its consumer has caught up, so
// the handler re-arms *before* it consumes: a record that lands after the
// consume still finds a waiter, and one that lands before it is consumed.
#pragma once

#include <leaf/sdk/abi.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/pipeline.hpp"

struct ring_buffer;

namespace leaf::core {

// "invalid argument" for sdk::Status::InvalidArgument, for log lines.
const char* status_text(sdk::Status s);

class Dispatcher {
 public:
  // Who registered a ring or timer; rings are drained and timers cancelled per owner.
  using Owner = const void*;

  Dispatcher(boost::asio::io_context& io, Pipeline& pipeline);
  ~Dispatcher();

  // Returns an empty string, or why the ring cannot be used. `types`: the
  // registered types of reg.types, in its order (a record's type index).
  std::string add_ring(Owner owner, const std::string& plugin,
                       const sdk::RingBufferRegistration& reg, sdk::IHost* host_for_decoder,
                       std::vector<TypeInfo> types);
  void add_timer(Owner owner, std::chrono::nanoseconds interval, std::function<void()> fn);

  // Consumes what the owner's rings still hold, then forgets them and its
  // timers. Call after the plugin detached its programs.
  void remove_owner(Owner owner);

  // Reads the kernel's per-type counters of every ring of `owner`.
  struct KernelCounts {
    std::string type;
    uint64_t emitted = 0, lost = 0;
  };
  std::vector<KernelCounts> kernel_counts(Owner owner) const;

  // How full each ring of `owner` has been since the previous call: the
  // highest fill (0..1) seen when a drain started or now (ring_fill.hpp).
  struct RingFillRatio {
    std::string ring;
    double ratio = 0;
  };
  std::vector<RingFillRatio> ring_fill(Owner owner);

  // While rings deliver, drain them all every `interval` (records submitted
  // without a wakeup wait at most that long); the tick stops once a drain
  // finds nothing and restarts at the next wakeup. 0: no tick.
  //
  // Under a steady flow the tick alone drains everything, yet each plugin's
  // BPF programs still force a wakeup every `interval` (bpf/leaf.bpf.h): up
  // to one context switch per ring and interval on top of the tick's. So
  // after kBusyTicks ticks in a row with records since the previous one (by
  // the tick or a wakeup), the rings leave the epoll set (their wakeups find
  // no waiter); they rejoin it when the tick stops, followed by one more
  // drain for what came in between.
  void set_drain_interval(std::chrono::nanoseconds interval) { drain_interval_ = interval; }
  std::chrono::nanoseconds drain_interval() const { return drain_interval_; }

  // And at every tick with records, the dispatcher writes into each ring's
  // BPF object (RingBufferRegistration::ticking_map_fd, the word
  // leaf_consumer_ticking_until_ns of bpf/leaf.bpf.h) a time two intervals
  // ahead: records stamped before it are submitted without a forced wakeup
  // at all, which spares the process that made the event the ring's
  // irq_work. The tick then runs at least one interval past that time.
  //
  // Read from any thread (tests, metrics): whether the tick runs, whether
  // the rings are out of the epoll set now, and how often they left it.
  bool ticking() const { return ticking_.load(std::memory_order_relaxed); }
  bool rings_unwatched() const { return unwatched_.load(std::memory_order_relaxed); }
  uint64_t unwatch_count() const { return unwatch_count_.load(std::memory_order_relaxed); }

  Pipeline& pipeline() { return pipeline_; }
  boost::asio::io_context& io() { return io_; }

 private:
  struct Ring;
  struct Timer;
  void arm(const std::shared_ptr<Ring>& r);
  void arm(const std::shared_ptr<Timer>& t);
  static int on_sample(void* ctx, void* data, size_t size);
  // Counts a record the ring's decoder refused, per plugin and type (the
  // record header's type index); logs the first one per type.
  void decode_failed(Ring& r, const uint8_t* record, size_t size, sdk::Status status);
  // Consumes at most kBatch records of one ring, then lets sinks poll
  // (unless the caller does it after several rings); reposts itself while the
  // ring has more (see on_sample).
  void drain(Ring* r, bool poll_sinks = true);
  void kick_drain();
  void drain_tick();
  void drain_all();
  void unwatch_rings();
  // Tells every ring's BPF object until when the tick drains it.
  void publish_ticking();
  // false when a ring could not rejoin the epoll set (the tick must go on).
  bool rewatch_rings();

  boost::asio::io_context& io_;
  Pipeline& pipeline_;
  std::vector<std::shared_ptr<Ring>> rings_;  // pending waits hold them weakly
  // Shared with nothing: the pending wait holds a weak_ptr, because a wait
  // that has completed is queued in io_ and runs even after cancel().
  std::vector<std::shared_ptr<Timer>> timers_;
  // Records per drain before sinks get their poll(): under sustained load
  // ring_buffer__consume() would otherwise never return (the kernel keeps
  // writing), and the Kafka sink would never serve its delivery reports.
  static constexpr int kBatch = 1024;
  int batch_left_ = kBatch;
  std::chrono::nanoseconds drain_interval_{0};
  // When a ring last woke us. BPF programs skip the wakeup for records that
  // come within drain_interval_ of their last forced one (which is no later
  // than this), so the tick must run on until that window has passed.
  std::chrono::steady_clock::time_point last_wakeup_{};
  // Whether any drain found records since the previous tick; when a tick
  // last saw that, and how many ticks in a row did.
  bool flowed_ = false;
  std::chrono::steady_clock::time_point last_flow_{};
  int busy_ticks_ = 0;
  // The last time published by publish_ticking().
  std::chrono::steady_clock::time_point ticking_until_{};
  std::atomic<bool> ticking_{false};
  static constexpr int kBusyTicks = 2;
  std::atomic<bool> unwatched_{false};
  std::atomic<uint64_t> unwatch_count_{0};
  std::unique_ptr<boost::asio::steady_timer> drain_timer_;
  bool drain_armed_ = false;
};

}  // namespace leaf::core
