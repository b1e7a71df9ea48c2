// The Kafka sink: every event the host encodes goes to Kafka through one
// librdkafka producer, on the topic of its category with the key of
// SPEC.md §3 (both configurable).
//
// Threads: by default everything here runs on the host's dispatcher thread.
// write() only enqueues (librdkafka's broker threads batch, compress and
// send), and poll() serves delivery reports, errors and librdkafka's log
// lines. The host calls poll() after every batch and on a timer, which also
// frees queue space in time; write() polls too while it waits for room.
// With `thread = true` the same logic runs on a thread of the sink's own
// (sink_thread.hpp): write() copies the message into a ring for it, poll()
// wakes it, and flush(), read_counters() and healthy() take its lock.
//
// json-batch (format = "json-batch"): write() appends the event to the open
// batch of its topic and partition (batches.hpp, partitioning.hpp); a batch
// becomes one Kafka message when it reaches batch.max_bytes or
// batch.max_events (in write()) or batch.max_age (poll(), and a tail timer
// once events stop). Accounting stays per event.
//
// Disk spool (spool.enabled, spool/spool.hpp): while no broker answers, or
// the memory queue holds more than spool.threshold, write() appends events to
// the spool instead of producing them, and keeps doing so until poll() has
// replayed the spool (in order, while a broker answers and the memory queue
// has room); a replayed record is deleted once acknowledged. When spooling
// begins, when the broker is found away (all brokers down, or no
// acknowledgement for a while) and at shutdown, every message librdkafka
// still holds is copied to the spool (held.hpp: the sink keeps their
// payloads), so that a kill -9 loses none of them; the copy is deleted when
// librdkafka's delivery report acknowledges it. A restart replays what was
// not acknowledged.
#include <librdkafka/rdkafka.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <leaf/sdk/plugin.hpp>
#include <memory>
#include <random>
#include <string>

#include "batches.hpp"
#include "counters.hpp"
#include "partitioning.hpp"
#include "producer.hpp"
#include "rate_limit.hpp"
#include "replay_groups.hpp"
#include "sink_config.hpp"
#include "sink_options.hpp"
#include "sink_thread.hpp"
#include "spool/spool.hpp"

namespace leaf::kafka {
namespace {

using namespace leaf::sdk;
using Clock = std::chrono::steady_clock;

int to_ms(int64_t ns) { return static_cast<int>(std::min<int64_t>(ns / 1'000'000, 1 << 30)); }

std::string err_label(rd_kafka_resp_err_t err) {
  std::string name = rd_kafka_err2name(err);
  if (!name.empty() && name[0] == '_') name.erase(0, 1);
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

// The period of the timer that closes a batch once no more events come.
constexpr int64_t kTailTimerNs = 10'000'000;
// thread = true: how long the sink's thread may make no progress on a full
// hand-off ring before write() drops. Longer than any wait of its own (a full
// queue's queue.full_wait, a spool write): only a stuck thread reaches it.
constexpr int64_t kHandoffStallNs = 1'000'000'000;

int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class KafkaSink final : public PluginBase<ISink>,
                        private ProducerEvents,
                        private ITimerHandler,
                        private SinkThread::Work {
 public:
  explicit KafkaSink(IHost* host) : PluginBase(host) {}
  ~KafkaSink() override {
    thread_.reset();  // stops it first: it uses everything below
    producer_.reset();
  }

  Status open() noexcept override {
    return guarded([&] { do_open(); });
  }

  Status write(const SinkMessage* m) noexcept override {
    int cat = category_index(m->category);
    if (cat < 0 || (!thread_ && !producer_)) {
      error_ = cat < 0 ? "message of an unknown category" : "the Kafka sink is not open";
      return Status::InvalidArgument;
    }
    const char* key = nullptr;
    size_t key_size = 0;
    switch (config_.keys[cat]) {
      case KeyMode::Spec:
        key = m->key.data;
        key_size = m->key.size;
        break;
      case KeyMode::Hostname:
        key = hostname_.data();
        key_size = hostname_.size();
        break;
      case KeyMode::EventType:
        key = m->event_type.data;
        key_size = m->event_type.size;
        break;
      case KeyMode::None:
        break;
    }
    if (thread_) return hand_off(m, cat, key, key_size);
    return deliver(m, cat, key, key_size);
  }

  void poll() noexcept override {
    if (thread_) return thread_->wake();
    poll_now();
  }

  // With the thread, flush() and read_counters() first deliver what the
  // ring holds and poll (on the dispatcher, under the thread's lock), as the
  // host's poll() after a batch does without the thread: what write() took
  // is then flushed, or counted.
  Status flush(uint32_t timeout_ms) noexcept override {
    if (!thread_) return flush_now(timeout_ms);
    std::lock_guard<std::mutex> l(thread_->lock());
    thread_->drain();
    Status st = flush_now(timeout_ms);
    poll_now();
    return st;
  }

  void read_counters(ICounterVisitor* v) noexcept override {
    if (!thread_) return read_counters_now(v);
    std::lock_guard<std::mutex> l(thread_->lock());
    thread_->drain();
    poll_now();
    read_counters_now(v);
  }

  void close() noexcept override {
    if (thread_) {
      thread_->stop();  // delivers what its ring holds
      thread_.reset();
    }
    close_now();
  }

  uint32_t healthy() const noexcept override {
    if (!thread_) return healthy_now();
    std::lock_guard<std::mutex> l(thread_->lock());
    return healthy_now();
  }

 private:
  // write() once the key is chosen: on the dispatcher, or on the sink's
  // thread (thread = true).
  Status deliver(const SinkMessage* m, int cat, const char* key, size_t key_size) noexcept {
    if (spool_ &&
        (spooling_ || broker_down_ || producer_->queued_bytes() >= config_.spool_threshold))
      return write_spooled(m, cat, key, key_size);
    if (batched_) return write_batched(m, cat, key, key_size);
    int64_t ts_ms = static_cast<int64_t>(m->timestamp_ns / 1'000'000);
    rd_kafka_resp_err_t err =
        producer_->produce(cat, key, key_size, m->json.data, m->json.size, ts_ms, m->timestamp_ns);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (dropping_) end_drop_episode();
      return Status::Ok;
    }
    return write_slow(err, cat, key, key_size, m->json, ts_ms);
  }

  void poll_now() noexcept {
    if (!producer_) return;
    try {
      producer_->poll(0);
      recover_if_fatal();
      if (batched_) close_aged();
      watch_connectivity();
      if (spool_ && (broker_down_ || stalled_)) copy_held();
      if (spool_) pump_spool();
    } catch (const std::exception& e) {
      log(LogLevel::Error, std::string("Kafka sink: ") + e.what());
    }
  }

  Status flush_now(uint32_t timeout_ms) noexcept {
    if (!producer_) return Status::Ok;
    return guarded([&] {
      auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
      auto unbatched = [&] { return batched_ ? batches_.events() : 0; };
      while ((producer_->outstanding() > 0 || unbatched() > 0) && Clock::now() < deadline) {
        if (batched_)
          batches_.for_each_open([&](int c, int32_t p, Batch& b) { hand_over(c, p, b, false); });
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        producer_->poll(static_cast<int>(std::clamp<int64_t>(left.count(), 0, 50)));
        recover_if_fatal();
      }
      int left = producer_->outstanding();
      if (left > 0 || unbatched() > 0)
        throw PluginError(
            std::to_string(left) + " Kafka messages" +
                (unbatched() ? " and " + std::to_string(unbatched()) + " events in unsent batches"
                             : std::string()) +
                " not delivered within " + std::to_string(timeout_ms) + " ms",
            Status::Again);
    });
  }

  void read_counters_now(ICounterVisitor* v) noexcept {
    auto none = make_view("");
    v->counter(make_view("kafka_messages_total"), none, counters_.delivered.get());
    v->counter(make_view("kafka_messages_produced_total"), none, counters_.produced.get());
    if (batched_) v->counter(make_view("kafka_batches_total"), none, counters_.batches.get());
    v->counter(make_view("kafka_messages_dropped_total"), make_view("queue_full"),
               counters_.dropped_queue_full.get() + handoff_dropped_.get());
    v->counter(make_view("kafka_messages_resent_total"), make_view("never_sent"),
               counters_.resent_queued.get());
    v->counter(make_view("kafka_messages_resent_total"), make_view("unacknowledged"),
               counters_.resent_in_flight.get());
    v->counter(make_view("kafka_producer_restarts_total"), none, counters_.restarts.get());
    try {
      for (const auto& [reason, n] : counters_.failures())
        v->counter(make_view("kafka_send_errors_total"), view(reason), n);
    } catch (...) {
    }
    v->gauge(make_view("kafka_queue_messages"), none, producer_ ? producer_->outstanding() : 0);
    v->gauge(make_view("kafka_queue_bytes"), none,
             producer_ ? static_cast<int64_t>(producer_->queued_bytes()) : 0);
    // The ack latency histogram (exposed as leaf_kafka_ack_latency_seconds).
    uint64_t bounds[AckLatency::kBuckets], counts[AckLatency::kBuckets];
    for (int i = 0; i < AckLatency::kBuckets; ++i) {
      bounds[i] = i < 64 ? uint64_t{1} << i : UINT64_MAX;
      counts[i] = counters_.ack_latency.bucket(i);
    }
    HistogramView latency{.unit = Unit::Nanoseconds,
                          .bucket_count = AckLatency::kBuckets,
                          .upper_bounds = bounds,
                          .counts = counts,
                          .sum = counters_.ack_latency.sum_ns()};
    v->histogram(make_view("kafka_ack_latency_seconds"), none, &latency);
    v->gauge(make_view("kafka_broker_reachable"), none, broker_down_ ? 0 : 1);
    if (spool_) read_spool_counters(v);
  }

  void close_now() noexcept {
    if (!producer_) return;
    try {
      producer_->poll(0);
      // In the order they were produced, behind what the spool holds.
      if (spool_) copy_held();
      uint64_t lost = producer_->abandon("shutdown");
      if (batched_) {
        // flush() handed over what it could; what is still batched is lost
        // (or saved to the spool).
        batches_.for_each_open([&](int c, int32_t p, Batch& b) {
          if (spool_ && save_batch(c, p, b)) return;
          counters_.fail("shutdown", b.events());
          lost += b.events();
          b.clear();
        });
      }
      if (lost > 0)
        log(LogLevel::Warn, "Kafka sink: " + std::to_string(lost) +
                                " messages could not be delivered before shutdown");
      if (spool_) close_spool();
      log(LogLevel::Info, "Kafka sink closed: " + summary());
    } catch (...) {
    }
    producer_.reset();
  }

  uint32_t healthy_now() const noexcept {
    return producer_ && !broker_down_ && !producer_->fatal(nullptr) ? 1 : 0;
  }

  // ---- The sink's own thread (thread = true) ----

  // The ring between the dispatcher and the thread: 1/16 of queue.max_size,
  // between 64 KiB and 4 MiB (~13,000 events of 300 bytes: 13 ms at 1M/s).
  size_t handoff_bytes() const {
    return std::clamp<uint64_t>(config_.queue_max_bytes / 16, 64 << 10, 4 << 20);
  }

  // The message goes to the thread. A full ring waits while the thread
  // works; one stuck for kHandoffStallNs drops the event (counted as a full
  // queue's drop), and the events after it at once until the ring has room.
  Status hand_off(const SinkMessage* m, int cat, const char* key, size_t key_size) noexcept {
    int64_t wait = handoff_drops_ ? 0 : kHandoffStallNs;
    if (thread_->push(cat, key, key_size, {m->json.data, m->json.size}, m->timestamp_ns, wait)) {
      if (handoff_drops_) {
        log(LogLevel::Info, "Kafka sink: its thread caught up after " +
                                std::to_string(handoff_drops_) + " dropped events");
        handoff_drops_ = 0;
      }
      return Status::Ok;
    }
    ++handoff_drops_;
    handoff_dropped_.add();
    counters_.fail("queue_full");
    if (handoff_log_.allow())
      log(LogLevel::Warn, "Kafka sink: its thread is behind (its " +
                              std::to_string(handoff_bytes() >> 10) +
                              " KiB hand-off ring full, no progress for 1 s); dropping events");
    error_ = "Kafka sink thread behind";
    return Status::Again;
  }

  // SinkThread::Work, on the sink's thread.
  void on_message(const Handoff::Entry& e) override {
    std::string_view json = e.json();
    SinkMessage m{sizeof(SinkMessage),
                  static_cast<Category>(e.category + 1),
                  {},
                  {e.key(), e.key_size},
                  {json.data(), json.size()},
                  e.timestamp_ns};
    deliver(&m, e.category, e.has_key ? e.key() : nullptr, e.key_size);
  }
  void on_poll() override { poll_now(); }

  // What a failed write() tells the host; with the thread nobody reads it
  // (the failures are counted), and error_ is the dispatcher's.
  void set_error(std::string e) {
    if (!threaded_) error_ = std::move(e);
  }

  void do_open() {
    config_ = load_config(*host_);
    hostname_ = to_string(host_->hostname());
    outage_log_.set_interval(std::chrono::nanoseconds(config_.log_interval_ns));
    drop_log_.set_interval(std::chrono::nanoseconds(config_.log_interval_ns));
    batched_ = config_.format == Format::JsonBatch;
    if (batched_) partitioning_ = std::make_unique<Partitioning>(config_.partitioner);
    producer_ = std::make_unique<Producer>(config_, counters_, events());
    // While events flow, the host polls sinks after every drain (every
    // dispatcher.wakeup_delay), which closes batches at their age. This timer
    // closes the last batch after the flow stops: at most kTailTimerNs late,
    // without waking an idle host a thousand times a second for a 1 ms age
    // (the host polls sinks after every timer). Hosts without timers (the
    // tests' own) poll on their own. With batch.max_age 0 every batch closes
    // at the poll that follows the drain (or timer) that wrote it, so no batch
    // outlives the flow and an idle leaf-host needs no timer at all (a batch
    // refused on a full queue goes at the next poll: the host polls every 100 ms).
    threaded_ = config_.thread;
    if (batched_ && config_.batch_max_age_ns > 0 && !threaded_)
      host_->add_timer(static_cast<uint64_t>(std::max(config_.batch_max_age_ns, kTailTimerNs)),
                       this);
    std::string where =
        config_.brokers.empty() ? "the configured bootstrap servers" : config_.brokers;
    if (config_.connect_check_ns > 0) {
      std::string why;
      if (producer_->reachable(to_ms(config_.connect_check_ns), &why)) {
        log(LogLevel::Info, "Kafka sink: connected to " + where);
      } else {
        broker_down_ = true;
        outage_log_.allow();  // this line stands for the first outage warning
        log(LogLevel::Warn, "Kafka sink: no Kafka broker reachable at " + where + " (" + why +
                                "); running anyway: events are queued and delivered once a "
                                "broker answers");
      }
    }
    delivered_seen_ = counters_.delivered.get();
    if (config_.spool) open_spool();
    if (threaded_) {
      // It polls on its own while idle: batch ages as the tail timer would.
      int64_t idle = batched_ && config_.batch_max_age_ns > 0
                         ? std::max(config_.batch_max_age_ns, kTailTimerNs)
                         : 100'000'000;
      handoff_log_.set_interval(std::chrono::nanoseconds(config_.log_interval_ns));
      SinkThread::Work& work = *this;
      thread_ = std::make_unique<SinkThread>(work, handoff_bytes(), idle);
    }
  }

  // ---- Disk spool ----

  void open_spool() {
    spool::Options o;
    o.dir = config_.spool_dir;
    o.max_bytes = config_.spool_max_bytes;
    o.segment_bytes = config_.spool_segment_bytes;
    o.fsync_interval_ns = config_.spool_fsync_interval_ns;
    o.drop_oldest = config_.spool_drop_oldest;
    try {
      spool_ = std::make_unique<spool::Spool>(o);
    } catch (const std::runtime_error& e) {
      throw PluginError(std::string("spool.dir: ") + e.what(), Status::InvalidConfig);
    }
    log_spool_notes();
    // What a previous run left goes first: new events queue behind it.
    spooling_ = !spool_->caught_up();
    log(LogLevel::Info, "Kafka sink: disk spool at " + o.dir + " (" +
                            std::to_string(spool_->stats().records.load()) +
                            " records to replay, " + std::to_string(spool_->stats().bytes.load()) +
                            " bytes)");
  }

  Status write_spooled(const SinkMessage* m, int cat, const char* key, size_t key_size) noexcept {
    try {
      // Open batches hold older events: they go first (or into the spool
      // first, when the queue has no room), so that the order holds.
      if (!spooling_ && batched_)
        batches_.for_each_open([&](int c, int32_t p, Batch& b) {
          if (!hand_over(c, p, b, false)) save_batch(c, p, b);
        });
      // From now on every unacknowledged event is on disk.
      if (!spooling_) copy_held();
      spool::RecordView r;
      r.category = static_cast<uint8_t>(cat);
      r.key = key;
      r.key_size = key ? key_size : 0;
      r.event_ns = m->timestamp_ns;
      r.value = m->json.data;
      r.value_size = m->json.size;
      spool::Spool::Result res = spool_->append(r);
      if (res == spool::Spool::Result::Ok) {
        spooling_ = true;
        if (dropping_) end_drop_episode();
        return Status::Ok;
      }
      // Counted by the spool (kafka_spool_dropped_total{reason}).
      dropping_ = true;
      ++episode_drops_;
      std::string why =
          res == spool::Spool::Result::Full ? "Kafka spool full" : "Kafka spool write failed";
      if (drop_log_.allow())
        log(LogLevel::Warn, "Kafka sink: " + why + " (" + spool_->dir() + ", " +
                                std::to_string(spool_->stats().bytes.load()) +
                                " bytes); dropping events");
      log_spool_notes();
      set_error(std::move(why));
      return Status::Again;
    } catch (const std::exception& e) {
      set_error(e.what());
      return Status::Error;
    }
  }

  // Appends a copy of every message librdkafka holds that has none yet
  // (held.hpp), and writes them out; their delivery reports acknowledge the
  // copies, a kill -9 leaves them to the next start.
  void copy_held() {
    if (producer_->uncopied() == 0) return;
    producer_->copy_held([&](const Held& h) {
      spool::RecordView r;
      r.category = h.category;
      r.key = h.flags & Held::kHasKey ? h.key() : nullptr;
      r.key_size = h.key_size;
      r.batch = h.flags & Held::kBatch;
      r.partition = r.batch ? h.partition : -1;
      r.events = h.events;
      r.event_ns = h.event_ns;
      r.value = const_cast<Held&>(h).payload();
      r.value_size = h.size;
      return spool_->append_copy(r);
    });
    if (uint64_t lost = spool_->commit_copies()) producer_->uncopy_from(lost);
    log_spool_notes();
  }

  // Produces spooled records in order while a broker answers and the memory
  // queue has room; then writes, syncs and deletes what is due.
  void pump_spool() {
    uint64_t window = std::max<uint64_t>(config_.spool_threshold, config_.queue_max_bytes / 4);
    // During an outage one record at a time waits in librdkafka: its
    // acknowledgement is what tells that a broker is back.
    for (int budget = broker_down_ ? 1 : 20000; budget > 0; --budget) {
      if (producer_->queued_bytes() >= window) break;
      if (broker_down_ && producer_->outstanding() > 0) break;
      const spool::Record* r = spool_->peek();
      if (!r) break;
      if (batched_ && regroup(*r)) continue;
      if (batched_) send_groups();  // older events of the same partitions go first
      rd_kafka_resp_err_t err = replay(*r);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
      uint64_t seq = r->seq;
      uint32_t events = r->events;
      spool_->handed();
      if (err) {
        counters_.fail("replay_" + err_label(err), events);
        spool_->acked(seq);
      }
    }
    if (batched_) send_groups();
    if (spooling_ && (config_.spool_threshold > 0 || !broker_down_) && spool_->caught_up())
      spooling_ = false;
    spool_->tick(mono_ns());
    log_spool_notes();
  }

  // json-batch: a spooled event joins the replay batch of its partition
  // (handed over); false when its topic's partition count is not known yet.
  bool regroup(const spool::Record& r) {
    int32_t count = producer_->partition_count(r.category);
    if (r.batch || count <= 0) return false;
    const char* key = r.has_key ? r.key.data() : nullptr;
    int32_t p = partitioning_->of_key(producer_->topic(r.category), key, r.key.size(), count);
    if (p < 0) p = sticky_partition(r.category, count);
    ReplayGroups::Open& g = groups_.at(r.category, p);
    if (g.events && (g.value.size() + r.value.size() + 1 > config_.batch_max_bytes ||
                     g.events >= config_.batch_max_events))
      send_group(r.category, p, g);
    groups_.add(g, r.value, r.event_ns, r.seq);
    spool_->handed();
    return true;
  }

  void send_groups() {
    groups_.for_each_open([&](int c, int32_t p, ReplayGroups::Open& g) { send_group(c, p, g); });
  }

  // Produces a replay batch. When librdkafka refuses it, the batch goes back
  // to the spool as one record (or fails, counted) and its records are released.
  void send_group(int cat, int32_t partition, ReplayGroups::Open& g) {
    auto ts_ms = static_cast<int64_t>(g.first_ns / 1'000'000);
    uint32_t events = g.events;
    uint64_t tag = groups_.sent(g);
    rd_kafka_resp_err_t err =
        producer_->produce_batch(cat, partition, nullptr, 0, g.value.data(), g.value.size(), false,
                                 events, ts_ms, g.first_ns, tag);
    if (err) {
      Undelivered u;
      u.category = cat;
      u.maybe_persisted = false;
      u.has_key = false;
      u.timestamp_ms = ts_ms;
      u.payload = std::move(g.value);
      u.partition = partition;
      u.events = events;
      u.spool_seq = tag;
      if (!on_spooled_failed(u)) {
        counters_.fail("replay_" + err_label(err), events);
        release(tag);
      }
    }
    ReplayGroups::reset(g);
  }

  // The spool records behind a replayed message (one record, or a replay
  // batch's) were acknowledged, or failed for good.
  void release(uint64_t tag) {
    if (!ReplayGroups::is_group(tag)) return spool_->acked(tag);
    for (uint64_t seq : groups_.take(tag)) spool_->acked(seq);
  }

  rd_kafka_resp_err_t replay(const spool::Record& r) {
    const char* key = r.has_key ? r.key.data() : nullptr;
    auto ts_ms = static_cast<int64_t>(r.event_ns / 1'000'000);
    if (!batched_)
      return producer_->produce_spooled(r.category, key, r.key.size(), r.value.data(),
                                        r.value.size(), ts_ms, r.seq);
    if (r.batch)
      return producer_->produce_batch(r.category, r.partition, key, r.key.size(),
                                      const_cast<char*>(r.value.data()), r.value.size(), false,
                                      r.events, ts_ms, 0, r.seq);
    // An event: a batch of one, placed by its key as write_single() does.
    single_.assign(r.value);
    single_ += '\n';
    return producer_->produce_batch(r.category, RD_KAFKA_PARTITION_UA, key, r.key.size(),
                                    single_.data(), single_.size(), false, 1, ts_ms, 0, r.seq);
  }

  // An open json-batch batch goes to the spool (at shutdown, or when the
  // queue has no room for it as spooling starts).
  bool save_batch(int cat, int32_t partition, Batch& b) {
    spool::RecordView r;
    r.category = static_cast<uint8_t>(cat);
    r.batch = true;
    r.partition = partition;
    r.events = b.events();
    r.event_ns = b.first_event_ns();
    r.value = b.data();
    r.value_size = b.size();
    if (spool_->append(r) != spool::Spool::Result::Ok) return false;
    saved_at_close_ += b.events();
    b.clear();
    return true;
  }

  void close_spool() {
    spool_->sync_all();
    log_spool_notes();
    const auto& st = spool_->stats();
    log(LogLevel::Info, "Kafka sink: disk spool " + spool_->dir() + " keeps " +
                            std::to_string(st.records.load()) + " records (" +
                            std::to_string(st.bytes.load()) + " bytes) for the next start; " +
                            std::to_string(saved_at_close_ + producer_->kept()) +
                            " events were saved or left there at shutdown");
  }

  void log_spool_notes() {
    for (const std::string& n : spool_->take_notes()) log(LogLevel::Warn, "Kafka sink: " + n);
  }

  void read_spool_counters(ICounterVisitor* v) {
    const auto& st = spool_->stats();
    auto none = make_view("");
    v->gauge(make_view("kafka_spool_bytes"), none, static_cast<int64_t>(st.bytes.load()));
    v->gauge(make_view("kafka_spool_records"), none, static_cast<int64_t>(st.records.load()));
    uint64_t oldest = st.oldest_event_ns.load();
    int64_t age = 0;
    if (oldest) {
      timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      age = std::max<int64_t>(0, now.tv_sec - static_cast<int64_t>(oldest / 1'000'000'000));
    }
    v->gauge(make_view("kafka_spool_oldest_age_seconds"), none, age);
    v->counter(make_view("kafka_spool_appended_total"), none, st.appended.load());
    v->counter(make_view("kafka_spool_replayed_total"), none, st.replayed.load());
    v->counter(make_view("kafka_spool_copied_total"), none, st.copied.load());
    v->counter(make_view("kafka_spool_dropped_total"), make_view("full"), st.dropped_full.load());
    v->counter(make_view("kafka_spool_dropped_total"), make_view("oldest"),
               st.dropped_oldest.load());
    v->counter(make_view("kafka_spool_dropped_total"), make_view("no_space"),
               st.dropped_no_space.load());
    v->counter(make_view("kafka_spool_dropped_total"), make_view("write_error"),
               st.dropped_write_error.load());
    v->counter(make_view("kafka_spool_corrupt_records_total"), none, st.corrupt_records.load());
    v->counter(make_view("kafka_spool_corrupt_bytes_total"), none, st.corrupt_bytes.load());
    v->counter(make_view("kafka_spool_possible_duplicates_total"), none,
               st.possible_duplicates.load());
    v->counter(make_view("kafka_spool_syncs_total"), none, st.syncs.load());
    v->counter(make_view("kafka_spool_requeued_total"), none, spool_requeued_.get());
  }

  // ---- Producing ----

  Status write_slow(rd_kafka_resp_err_t err, int cat, const char* key, size_t key_size,
                    StringView json, int64_t ts_ms) noexcept {
    try {
      auto produce = [&] {
        return producer_->produce(cat, key, key_size, json.data, json.size, ts_ms,
                                  static_cast<uint64_t>(ts_ms) * 1'000'000);
      };
      return produced_or_refused(retry_produce(err, produce), 1);
    } catch (const std::exception& e) {
      set_error(e.what());
      return Status::Error;
    }
  }

  // After produce() failed with `err`: on a full queue, polls for room and
  // retries for up to queue.full_wait, once per episode (while the queue
  // stays full, later messages are dropped at once so the dispatcher keeps
  // up); after a fatal error, recreates the producer and retries once.
  // produce() must go through producer_ (recreated meanwhile).
  template <class Produce>
  rd_kafka_resp_err_t retry_produce(rd_kafka_resp_err_t err, Produce&& produce) {
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      auto deadline = Clock::now() + std::chrono::nanoseconds(config_.queue_full_wait_ns);
      do {
        producer_->poll(dropping_ ? 0 : 1);
        recover_if_fatal();
        err = produce();
      } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !dropping_ && Clock::now() < deadline);
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      recover_if_fatal();
      err = produce();
    }
    return err;
  }

  // What write() answers after a produce() of `events` events returned err.
  Status produced_or_refused(rd_kafka_resp_err_t err, uint32_t events) {
    if (!err) {
      if (dropping_) end_drop_episode();
      return Status::Ok;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return drop_queue_full();
    counters_.fail(err_label(err), events);
    set_error(std::string("Kafka produce failed: ") + rd_kafka_err2str(err));
    return Status::Error;
  }

  // json-batch: the event joins the open batch of its topic and partition.
  Status write_batched(const SinkMessage* m, int cat, const char* key, size_t key_size) noexcept {
    try {
      int32_t count = producer_->partition_count(cat);
      if (count <= 0) return write_single(m, cat, key, key_size);
      int32_t p = partitioning_->of_key(producer_->topic(cat), key, key_size, count);
      if (p < 0) p = sticky_partition(cat, count);
      Batch& b = batches_.at(cat, p, count);
      size_t n = m->json.size;
      // A batch refused on a full queue, or one this event would overflow, goes first.
      if (b.events() > 0 && (b.refused() || b.size() + n + 1 > config_.batch_max_bytes) &&
          !hand_over(cat, p, b, true))
        return drop_queue_full();
      if (dropping_) end_drop_episode();
      b.append(m->json.data, n, m->timestamp_ns, b.events() ? 0 : mono_ns(),
               config_.batch_max_bytes);
      // Refused on a full queue, it stays (this event is in): see above.
      if (b.events() >= config_.batch_max_events || b.size() >= config_.batch_max_bytes)
        hand_over(cat, p, b, true);
      return Status::Ok;
    } catch (const std::exception& e) {
      set_error(e.what());
      return Status::Error;
    }
  }

  // json-batch while the topic's partition count is not known yet (no broker
  // answered): a batch of one, which librdkafka's partitioner places by the
  // event's key once it knows the topic, exactly as in the json format.
  Status write_single(const SinkMessage* m, int cat, const char* key, size_t key_size) {
    single_.assign(m->json.data, m->json.size);
    single_ += '\n';
    int64_t ts_ms = static_cast<int64_t>(m->timestamp_ns / 1'000'000);
    auto produce = [&] {
      return producer_->produce_batch(cat, RD_KAFKA_PARTITION_UA, key, key_size, single_.data(),
                                      single_.size(), false, 1, ts_ms, m->timestamp_ns);
    };
    rd_kafka_resp_err_t err = produce();
    if (err) err = retry_produce(err, produce);
    return produced_or_refused(err, 1);
  }

  // Unkeyed events stay on one partition per batch (as librdkafka's sticky
  // partitioner does with unkeyed messages); the next batch picks another.
  int32_t sticky_partition(int cat, int32_t count) {
    int32_t& p = sticky_[cat];
    if (p < 0 || p >= count) p = static_cast<int32_t>(random_() % static_cast<uint32_t>(count));
    return p;
  }

  // Hands a batch to librdkafka as one message. False when the queue stayed
  // full (after waiting like write() when `wait`): the batch stays, marked,
  // and goes first once there is room. Any other error fails its events
  // (counted by reason) and empties it.
  bool hand_over(int cat, int32_t partition, Batch& b, bool wait) {
    uint64_t first_ns = b.first_event_ns();
    b.shrink_to_fit();
    auto produce = [&] {
      return producer_->produce_batch(cat, partition, nullptr, 0, b.data(), b.size(), true,
                                      b.events(), static_cast<int64_t>(first_ns / 1'000'000),
                                      first_ns);
    };
    rd_kafka_resp_err_t err = produce();
    if (err == RD_KAFKA_RESP_ERR__FATAL || (err && wait)) err = retry_produce(err, produce);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      b.set_refused();
      return false;
    }
    if (!err) {
      b.released();
    } else {
      counters_.fail(err_label(err), b.events());
      if (drop_log_.allow())
        log(LogLevel::Warn, "Kafka sink: a batch of " + std::to_string(b.events()) +
                                " events could not be produced: " + rd_kafka_err2str(err));
      b.clear();
    }
    if (sticky_[cat] == partition) sticky_[cat] = -1;
    return true;
  }

  // Batches older than batch.max_age (and those refused before) go out.
  void close_aged() {
    int64_t now = 0;
    batches_.for_each_open([&](int c, int32_t p, Batch& b) {
      if (!now) now = mono_ns();
      if (b.refused() || now - b.opened_ns() >= config_.batch_max_age_ns) hand_over(c, p, b, false);
    });
  }

  void on_timer() noexcept override {
    try {
      close_aged();
    } catch (const std::exception& e) {
      log(LogLevel::Error, std::string("Kafka sink: ") + e.what());
    }
  }

  Status drop_queue_full() {
    dropping_ = true;
    ++episode_drops_;
    counters_.dropped_queue_full.add();
    counters_.fail("queue_full");
    if (drop_log_.allow()) {
      uint64_t held = drop_log_.take_suppressed();
      log(LogLevel::Warn,
          "Kafka sink: local queue full (" + std::to_string(producer_->outstanding()) +
              " messages waiting for the broker); dropping events" +
              (held ? " (" + std::to_string(held + 1) + " since the last report)" : ""));
    }
    set_error("Kafka queue full");
    return Status::Again;
  }

  void end_drop_episode() {
    log(LogLevel::Info, "Kafka sink: queue has room again after " + std::to_string(episode_drops_) +
                            " dropped events");
    dropping_ = false;
    episode_drops_ = 0;
  }

  void recover_if_fatal() {
    std::string reason;
    if (!producer_->fatal(&reason)) return;
    log(LogLevel::Warn, "Kafka sink: producer failed fatally (" + reason +
                            "); recreating it and re-sending what was not delivered");
    std::vector<Undelivered> undelivered =
        producer_->take_undelivered(to_ms(config_.recovery_wait_ns));
    std::array<int32_t, kCategories> partitions{};
    for (size_t c = 0; c < kCategories; ++c) partitions[c] = producer_->partition_count(int(c));
    producer_.reset();
    producer_ = std::make_unique<Producer>(config_, counters_, events());
    producer_->seed_partition_counts(partitions);
    counters_.restarts.add();
    uint64_t never_sent = 0, unacked = 0;
    for (Undelivered& u : undelivered) {
      const char* key = u.has_key ? u.key.data() : nullptr;
      rd_kafka_resp_err_t err =
          batched_ ? producer_->produce_batch(u.category, u.partition, key, u.key.size(),
                                              u.payload.data(), u.payload.size(), false, u.events,
                                              u.timestamp_ms, 0, u.spool_seq)
          : u.spool_seq
              ? producer_->produce_spooled(u.category, key, u.key.size(), u.payload.data(),
                                           u.payload.size(), u.timestamp_ms, u.spool_seq)
              : producer_->produce(u.category, key, u.key.size(), u.payload.data(),
                                   u.payload.size(), u.timestamp_ms);
      if (err) {
        counters_.fail("resend_" + err_label(err), u.events);
        if (u.spool_seq && spool_) release(u.spool_seq);
        continue;
      }
      (u.maybe_persisted ? unacked : never_sent) += u.events;
    }
    counters_.resent_queued.add(never_sent);
    counters_.resent_in_flight.add(unacked);
    log(LogLevel::Info, "Kafka sink: producer recreated; re-sent " + std::to_string(never_sent) +
                            " messages that never reached a broker and " + std::to_string(unacked) +
                            " unacknowledged ones (those may arrive twice)");
  }

  // Says when deliveries resume after an outage: only acknowledgements served
  // after the all-brokers-down error count (those served earlier in the same
  // poll() were for requests answered before the connection dropped).
  void watch_connectivity() {
    uint64_t delivered = counters_.delivered.get();
    if (broker_down_ && delivered > delivered_seen_) {
      broker_down_ = false;
      log(LogLevel::Info, "Kafka sink: broker reachable again; delivering " +
                              std::to_string(producer_->outstanding()) + " queued messages");
    }
    watch_progress(delivered > delivered_seen_);
    delivered_seen_ = delivered;
  }

  // Says when messages wait with no acknowledgement while no outage is
  // known (produce requests failing and retried, a broker that accepts
  // connections but does not answer): once per stall, after log_interval
  // (at least 1 s), and again when acknowledgements resume.
  void watch_progress(bool acknowledged) {
    auto now = Clock::now();
    int waiting = producer_->outstanding();
    if (acknowledged || waiting == 0 || broker_down_) {
      if (stalled_ && (acknowledged || waiting == 0))
        log(LogLevel::Info,
            "Kafka sink: acknowledgements resumed after " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::seconds>(now - progress_at_).count()) +
                " s without any");
      stalled_ = false;
      progress_at_ = now;
      return;
    }
    auto after = std::max<std::chrono::nanoseconds>(
        std::chrono::nanoseconds(config_.log_interval_ns), std::chrono::seconds(1));
    if (stalled_ || now - progress_at_ < after) return;
    stalled_ = true;
    log(LogLevel::Warn,
        "Kafka sink: no acknowledgement for " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::seconds>(now - progress_at_).count()) +
            " s while " + std::to_string(waiting) +
            " messages wait and the broker is connected (a slow broker, or produce requests "
            "failing "
            "and retried: kafka_send_errors_total counts those that give up)");
  }

  ProducerEvents& events() { return *this; }

  // ProducerEvents (served inside poll()).
  void on_kafka_error(rd_kafka_resp_err_t err, const std::string& reason) override {
    if (err == RD_KAFKA_RESP_ERR__FATAL) return;  // handled by recover_if_fatal()
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
      broker_down_ = true;
      // Acknowledgements served earlier in this same poll() came before the
      // outage: they must not read as "reachable again" (under load the
      // gauge went back to 1 at once and stayed there through the outage).
      delivered_seen_ = counters_.delivered.get();
    }
    if (!outage_log_.allow()) return;
    uint64_t held = outage_log_.take_suppressed();
    log(LogLevel::Warn,
        "Kafka sink: " + reason + " (" + std::to_string(producer_->outstanding()) +
            " messages queued" +
            (held ? ", " + std::to_string(held) + " similar errors not shown" : "") + ")");
  }
  void on_kafka_log(LogLevel level, const std::string& line) override {
    if (log_enabled(level)) log(level, line);
  }
  void on_spooled_done(uint64_t tag) override {
    if (spool_) release(tag);
  }
  bool on_copy_failed(uint64_t seq) override { return spool_ && spool_->reclaim(seq); }
  bool on_abandoned(const Undelivered& u) override { return spool_ && save(u); }
  bool on_spooled_failed(const Undelivered& u) override {
    if (!spool_ || !save(u)) return false;
    release(u.spool_seq);  // now a new record, at the end
    spool_requeued_.add(u.events);
    return true;
  }
  // Appends a message taken back from librdkafka to the spool (its value as
  // it was produced).
  bool save(const Undelivered& u) {
    spool::RecordView r;
    r.category = static_cast<uint8_t>(u.category);
    r.key = u.has_key ? u.key.data() : nullptr;
    r.key_size = u.key.size();
    r.batch = batched_;
    r.partition = batched_ ? u.partition : -1;
    r.events = u.events;
    r.event_ns = static_cast<uint64_t>(std::max<int64_t>(u.timestamp_ms, 0)) * 1'000'000;
    r.value = u.payload.data();
    r.value_size = u.payload.size();
    return spool_->append(r) == spool::Spool::Result::Ok;
  }

  std::string summary() const {
    return std::to_string(counters_.produced.get()) + " produced, " +
           std::to_string(counters_.delivered.get()) + " delivered, " +
           std::to_string(counters_.failed_total()) + " failed (" +
           std::to_string(counters_.dropped_queue_full.get()) + " dropped on a full queue), " +
           std::to_string(counters_.restarts.get()) + " producer restarts" +
           (spool_ ? ", " + std::to_string(spool_->stats().appended.load()) + " spooled, " +
                         std::to_string(spool_->stats().replayed.load()) + " replayed"
                   : std::string());
  }

  SinkConfig config_;
  bool batched_ = false;  // format = "json-batch"
  std::unique_ptr<Partitioning> partitioning_;
  Batches batches_;
  std::array<int32_t, kCategories> sticky_{-1, -1, -1, -1};
  std::minstd_rand random_{std::random_device{}()};
  std::string single_;
  std::string hostname_;
  DeliveryCounters counters_;
  std::unique_ptr<Producer> producer_;
  bool broker_down_ = false;
  bool dropping_ = false;
  uint64_t episode_drops_ = 0;
  uint64_t delivered_seen_ = 0;
  bool stalled_ = false;
  Clock::time_point progress_at_ = Clock::now();
  RateLimit outage_log_;
  RateLimit drop_log_;
  // The disk spool (spool.enabled); spooling_: new events go there (until replayed).
  std::unique_ptr<spool::Spool> spool_;
  bool spooling_ = false;
  uint64_t saved_at_close_ = 0;
  Counter spool_requeued_;  // replayed, failed, appended again
  ReplayGroups groups_;     // json-batch: spooled events regrouped for replay
  // thread = true: the sink's own thread, and what the dispatcher counts of
  // the hand-off (the ring full for queue.full_wait: events dropped).
  bool threaded_ = false;
  std::unique_ptr<SinkThread> thread_;
  Counter handoff_dropped_;
  uint64_t handoff_drops_ = 0;  // in the current episode
  RateLimit handoff_log_;
};

}  // namespace
}  // namespace leaf::kafka

LEAF_PLUGIN(leaf::kafka::KafkaSink, Sink, "kafka", "1.0.0",
            "Kafka sink: every event to Kafka (librdkafka), topic by category, key by SPEC.md",
            leaf::kafka::kOptions)
