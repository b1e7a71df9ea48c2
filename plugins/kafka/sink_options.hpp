// The options the Kafka sink declares (conf.d/kafka.toml): key, type,
// default, bounds and one line of documentation each.
#pragma once

#include <leaf/sdk/config.h>

#include <cstdint>

namespace leaf::kafka {

using sdk::ConfigOption;
using sdk::OptionType;

namespace detail {
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1000 * kMs;
constexpr int64_t kIntMax = 2147483647;
}  // namespace detail
using detail::kIntMax;
using detail::kMs;
using detail::kS;

inline constexpr ConfigOption kOptions[] = {
    {"brokers", OptionType::String, "\"\"", 0, 0, nullptr,
     "bootstrap servers, host:port[,host:port...]; the sink refuses to start while empty"},
    {"topics.network", OptionType::String, "\"system.events.network\"", 0, 0, nullptr,
     "topic of network events"},
    {"topics.process", OptionType::String, "\"system.events.process\"", 0, 0, nullptr,
     "topic of process events"},
    {"topics.performance", OptionType::String, "\"system.events.performance\"", 0, 0, nullptr,
     "topic of performance events"},
    {"topics.metrics", OptionType::String, "\"system.metrics\"", 0, 0, nullptr, "topic of metrics"},
    {"keys.network", OptionType::String, "\"spec\"", 0, 0, "spec|hostname|event_type|none",
     "message key of network events: spec (src_ip), hostname, event_type or none"},
    {"keys.process", OptionType::String, "\"spec\"", 0, 0, "spec|hostname|event_type|none",
     "message key of process events: spec (pid), hostname, event_type or none"},
    {"keys.performance", OptionType::String, "\"spec\"", 0, 0, "spec|hostname|event_type|none",
     "message key of performance events: spec (hostname), hostname, event_type or none"},
    {"keys.metrics", OptionType::String, "\"spec\"", 0, 0, "spec|hostname|event_type|none",
     "message key of metrics: spec (the metric type), hostname, event_type or none"},
    {"format", OptionType::String, "\"json\"", 0, 0, "json|json-batch",
     "message value: json (one SPEC object per message) or json-batch (many per message, "
     "newline-delimited, for high rates)"},
    {"batch.max_bytes", OptionType::Size, "\"256K\"", 1024, 960 * 1024, nullptr,
     "json-batch: a message closes before it would exceed this size"},
    {"batch.max_events", OptionType::Int, "1000", 1, 1'000'000, nullptr,
     "json-batch: a message closes at this many events"},
    {"batch.max_age", OptionType::Duration, "\"0ms\"", 0, 10 * kS, nullptr,
     "json-batch: a message closes this long after its first event (checked at every "
     "drain tick of leaf-host; 0: at the end of the tick that filled it)"},
    {"batch.linger", OptionType::Duration, "\"0ms\"", 0, 900 * kS, nullptr,
     "json-batch: linger.ms for the batch messages (the batch age already gathers events; "
     "`linger` is json's)"},
    {"batch.metadata_refresh", OptionType::Duration, "\"30s\"", kS, 3600 * kS, nullptr,
     "json-batch: how often the topics' partition counts are read again"},
    {"client_id", OptionType::String, "\"leaf\"", 0, 0, nullptr, "Kafka client.id"},
    {"linger", OptionType::Duration, "\"1ms\"", 0, 900 * kS, nullptr,
     "how long a message may wait for its batch to fill (linger.ms)"},
    {"compression", OptionType::String, "\"lz4\"", 0, 0, "none|gzip|snappy|lz4|zstd",
     "batch compression (compression.type)"},
    {"acks", OptionType::String, "\"all\"", 0, 0, "all|1|0",
     "acknowledgements the leader waits for (acks; idempotence needs all)"},
    {"idempotence", OptionType::Bool, "true", 0, 0, nullptr,
     "idempotent producer: broker-side de-duplication of retries (enable.idempotence)"},
    {"queue.max_messages", OptionType::Int, "1000000", 1, 10'000'000, nullptr,
     "messages the local queue holds while the broker is slow or away"},
    {"queue.max_size", OptionType::Size, "\"64M\"", 1 << 20, kIntMax * 1024, nullptr,
     "memory the local queue may take while the broker is slow or away: messages and "
     "librdkafka's bookkeeping (about 190 bytes a message); what does not fit is refused, counted"},
    {"queue.full_wait", OptionType::Duration, "\"5ms\"", 0, 10 * kS, nullptr,
     "how long write() waits for room in a full queue before dropping (counted)"},
    {"delivery_timeout", OptionType::Duration, "\"5m\"", 0, kIntMax* kMs, nullptr,
     "how long a message is retried before it fails (message.timeout.ms; 0: forever)"},
    {"connect_check", OptionType::Duration, "\"1s\"", 0, 60 * kS, nullptr,
     "at start, how long to wait for a broker before warning that none is reachable (0: skip)"},
    {"recovery_wait", OptionType::Duration, "\"1s\"", 0, 60 * kS, nullptr,
     "after a fatal producer error, how long to wait for in-flight acknowledgements"},
    {"log_interval", OptionType::Duration, "\"10s\"", 0, 3600 * kS, nullptr,
     "at most one warning per interval about drops and outages"},
    {"thread", OptionType::Bool, "false", 0, 0, nullptr,
     "run the sink on a thread of its own: the dispatcher hands each event over (a copy) and "
     "librdkafka's per-message calls run beside it (more events/s where a core is free)"},
    {"spool.enabled", OptionType::Bool, "false", 0, 0, nullptr,
     "keep what the broker has not acknowledged in a disk spool during outages and across "
     "restarts"},
    {"spool.dir", OptionType::String, "\"/var/lib/leaf/spool/kafka\"", 0, 0, nullptr,
     "directory of the spool's segment files (created; one leaf-host per directory)"},
    {"spool.max_size", OptionType::Size, "\"1G\"", 1 << 20, int64_t{1} << 50, nullptr,
     "disk space the spool may take; beyond it the `spool.full` policy drops (counted)"},
    {"spool.segment_size", OptionType::Size, "\"64M\"", 64 * 1024, int64_t{1} << 40, nullptr,
     "size of one segment file (at most a quarter of spool.max_size); acknowledged segments are "
     "deleted"},
    {"spool.full", OptionType::String, "\"drop_newest\"", 0, 0, "drop_newest|drop_oldest",
     "when the spool is full: refuse new events (drop_newest) or delete the oldest segment "
     "(drop_oldest); both counted"},
    {"spool.threshold", OptionType::Size, "\"4M\"", 0, kIntMax * 1024, nullptr,
     "events go to the spool while the memory queue holds more than this (at most half of "
     "queue.max_size), or no broker answers; 0: every event is written to the spool first"},
    {"spool.fsync_interval", OptionType::Duration, "\"1s\"", 0, 3600 * kS, nullptr,
     "how often the spool's files are forced to disk (fdatasync; 0: on every poll)"},
    {"properties", OptionType::StringList, "[]", 0, 0, nullptr,
     "librdkafka properties as \"name=value\" (security.protocol, sasl.*, ssl.*...), applied last"},
};

}  // namespace leaf::kafka
