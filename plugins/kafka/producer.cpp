#include "producer.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
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
    : counters_(counters), events_(events) {
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
}

Producer::~Producer() {
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
  if (md) rd_kafka_metadata_destroy(md);
  if (err && why) *why = rd_kafka_err2str(err);
  return !err;
}

void Producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->counters_.delivered.add();
    if (uint64_t event_ns = opaque_event_ns(m->_private)) {
      timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      self->counters_.ack_latency.observe(int64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec -
                                          static_cast<int64_t>(event_ns));
    }
  } else
    self->failed(m);
}

void Producer::failed(const rd_kafka_message_t* m) {
  rd_kafka_msg_status_t status = rd_kafka_message_status(m);
  bool fatal_state = mode_ == Mode::Normal && fatal(nullptr);
  if (mode_ == Mode::Salvage || fatal_state) {
    if (status == RD_KAFKA_MSG_STATUS_PERSISTED) {
      counters_.delivered.add();
      return;
    }
    Undelivered u;
    u.category = opaque_category(m->_private);
    u.maybe_persisted = status == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED;
    u.has_key = m->key != nullptr;
    u.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
    if (m->key) u.key.assign(static_cast<const char*>(m->key), m->key_len);
    u.payload.assign(static_cast<const char*>(m->payload), m->len);
    salvaged_.push_back(std::move(u));
  } else if (mode_ == Mode::Abandon) {
    ++abandoned_;
    counters_.fail(abandon_reason_);
  } else {
    counters_.fail(reason_label(m->err));
  }
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
  while (rd_kafka_outq_len(rk_) > 0 && std::chrono::steady_clock::now() < deadline)
    rd_kafka_poll(rk_, 10);
  rd_kafka_poll(rk_, 0);
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
  for (size_t i = 0; i < salvaged_.size(); ++i) counters_.fail(reason);
  abandoned_ += salvaged_.size();
  salvaged_.clear();
  return abandoned_ - before;
}

}  // namespace leaf::kafka
