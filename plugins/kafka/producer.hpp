// One librdkafka producer with a topic handle per event category, whose
// delivery reports feed DeliveryCounters. It can give back every message it
// has not delivered (to re-send it through a new producer after a fatal
// error), telling apart messages that never reached a broker from those that
// may have.
#pragma once

#include <leaf/sdk/types.h>
#include <librdkafka/rdkafka.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "counters.hpp"
#include "held.hpp"
#include "partition_counts.hpp"
#include "sink_config.hpp"

namespace leaf::kafka {

// A message taken back from a producer that could not deliver it.
struct Undelivered {
  int category;
  bool maybe_persisted;  // sent, unacknowledged: a re-send may duplicate it
  bool has_key;
  int64_t timestamp_ms;
  std::string key;
  std::string payload;
  int32_t partition = RD_KAFKA_PARTITION_UA;  // json-batch: where it was placed
  uint32_t events = 1;                        // json-batch: events in the message
  uint64_t spool_seq = 0;                     // replayed from the disk spool: its record
};

// The Kafka headers of a json-batch message.
inline constexpr const char* kFormatHeader = "leaf.format";
inline constexpr const char* kCountHeader = "leaf.count";

// What the producer reports to its owner. Called from inside poll(), on the
// thread that polls.
class ProducerEvents {
 public:
  virtual void on_kafka_error(rd_kafka_resp_err_t err, const std::string& reason) = 0;
  virtual void on_kafka_log(sdk::LogLevel level, const std::string& line) = 0;
  // A message replayed from the disk spool was acknowledged, or failed for
  // good (counted as failed).
  virtual void on_spooled_done(uint64_t seq) = 0;
  // A message whose copy is in the disk spool (held.hpp) failed: true when
  // the owner lets the spool replay that copy in its turn (then it is not
  // counted as failed).
  virtual bool on_copy_failed(uint64_t seq) = 0;
  // A message replayed from the disk spool failed (timed out in a long
  // outage...). True when the owner put it back into the spool (then it is
  // not counted as failed; the owner releases its record).
  virtual bool on_spooled_failed(const Undelivered& message) = 0;
  // At shutdown (abandon()): a message that was never replayed from the
  // spool and is not delivered. True when the owner saved it (then it is not
  // counted as failed).
  virtual bool on_abandoned(const Undelivered& message) = 0;

 protected:
  ~ProducerEvents() = default;
};

class Producer {
 public:
  // Throws sdk::PluginError(InvalidConfig) naming a property librdkafka refuses.
  Producer(const SinkConfig& config, DeliveryCounters& counters, ProducerEvents& events);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // A record of the disk spool (its sequence number comes back through
  // ProducerEvents::on_spooled_done); otherwise as produce().
  rd_kafka_resp_err_t produce_spooled(int category, const char* key, size_t key_size,
                                      const char* payload, size_t size, int64_t timestamp_ms,
                                      uint64_t seq);

  // Enqueues a copy of the message; never blocks. key == nullptr: no key.
  // event_ns (ns since the Unix epoch, 0: unknown) times the broker's
  // acknowledgement (DeliveryCounters::ack_latency). With `hold` (the disk
  // spool on), the copy is a Held block of ours (held.hpp).
  rd_kafka_resp_err_t produce(int category, const char* key, size_t key_size, const char* payload,
                              size_t size, int64_t timestamp_ms, uint64_t event_ns = 0) {
    uint64_t cost = memory_cost(size, key ? key_size : 0);
    if (!room_for(cost)) return RD_KAFKA_RESP_ERR__QUEUE_FULL;
    if (hold_ && key_size <= 0xffff)
      return produce_held(category, RD_KAFKA_PARTITION_UA, key, key_size, payload, size, nullptr, 1,
                          timestamp_ms, event_ns, cost);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_RKT(topics_[category]), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(const_cast<char*>(payload), size), RD_KAFKA_V_KEY(key, key ? key_size : 0),
        RD_KAFKA_V_OPAQUE(pack_opaque(category, event_ns)), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
        RD_KAFKA_V_END);
    if (!err) {
      counters_.produced.add();
      queued_add(cost);
    }
    return err;
  }

  // What a queued message costs in memory: its payload and key, and
  // librdkafka's bookkeeping (rd_kafka_msg_t and allocator overhead),
  // measured at 176-189 bytes per message with librdkafka 2.0.2 on x86-64
  // (RSS growth over 200K queued messages of 100, 300 and 1000 bytes).
  // A json-batch message's two headers add about 240 bytes more (measured
  // the same way with batches of one).
  static constexpr uint64_t kMessageOverhead = 192;
  static constexpr uint64_t kHeadersOverhead = 256;
  uint64_t memory_cost(size_t size, size_t key_size) const {
    return size + key_size + kMessageOverhead + (batched_ ? kHeadersOverhead : 0);
  }
  // Bytes of memory the queued, unacknowledged messages take (estimated as above).
  uint64_t queued_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }

  // json-batch: one message of `events` newline-terminated events on
  // `partition` (RD_KAFKA_PARTITION_UA: librdkafka's partitioner places it
  // by `key`), with the format and count headers. take == true: the payload
  // is a Batch's buffer (Held header room in front, batches.hpp), taken over
  // (freed after its delivery report), but only when the call succeeds;
  // otherwise it is copied. event_ns: the oldest event's
  // time. spool_seq != 0: a record of the disk spool (see produce_spooled).
  rd_kafka_resp_err_t produce_batch(int category, int32_t partition, const char* key,
                                    size_t key_size, char* payload, size_t size, bool take,
                                    uint32_t events, int64_t timestamp_ms, uint64_t event_ns,
                                    uint64_t spool_seq = 0);
  // json-batch: the partition count of a category's topic (0: not known yet).
  int32_t partition_count(int category) const {
    return partition_counts_ ? partition_counts_->get(category) : 0;
  }
  const rd_kafka_topic_t* topic(int category) const { return topics_[category]; }
  // A producer recreated after a fatal error starts with the counts its
  // predecessor knew.
  void seed_partition_counts(const std::array<int32_t, kCategories>& counts) {
    if (partition_counts_)
      for (size_t c = 0; c < kCategories; ++c)
        partition_counts_->seed(static_cast<int>(c), counts[c]);
  }

  // Serves delivery reports, errors and log lines for up to timeout_ms.
  void poll(int timeout_ms) { serve(timeout_ms); }
  // Messages not yet acknowledged (queued, in flight, or awaiting poll()).
  int outstanding() const { return rd_kafka_outq_len(rk_); }
  // True (with librdkafka's reason) once the producer hit a fatal error.
  bool fatal(std::string* reason) const;

  // Asks a broker for metadata, waiting at most timeout_ms. False with the
  // reason when none answered.
  bool reachable(int timeout_ms, std::string* why);

  // Takes back every message not delivered yet: the queue is purged, in-flight
  // requests get wait_ms to be acknowledged, then they are purged as well.
  // The producer is useless afterwards.
  std::vector<Undelivered> take_undelivered(int wait_ms);

  // Purges whatever is left and counts it as failed with `reason`. Returns
  // how many messages that was.
  uint64_t abandon(const std::string& reason);
  // Events abandon() left in the disk spool or saved there (not failed).
  uint64_t kept() const { return kept_; }

  // Held messages (held.hpp) with no copy in the disk spool yet.
  uint64_t uncopied() const { return held_.uncopied(); }
  // Calls copy(held) for each of them, oldest first (see HeldList).
  template <class Copy>
  void copy_held(Copy&& copy) {
    held_.copy_each(copy);
  }
  void uncopy_from(uint64_t seq) { held_.uncopy_from(seq); }

 private:
  enum class Mode { Normal, Salvage, Abandon };

  // A message's opaque: its category in the low 2 bits; bit 2 set for a
  // record of the disk spool, whose sequence number is above it; otherwise
  // bit 3 set for a Held payload, and its event time (16 ns resolution)
  // above the 4 bits.
  static constexpr uint64_t kHeldBit = 8;
  static void* pack_opaque(int category, uint64_t event_ns, bool held = false) {
    return reinterpret_cast<void*>(static_cast<uintptr_t>(
        (event_ns & ~uint64_t{15}) | (held ? kHeldBit : 0) | uint64_t(category)));
  }
  static Held* opaque_held(const rd_kafka_message_t* m) {
    auto v = reinterpret_cast<uintptr_t>(m->_private);
    return (v & 4) == 0 && (v & kHeldBit) ? Held::of(m->payload) : nullptr;
  }
  static void* pack_spooled(int category, uint64_t seq) {
    return reinterpret_cast<void*>(static_cast<uintptr_t>((seq << 3) | 4 | uint64_t(category)));
  }
  static int opaque_category(void* p) {
    return static_cast<int>(reinterpret_cast<uintptr_t>(p) & 3);
  }
  static uint64_t opaque_spool_seq(void* p) {
    auto v = reinterpret_cast<uintptr_t>(p);
    return v & 4 ? v >> 3 : 0;
  }
  static uint64_t opaque_event_ns(void* p) {
    auto v = reinterpret_cast<uintptr_t>(p);
    return v & 4 ? 0 : v & ~uintptr_t{15};
  }
  Undelivered undelivered(const rd_kafka_message_t* m, uint32_t events, uint64_t seq) const;
  // Produces a Held block (`h`: a Batch's, taken over; nullptr: a new one
  // copying payload and key).
  rd_kafka_resp_err_t produce_held(int category, int32_t partition, const char* key,
                                   size_t key_size, const char* payload, size_t size, Held* h,
                                   uint32_t events, int64_t timestamp_ms, uint64_t event_ns,
                                   uint64_t cost);

  // The queue is bounded in memory (queue.max_size): a message that would
  // pass the bound is refused as on librdkafka's own full queue, unless the
  // queue is empty (a single message larger than the bound still goes).
  bool room_for(uint64_t cost) const {
    uint64_t q = queued_bytes();
    return q == 0 || q + cost <= max_queue_bytes_;
  }
  void queued_add(uint64_t n) {
    queued_bytes_.store(queued_bytes() + n, std::memory_order_relaxed);
  }
  void queued_sub(uint64_t n) {
    uint64_t q = queued_bytes();
    queued_bytes_.store(q > n ? q - n : 0, std::memory_order_relaxed);
  }

  // rd_kafka_poll() with the delivery clock reset (see delivery_now_ns()).
  void serve(int timeout_ms) {
    clock_uses_left_ = 0;
    rd_kafka_poll(rk_, timeout_ms);
  }
  // CLOCK_REALTIME for the ack latency of a delivery report: read at the
  // first report a poll serves and reused for the next kClockReuse - 1
  // reports of the same poll (a read per report cost ~0.26 % of a core at
  // 100K messages/s). rd_kafka_poll() serves the reports already queued
  // without waiting in between, so a reused reading is older than the true
  // time by at most the time 63 reports take to serve (microseconds), far
  // below the width of the histogram's power-of-two bucket for any real
  // acknowledgement time (bucket i spans 2^(i-1)..2^i ns: 0.5-1 ms at 1 ms).
  static constexpr uint32_t kClockReuse = 64;
  int64_t delivery_now_ns() {
    if (clock_uses_left_ == 0) {
      timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      clock_now_ns_ = int64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
      clock_uses_left_ = kClockReuse;
    }
    --clock_uses_left_;
    return clock_now_ns_;
  }

  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
  void failed(const rd_kafka_message_t* m, uint64_t seq, bool copy);
  uint32_t events_in(const rd_kafka_message_t* m) const;
  void drain(int timeout_ms);

  rd_kafka_t* rk_ = nullptr;
  std::array<rd_kafka_topic_t*, kCategories> topics_{};
  DeliveryCounters& counters_;
  ProducerEvents& events_;
  Mode mode_ = Mode::Normal;
  std::string abandon_reason_;
  uint64_t abandoned_ = 0;
  uint64_t kept_ = 0;  // abandon(): events left in or saved to the spool
  std::vector<Undelivered> salvaged_;
  bool batched_ = false;
  bool hold_ = false;  // the disk spool is on: payloads are Held
  uint64_t max_queue_bytes_;
  // Written on the thread that produces and polls; read by read_counters().
  std::atomic<uint64_t> queued_bytes_{0};
  int64_t clock_now_ns_ = 0;                           // delivery_now_ns()
  uint32_t clock_uses_left_ = 0;                       // 0: read the clock at the next report
  std::unique_ptr<PartitionCounts> partition_counts_;  // json-batch only
  // The blocks of held_ come from here (destroyed after held_).
  HeldArena arena_;
  // Frees the blocks left after ~Producer()'s body destroyed rk_.
  HeldList held_;
};

}  // namespace leaf::kafka
