#include "sink_config.hpp"

#include <algorithm>
#include <cstdio>
#include <leaf/sdk/plugin.hpp>

namespace leaf::kafka {

using sdk::PluginError;
using sdk::Status;

namespace {
constexpr int64_t kMs = 1'000'000;
}  // namespace

namespace {

std::string get_string(const sdk::IHost& host, const char* key) {
  sdk::StringView v{};
  if (host.config_string(sdk::make_view(key), &v) != Status::Ok)
    throw PluginError(std::string("configuration key '") + key + "' is missing",
                      Status::InvalidConfig);
  return sdk::to_string(v);
}

int64_t get_int(const sdk::IHost& host, const char* key) {
  int64_t v = 0;
  if (host.config_int(sdk::make_view(key), &v) != Status::Ok)
    throw PluginError(std::string("configuration key '") + key + "' is missing",
                      Status::InvalidConfig);
  return v;
}

bool get_bool(const sdk::IHost& host, const char* key) {
  bool v = false;
  if (host.config_bool(sdk::make_view(key), &v) != Status::Ok)
    throw PluginError(std::string("configuration key '") + key + "' is missing",
                      Status::InvalidConfig);
  return v;
}

std::vector<std::string> get_strings(const sdk::IHost& host, const char* key) {
  uint32_t n = 0;
  if (host.config_list_size(sdk::make_view(key), &n) != Status::Ok)
    throw PluginError(std::string("configuration key '") + key + "' is missing",
                      Status::InvalidConfig);
  std::vector<std::string> out;
  for (uint32_t i = 0; i < n; ++i) {
    sdk::StringView v{};
    host.config_list_string(sdk::make_view(key), i, &v);
    out.push_back(sdk::to_string(v));
  }
  return out;
}

KeyMode key_mode(const std::string& text) {
  if (text == "hostname") return KeyMode::Hostname;
  if (text == "event_type") return KeyMode::EventType;
  if (text == "none") return KeyMode::None;
  return KeyMode::Spec;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

SinkConfig load_config(const sdk::IHost& host) {
  SinkConfig c;
  static const char* const kTopicKeys[kCategories] = {"topics.network", "topics.process",
                                                      "topics.performance", "topics.metrics"};
  static const char* const kKeyKeys[kCategories] = {"keys.network", "keys.process",
                                                    "keys.performance", "keys.metrics"};
  for (size_t i = 0; i < kCategories; ++i) {
    c.topics[i] = get_string(host, kTopicKeys[i]);
    if (c.topics[i].empty())
      throw PluginError(std::string("configuration key '") + kTopicKeys[i] + "' is empty",
                        Status::InvalidConfig);
    c.keys[i] = key_mode(get_string(host, kKeyKeys[i]));
  }
  c.brokers = trim(get_string(host, "brokers"));
  c.queue_full_wait_ns = get_int(host, "queue.full_wait");
  c.connect_check_ns = get_int(host, "connect_check");
  c.recovery_wait_ns = get_int(host, "recovery_wait");
  c.log_interval_ns = get_int(host, "log_interval");
  c.queue_max_bytes = static_cast<uint64_t>(get_int(host, "queue.max_size"));

  c.format = get_string(host, "format") == "json-batch" ? Format::JsonBatch : Format::Json;
  c.batch_max_bytes = static_cast<size_t>(get_int(host, "batch.max_bytes"));
  c.batch_max_events = static_cast<uint32_t>(get_int(host, "batch.max_events"));
  c.batch_max_age_ns = get_int(host, "batch.max_age");
  c.metadata_refresh_ns = get_int(host, "batch.metadata_refresh");

  c.spool = get_bool(host, "spool.enabled");
  c.thread = get_bool(host, "thread");
  c.spool_dir = get_string(host, "spool.dir");
  c.spool_max_bytes = static_cast<uint64_t>(get_int(host, "spool.max_size"));
  c.spool_segment_bytes = static_cast<uint64_t>(get_int(host, "spool.segment_size"));
  c.spool_drop_oldest = get_string(host, "spool.full") == "drop_oldest";
  // Spooling must start before the memory queue refuses events.
  c.spool_threshold =
      std::min(static_cast<uint64_t>(get_int(host, "spool.threshold")), c.queue_max_bytes / 2);
  c.spool_fsync_interval_ns = get_int(host, "spool.fsync_interval");
  if (c.spool && c.spool_dir.empty())
    throw PluginError("configuration key 'spool.dir' is empty (spool.enabled = true)",
                      Status::InvalidConfig);

  std::string compression = get_string(host, "compression");
  auto& p = c.properties;
  if (!c.brokers.empty()) p.emplace_back("bootstrap.servers", c.brokers);
  p.emplace_back("client.id", get_string(host, "client_id"));
  // json-batch messages have already waited up to batch.max_age for their
  // events; a linger on top only adds latency (issue 16: +1 ms at P50, same
  // CPU), so they have their own, batch.linger (0 by default).
  int64_t linger = get_int(host, c.format == Format::JsonBatch ? "batch.linger" : "linger");
  char linger_ms[32];
  std::snprintf(linger_ms, sizeof(linger_ms), "%g", linger / 1e6);
  p.emplace_back("linger.ms", linger_ms);
  p.emplace_back("compression.type", compression);
  // TCP_NODELAY, as the Java client always sets it: librdkafka 2.0.2 leaves
  // Nagle on, which may hold a small produce request back until the
  // previous one is acknowledged; linger is the batching we choose.
  p.emplace_back("socket.nagle.disable", "true");
  p.emplace_back("enable.idempotence", get_bool(host, "idempotence") ? "true" : "false");
  p.emplace_back("acks", get_string(host, "acks"));
  p.emplace_back("queue.buffering.max.messages",
                 std::to_string(get_int(host, "queue.max_messages")));
  p.emplace_back("queue.buffering.max.kbytes",
                 std::to_string(get_int(host, "queue.max_size") / 1024));
  p.emplace_back("message.timeout.ms", std::to_string(get_int(host, "delivery_timeout") / kMs));
  // Reconnect within a second once a broker is back, rather than librdkafka's 10 s cap.
  p.emplace_back("reconnect.backoff.max.ms", "1000");
  // librdkafka's own log lines are served by poll() on the dispatcher thread
  // and go to the host's log.
  p.emplace_back("log.queue", "true");

  for (const std::string& item : get_strings(host, "properties")) {
    auto eq = item.find('=');
    std::string name = trim(item.substr(0, eq));
    if (eq == std::string::npos || name.empty())
      throw PluginError("properties: '" + item + "' is not of the form \"name=value\"",
                        Status::InvalidConfig);
    p.emplace_back(name, trim(item.substr(eq + 1)));
  }
  bool have_bootstrap = !c.brokers.empty();
  for (const auto& [name, value] : p) {
    if ((name == "bootstrap.servers" || name == "metadata.broker.list") && !value.empty())
      have_bootstrap = true;
    if (name == "partitioner") c.partitioner = value;  // json-batch partitions the same way
  }
  if (!have_bootstrap)
    throw PluginError(
        "no Kafka broker configured: set brokers = \"host:9092\" in kafka.toml (or enabled = "
        "false to run without the Kafka sink)",
        Status::InvalidConfig);
  return c;
}

}  // namespace leaf::kafka
