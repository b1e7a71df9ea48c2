#include "producer.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <leaf/sdk/plugin.hpp>

namespace leaf::kafka {

using sdk::LogLevel;
using sdk::PluginError;
using sdk::Status;

namespace {

// "_MSG_TIMED_OUT" -> "msg_timed_out": a metric label.
std::string reason_label(rd_kafka_resp_err_t err) {
  std::string name = rd_kafka_err2name(err);
  if (!name.empty() && name[0] == '_') name.erase(0, 1);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return name;
}

LogLevel syslog_to_level(int level) {
  if (level <= 2) return LogLevel::Error;  // emerg, alert, crit
  return LogLevel::Debug;  // the rest also comes through the error callback, rate-limited
}

}  // namespace

Producer::Producer(const SinkConfig& config, DeliveryCounters& counters, ProducerEvents& events)
    : counters_(counters),
      events_(events),
      batched_(config.format == Format::JsonBatch),
      hold_(config.spool),
      max_queue_bytes_(config.queue_max_bytes) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [name, value] : config.properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw PluginError("librdkafka property '" + name + "': " + errstr, Status::InvalidConfig);
    }
  }
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_dr_msg_cb(conf, &Producer::on_delivery);
  rd_kafka_conf_set_error_cb(conf, &Producer::on_error);
  rd_kafka_conf_set_log_cb(conf, &Producer::on_log);
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!rk_) {
    rd_kafka_conf_destroy(conf);
    throw PluginError(std::string("creating the Kafka producer: ") + errstr, Status::InvalidConfig);
  }
  // Log lines are queued (log.queue) and served by poll() on our thread.
  rd_kafka_set_log_queue(rk_, nullptr);
  for (size_t i = 0; i < kCategories; ++i) {
    topics_[i] = rd_kafka_topic_new(rk_, config.topics[i].c_str(), nullptr);
    if (!topics_[i]) {
      std::string why = rd_kafka_err2str(rd_kafka_last_error());
      for (size_t j = 0; j < i; ++j) rd_kafka_topic_destroy(topics_[j]);
      rd_kafka_destroy(rk_);
      throw PluginError("topic '" + config.topics[i] + "': " + why, Status::InvalidConfig);
    }
  }
  if (batched_)
    partition_counts_ = std::make_unique<PartitionCounts>(
        rk_, topics_, std::chrono::milliseconds(config.metadata_refresh_ns / 1'000'000));
}

Producer::~Producer() {
  partition_counts_.reset();  // its thread uses rk_
  abandon("shutdown");
  for (auto* t : topics_) rd_kafka_topic_destroy(t);
  rd_kafka_destroy(rk_);
}

bool Producer::fatal(std::string* reason) const {
  char buf[512];
  if (rd_kafka_fatal_error(rk_, buf, sizeof(buf)) == RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  if (reason) *reason = buf;
  return true;
}

bool Producer::reachable(int timeout_ms, std::string* why) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, nullptr, &md, timeout_ms);
  // The answer covers the topics this producer has handles for.
  if (md && !err && partition_counts_) partition_counts_->update(*md);
  if (md) rd_kafka_metadata_destroy(md);
  if (err && why) *why = rd_kafka_err2str(err);
  return !err;
}

rd_kafka_resp_err_t Producer::produce_batch(int category, int32_t partition, const char* key,
                                            size_t key_size, char* payload, size_t size, bool take,
                                            uint32_t events, int64_t timestamp_ms,
                                            uint64_t event_ns, uint64_t spool_seq) {
  uint64_t cost = memory_cost(size, key ? key_size : 0);
  if (!room_for(cost)) return RD_KAFKA_RESP_ERR__QUEUE_FULL;
  if (!spool_seq && (take || (hold_ && key_size <= 0xffff))) {
    Held* h = nullptr;
    if (take) {
      h = new (Held::of(payload)) Held;
      h->size = static_cast<uint32_t>(size);
    }
    rd_kafka_resp_err_t err = produce_held(category, partition, key, key_size, payload, size, h,
                                           events, timestamp_ms, event_ns, cost);
    if (!err) counters_.batches.add();
    return err;
  }
  char count[16];
  int count_size = std::snprintf(count, sizeof(count), "%u", events);
  rd_kafka_headers_t* headers = rd_kafka_headers_new(2);
  rd_kafka_header_add(headers, kFormatHeader, -1, "json-batch", -1);
  rd_kafka_header_add(headers, kCountHeader, -1, count, count_size);
  rd_kafka_resp_err_t err =
      rd_kafka_producev(rk_, RD_KAFKA_V_RKT(topics_[category]), RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_MSGFLAGS(take ? RD_KAFKA_MSG_F_FREE : RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_VALUE(payload, size), RD_KAFKA_V_KEY(key, key ? key_size : 0),
                        RD_KAFKA_V_HEADERS(headers),
                        RD_KAFKA_V_OPAQUE(spool_seq ? pack_spooled(category, spool_seq)
                                                    : pack_opaque(category, event_ns)),
                        RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_END);
  if (err) {
    rd_kafka_headers_destroy(headers);  // owned by the message only on success
    return err;
  }
  counters_.produced.add(events);
  counters_.batches.add();
  queued_add(cost);
  return err;
}

rd_kafka_resp_err_t Producer::produce_held(int category, int32_t partition, const char* key,
                                           size_t key_size, const char* payload, size_t size,
                                           Held* h, uint32_t events, int64_t timestamp_ms,
                                           uint64_t event_ns, uint64_t cost) {
  bool take = h != nullptr;
  if (!h) h = Held::make(arena_, payload, size, key, key ? key_size : 0);
  if (!h) return RD_KAFKA_RESP_ERR__QUEUE_FULL;  // no memory: as on a full queue
  h->category = static_cast<uint8_t>(category);
  h->partition = partition;
  h->events = events;
  h->event_ns = event_ns;
  if (batched_) h->flags |= Held::kBatch;
  rd_kafka_headers_t* headers = nullptr;
  if (batched_) {
    char count[16];
    int count_size = std::snprintf(count, sizeof(count), "%u", events);
    headers = rd_kafka_headers_new(2);
    rd_kafka_header_add(headers, kFormatHeader, -1, "json-batch", -1);
    rd_kafka_header_add(headers, kCountHeader, -1, count, count_size);
  }
  // Neither F_COPY nor F_FREE: librdkafka references the block's payload
  // until the delivery report, which frees it (on_delivery).
  rd_kafka_resp_err_t err =
      rd_kafka_producev(rk_, RD_KAFKA_V_RKT(topics_[category]), RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_VALUE(h->payload(), size),
                        RD_KAFKA_V_KEY(key, key ? key_size : 0), RD_KAFKA_V_HEADERS(headers),
                        RD_KAFKA_V_OPAQUE(pack_opaque(category, event_ns, true)),
                        RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_END);
  if (err) {
    if (headers) rd_kafka_headers_destroy(headers);
    if (!take) Held::release(h);  // a Batch keeps its buffer
    return err;
  }
  held_.push(h);
  counters_.produced.add(events);
  queued_add(cost);
  return err;
}

rd_kafka_resp_err_t Producer::produce_spooled(int category, const char* key, size_t key_size,
                                              const char* payload, size_t size,
                                              int64_t timestamp_ms, uint64_t seq) {
  uint64_t cost = memory_cost(size, key ? key_size : 0);
  if (!room_for(cost)) return RD_KAFKA_RESP_ERR__QUEUE_FULL;
  rd_kafka_resp_err_t err = rd_kafka_producev(
      rk_, RD_KAFKA_V_RKT(topics_[category]), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_VALUE(const_cast<char*>(payload), size), RD_KAFKA_V_KEY(key, key ? key_size : 0),
      RD_KAFKA_V_OPAQUE(pack_spooled(category, seq)), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
      RD_KAFKA_V_END);
  if (!err) {
    counters_.produced.add();
    queued_add(cost);
  }
  return err;
}

// json-batch messages carry their event count in a header; delivery reports
// keep the headers, so accounting stays per event.
uint32_t Producer::events_in(const rd_kafka_message_t* m) const {
  if (!batched_) return 1;
  rd_kafka_headers_t* headers = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(headers, kCountHeader, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return 1;
  uint32_t n = 0;
  for (size_t i = 0; i < size; ++i) n = n * 10 + (static_cast<const char*>(value)[i] - '0');
  return n;
}

void Producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  self->queued_sub(self->memory_cost(m->len, m->key ? m->key_len : 0));
  Held* held = opaque_held(m);
  // A held message's copy in the spool is acknowledged (or reclaimed) as a
  // replayed record is.
  uint64_t copy = held ? held->seq : 0;
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    uint32_t events = self->events_in(m);
    self->counters_.delivered.add(events);
    uint64_t event_ns = opaque_event_ns(m->_private);
    uint64_t seq = opaque_spool_seq(m->_private);
    if (copy) self->events_.on_spooled_done(copy);
    if (seq) {
      // Timed from the message's timestamp (ms): the event's time.
      int64_t ts_ms = rd_kafka_message_timestamp(m, nullptr);
      event_ns = ts_ms > 0 ? static_cast<uint64_t>(ts_ms) * 1'000'000 : 0;
      self->events_.on_spooled_done(seq);
    }
    if (event_ns) {
      // A batch is timed from its oldest event, for each of its events.
      self->counters_.ack_latency.observe(self->delivery_now_ns() - static_cast<int64_t>(event_ns),
                                          events);
    }
  } else {
    self->failed(m, copy ? copy : opaque_spool_seq(m->_private), copy != 0);
  }
  if (held) {
    self->held_.remove(held);
    Held::release(held);
  }
}

void Producer::failed(const rd_kafka_message_t* m, uint64_t seq, bool copy) {
  rd_kafka_msg_status_t status = rd_kafka_message_status(m);
  bool fatal_state = mode_ == Mode::Normal && fatal(nullptr);
  uint32_t events = events_in(m);
  if (mode_ == Mode::Salvage || fatal_state) {
    if (status == RD_KAFKA_MSG_STATUS_PERSISTED) {
      counters_.delivered.add(events);
      if (seq) events_.on_spooled_done(seq);
      return;
    }
    salvaged_.push_back(undelivered(m, events, seq));
    return;
  }
  if (mode_ == Mode::Abandon) {
    // A spooled record stays in the spool (replayed at the next start); any
    // other message may be saved there by the owner.
    if (seq || events_.on_abandoned(undelivered(m, events, 0))) {
      kept_ += events;
      return;
    }
    abandoned_ += events;
    counters_.fail(abandon_reason_, events);
  } else {
    // A copy goes out again from the spool, in its turn.
    if (copy && events_.on_copy_failed(seq)) return;
    if (seq && events_.on_spooled_failed(undelivered(m, events, seq))) return;
    counters_.fail(reason_label(m->err), events);
    if (seq) events_.on_spooled_done(seq);
  }
}

Undelivered Producer::undelivered(const rd_kafka_message_t* m, uint32_t events,
                                  uint64_t seq) const {
  Undelivered u;
  u.category = opaque_category(m->_private);
  u.maybe_persisted = rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED;
  u.has_key = m->key != nullptr;
  u.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
  if (m->key) u.key.assign(static_cast<const char*>(m->key), m->key_len);
  u.payload.assign(static_cast<const char*>(m->payload), m->len);
  if (batched_) {
    u.partition = m->partition;
    u.events = events;
  }
  u.spool_seq = seq;
  return u;
}

void Producer::on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  self->events_.on_kafka_error(static_cast<rd_kafka_resp_err_t>(err), reason ? reason : "");
}

void Producer::on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  auto* self = static_cast<Producer*>(rd_kafka_opaque(rk));
  if (self)
    self->events_.on_kafka_log(syslog_to_level(level),
                               std::string("librdkafka ") + fac + ": " + buf);
}

void Producer::drain(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (rd_kafka_outq_len(rk_) > 0 && std::chrono::steady_clock::now() < deadline) serve(10);
  serve(0);
}

std::vector<Undelivered> Producer::take_undelivered(int wait_ms) {
  mode_ = Mode::Salvage;
  // Queued messages never left this process: re-sending them duplicates nothing.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE);
  drain(wait_ms);
  // Whatever is still in flight may or may not have been written.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  drain(1000);
  return std::move(salvaged_);
}

uint64_t Producer::abandon(const std::string& reason) {
  mode_ = Mode::Abandon;
  abandon_reason_ = reason;
  uint64_t before = abandoned_;
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  drain(1000);
  // Messages salvaged but never handed back are lost too.
  for (const Undelivered& u : salvaged_) {
    counters_.fail(reason, u.events);
    abandoned_ += u.events;
  }
  salvaged_.clear();
  return abandoned_ - before;
}

}  // namespace leaf::kafka
