#include "runtime/dispatcher.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include "leaf_event.h"
#include "runtime/ring_fill.hpp"
#include "runtime/ticking_word.hpp"

namespace leaf::core {

namespace asio = boost::asio;

const char* status_text(sdk::Status s) {
  switch (s) {
    case sdk::Status::Ok:
      return "ok";
    case sdk::Status::Error:
      return "error";
    case sdk::Status::InvalidArgument:
      return "invalid argument";
    case sdk::Status::InvalidConfig:
      return "invalid configuration";
    case sdk::Status::NotSupported:
      return "not supported";
    case sdk::Status::Again:
      return "try again";
  }
  return "unknown status";
}

struct Dispatcher::Ring : std::enable_shared_from_this<Ring> {
  Dispatcher* self = nullptr;
  Owner owner = nullptr;
  std::string plugin;
  ring_buffer* rb = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> watch;
  std::vector<TypeInfo> types;
  sdk::IRecordDecoder* decoder = nullptr;
  sdk::IHost* host = nullptr;
  int counters_fd = -1;
  RingFill fill;
  TickingWord ticking;  // not ok(): the BPF side forces its wakeups as before
  bool closed = false;
  bool drain_posted = false;
  // Out of the epoll set (Dispatcher::unwatch_rings): `watch` holds no
  // descriptor, this is the one it released.
  bool watching = false;
  int idle_fd = -1;
  bool rewatch_failed = false;  // logged once per episode

  ~Ring() {
    if (watch) {
      boost::system::error_code ec;
      watch->cancel(ec);
      watch->close(ec);
    }
    if (idle_fd >= 0) close(idle_fd);
    if (rb) ring_buffer__free(rb);
    if (counters_fd >= 0) close(counters_fd);
  }
};

struct Dispatcher::Timer {
  Owner owner = nullptr;
  std::chrono::nanoseconds interval{};
  std::function<void()> fn;
  std::unique_ptr<asio::steady_timer> timer;
  std::chrono::steady_clock::time_point next;
};

Dispatcher::Dispatcher(asio::io_context& io, Pipeline& pipeline) : io_(io), pipeline_(pipeline) {}

Dispatcher::~Dispatcher() {
  drain_timer_.reset();
  timers_.clear();
  rings_.clear();
}

void Dispatcher::kick_drain() {
  if (drain_armed_ || drain_interval_.count() == 0) return;
  if (!drain_timer_) drain_timer_ = std::make_unique<asio::steady_timer>(io_);
  drain_armed_ = true;
  ticking_.store(true, std::memory_order_relaxed);
  drain_timer_->expires_after(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(drain_interval_));
  drain_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    drain_armed_ = false;
    drain_tick();
  });
}

void Dispatcher::drain_all() {
  // Sinks poll once per tick, after every ring: a sink that closes batches at
  // its poll (Kafka json-batch) makes one message per partition per tick, not
  // one per ring that feeds the partition's topic.
  for (auto& r : rings_)
    if (!r->closed) drain(r.get(), false);
  pipeline_.end_batch();
}

void Dispatcher::drain_tick() {
  auto now = std::chrono::steady_clock::now();
  drain_all();
  // Records came since the previous tick (drained by it or by a wakeup).
  if (std::exchange(flowed_, false)) {
    last_flow_ = now;
    if (++busy_ticks_ >= kBusyTicks) unwatch_rings();
    publish_ticking();
  } else {
    busy_ticks_ = 0;
  }
  // Stop only when no record can still be waiting without a wakeup we see:
  // BPF forces one for every record after its last forced wakeup's window,
  // which is no later than the last wakeup we saw or, while the rings are
  // out of the epoll set (their wakeups unseen), the last tick with records;
  // and it forces none for records stamped before the time we published.
  // One interval more: records stamped before a drain may be submitted after it.
  auto quiet = now - std::max(last_wakeup_, last_flow_);
  if (quiet < 2 * drain_interval_ || now < ticking_until_ + drain_interval_) {
    kick_drain();
    return;
  }
  ticking_.store(false, std::memory_order_relaxed);
  if (!unwatched_.load(std::memory_order_relaxed)) return;
  // Back into the epoll set, then take what came since the last drain:
  // its wakeups (if any) found no waiter.
  bool rewatched = rewatch_rings();
  drain_all();
  if (!rewatched || flowed_) kick_drain();
}

void Dispatcher::publish_ticking() {
  // Past the next tick (one interval away, plus this thread's latency).
  ticking_until_ = std::chrono::steady_clock::now() + 2 * drain_interval_;
  // steady_clock is CLOCK_MONOTONIC on Linux, the clock of bpf_ktime_get_ns().
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(ticking_until_.time_since_epoch());
  for (auto& r : rings_)
    if (!r->closed) r->ticking.store(static_cast<uint64_t>(ns.count()));
}

void Dispatcher::unwatch_rings() {
  for (auto& r : rings_) {
    if (r->closed || !r->watching) continue;
    // Cancels the pending wait (its handler sees operation_aborted) and
    // removes the descriptor from the epoll set (EPOLL_CTL_DEL).
    r->idle_fd = r->watch->release();
    r->watching = false;
  }
  if (!unwatched_.exchange(true, std::memory_order_relaxed))
    unwatch_count_.fetch_add(1, std::memory_order_relaxed);
}

bool Dispatcher::rewatch_rings() {
  bool all = true;
  for (auto& r : rings_) {
    if (r->watching || r->idle_fd < 0) continue;
    boost::system::error_code ec;
    r->watch->assign(r->idle_fd, ec);  // EPOLL_CTL_ADD
    if (ec) {
      // The tick goes on and tries again; records are drained meanwhile.
      if (!r->rewatch_failed)
        spdlog::warn("[{}] ring buffer: back to wakeups failed ({}), draining on the tick",
                     r->plugin, ec.message());
      r->rewatch_failed = true;
      all = false;
      continue;
    }
    if (r->rewatch_failed) spdlog::info("[{}] ring buffer: back to wakeups", r->plugin);
    r->rewatch_failed = false;
    r->idle_fd = -1;
    r->watching = true;
    arm(r);
  }
  if (all) unwatched_.store(false, std::memory_order_relaxed);
  return all;
}

// A negative return stops ring_buffer__consume() after this record: libbpf
// (1.1.2 included) has already moved the consumer position past it, so the
// record is neither lost nor seen again.
int Dispatcher::on_sample(void* ctx, void* data, size_t size) {
  auto* r = static_cast<Ring*>(ctx);
  const auto* rec = static_cast<const uint8_t*>(data);
  if (r->decoder) {
    sdk::Status s = r->decoder->decode(rec, static_cast<uint32_t>(size), r->host);
    if (s != sdk::Status::Ok) r->self->decode_failed(*r, rec, size, s);
  } else {
    r->self->pipeline_.handle(r->plugin, r->types, rec, static_cast<uint32_t>(size));
  }
  return --r->self->batch_left_ > 0 ? 0 : -EAGAIN;
}

void Dispatcher::decode_failed(Ring& r, const uint8_t* record, size_t size, sdk::Status status) {
  leaf_event_header h{};
  if (size >= sizeof(h)) std::memcpy(&h, record, sizeof(h));
  if (size < sizeof(h) || h.type >= r.types.size()) {
    // No type to count it under: the pipeline's unknown-type counter.
    pipeline_.count_unknown_type();
    return;
  }
  TypeStats& t = *r.types[h.type].stats;
  bump(t.decode_failed);
  t.last_decode_status.store(static_cast<int32_t>(status), std::memory_order_relaxed);
  if (t.decode_failure_logged) return;  // later ones: Host::log_losses, every stats_interval
  t.decode_failure_logged = true;
  spdlog::warn(
      "[{}] the plugin's decoder refused a {} record ({} bytes): {}; counted in "
      "leaf_events_decode_failed_total, further ones reported every stats_interval",
      r.plugin, t.type, size, status_text(status));
}

void Dispatcher::drain(Ring* r, bool poll_sinks) {
  r->fill.sample();  // two loads: the peak a scrape reports
  batch_left_ = kBatch;
  int n = ring_buffer__consume(r->rb);
  flowed_ = flowed_ || batch_left_ < kBatch;
  if (poll_sinks) pipeline_.end_batch();
  if (n == -EAGAIN && !r->closed && !r->drain_posted) {
    // More is waiting: yield to other work (timers, other rings, /metrics),
    // then go on.
    r->drain_posted = true;
    // Weakly, as the waits: the ring may be removed before this runs.
    asio::post(io_, [this, weak = r->weak_from_this()] {
      auto ring = weak.lock();
      if (!ring) return;
      ring->drain_posted = false;
      if (!ring->closed) drain(ring.get());
    });
  }
}

std::string Dispatcher::add_ring(Owner owner, const std::string& plugin,
                                 const sdk::RingBufferRegistration& reg, sdk::IHost* host,
                                 std::vector<TypeInfo> types) {
  // ABI 2.0's registration ends at type_size; 2.1 added the ticking word.
  constexpr uint32_t kSize20 = offsetof(sdk::RingBufferRegistration, reserved);
  constexpr uint32_t kSize21 = offsetof(sdk::RingBufferRegistration, ticking_offset) + 4;
  if (reg.struct_size < kSize20)
    return "registration of " + std::to_string(reg.struct_size) + " bytes, ABI 2.0's has " +
           std::to_string(kSize20);
  if (reg.ringbuf_map_fd < 0) return "no ring buffer map";
  auto r = std::make_shared<Ring>();
  r->self = this;
  r->owner = owner;
  r->plugin = plugin;
  r->decoder = reg.decoder;
  r->host = host;
  r->types = std::move(types);
  if (reg.counters_map_fd >= 0) {
    r->counters_fd = dup(reg.counters_map_fd);
  }
  // Without the fill metric the ring still runs (the reason is logged once).
  if (std::string why = r->fill.open(reg.ringbuf_map_fd); !why.empty())
    spdlog::warn("[{}] leaf_ringbuf_fill_ratio not available for this ring: {}", plugin, why);
  // Without the word the BPF side forces its wakeups as before (logged once).
  if (reg.struct_size >= kSize21 && reg.ticking_map_fd >= 0) {
    if (std::string why = r->ticking.open(reg.ticking_map_fd, reg.ticking_offset); !why.empty())
      spdlog::warn("[{}] ring buffer: the BPF side keeps forcing wakeups while the tick drains: {}",
                   plugin, why);
  }
  r->rb = ring_buffer__new(reg.ringbuf_map_fd, &Dispatcher::on_sample, r.get(), nullptr);
  if (!r->rb) return std::string("ring_buffer__new: ") + std::strerror(errno);
  int fd = dup(reg.ringbuf_map_fd);
  if (fd < 0) return std::string("dup: ") + std::strerror(errno);
  r->watch = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  r->watching = true;
  rings_.push_back(r);
  arm(r);
  // Records written before the first wait would raise no wakeup: take them now.
  drain(r.get());
  return {};
}

// As for timers (below): a wait that completed before remove_owner() still
// runs, so the handler holds the ring weakly.
void Dispatcher::arm(const std::shared_ptr<Ring>& ring) {
  ring->watch->async_wait(
      asio::posix::stream_descriptor::wait_read,
      [this, weak = std::weak_ptr<Ring>(ring)](const boost::system::error_code& ec) {
        std::shared_ptr<Ring> r = weak.lock();
        // !watching: released meanwhile, the tick drains it.
        if (ec || !r || r->closed || !r->watching) return;
        arm(r);  // first re-arm, then consume: see the header
        last_wakeup_ = std::chrono::steady_clock::now();
        drain(r.get());
        kick_drain();
      });
}

void Dispatcher::add_timer(Owner owner, std::chrono::nanoseconds interval,
                           std::function<void()> fn) {
  auto t = std::make_shared<Timer>();
  t->owner = owner;
  t->interval = interval;
  t->fn = std::move(fn);
  t->timer = std::make_unique<asio::steady_timer>(io_);
  t->next = std::chrono::steady_clock::now() +
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
  timers_.push_back(t);
  arm(t);
}

// A timer whose owner was removed (remove_owner) may still see its handler
// run with success: the wait had completed and was queued in io_ before
// cancel(), which affects only waits still pending. The handler holds the
// Timer weakly and does nothing once it is gone (the owner may be destroyed).
void Dispatcher::arm(const std::shared_ptr<Timer>& timer) {
  timer->timer->expires_at(timer->next);
  timer->timer->async_wait(
      [this, weak = std::weak_ptr<Timer>(timer)](const boost::system::error_code& ec) {
        std::shared_ptr<Timer> t = weak.lock();
        if (ec || !t) return;
        t->next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(t->interval);
        auto now = std::chrono::steady_clock::now();
        if (t->next < now) t->next = now;  // after a stall, do not fire a burst to catch up
        arm(t);
        t->fn();
      });
}

void Dispatcher::remove_owner(Owner owner) {
  for (auto& r : rings_)
    if (r->owner == owner) {
      // Everything still in the ring, batch after batch.
      do {
        batch_left_ = kBatch;
      } while (ring_buffer__consume(r->rb) == -EAGAIN);
      r->closed = true;
    }
  pipeline_.end_batch();
  rings_.erase(std::remove_if(rings_.begin(), rings_.end(),
                              [owner](const auto& r) { return r->owner == owner; }),
               rings_.end());
  for (auto& t : timers_)
    if (t->owner == owner) t->timer->cancel();
  timers_.erase(std::remove_if(timers_.begin(), timers_.end(),
                               [owner](const auto& t) { return t->owner == owner; }),
                timers_.end());
}

std::vector<Dispatcher::RingFillRatio> Dispatcher::ring_fill(Owner owner) {
  std::vector<RingFillRatio> out;
  for (auto& r : rings_)
    if (r->owner == owner && r->fill.ok()) out.push_back({r->fill.name(), r->fill.take_peak()});
  return out;
}

std::vector<Dispatcher::KernelCounts> Dispatcher::kernel_counts(Owner owner) const {
  std::vector<KernelCounts> out;
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return out;
  std::vector<leaf_type_counters> values(ncpus);
  for (const auto& r : rings_) {
    if (r->owner != owner || r->counters_fd < 0) continue;
    for (uint32_t i = 0; i < r->types.size(); ++i) {
      KernelCounts k;
      k.type = r->types[i].desc->name;
      if (bpf_map_lookup_elem(r->counters_fd, &i, values.data()) == 0) {
        for (const auto& v : values) {
          k.emitted += v.emitted;
          k.lost += v.lost;
        }
      }
      out.push_back(k);
    }
  }
  return out;
}

}  // namespace leaf::core
