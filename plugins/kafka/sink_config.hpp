// Configuration of the Kafka sink: the declared options (conf.d/kafka.toml)
// and the librdkafka properties they turn into.
#pragma once

#include <leaf/sdk/abi.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace leaf::kafka {

inline constexpr size_t kCategories = 4;  // network, process, performance, metrics

// Index 0..3 of a category, or -1 when unknown.
inline int category_index(sdk::Category c) {
  int i = static_cast<int>(c) - 1;
  return i >= 0 && i < static_cast<int>(kCategories) ? i : -1;
}

// Which key a category's messages carry.
enum class KeyMode { Spec, Hostname, EventType, None };

// The value format of the messages.
enum class Format { Json, JsonBatch };

struct SinkConfig {
  std::string brokers;
  std::array<std::string, kCategories> topics;
  std::array<KeyMode, kCategories> keys{};
  // librdkafka properties in the order they are applied: the sink's
  // defaults, then the operator's `properties` (which win).
  std::vector<std::pair<std::string, std::string>> properties;
  int64_t queue_full_wait_ns = 0;
  int64_t connect_check_ns = 0;
  int64_t recovery_wait_ns = 0;
  int64_t log_interval_ns = 0;
  uint64_t queue_max_bytes = 0;  // memory of the queued messages, bookkeeping included
  Format format = Format::Json;
  // json-batch
  size_t batch_max_bytes = 0;
  uint32_t batch_max_events = 0;
  int64_t batch_max_age_ns = 0;
  int64_t metadata_refresh_ns = 0;
  std::string partitioner = "consistent_random";  // librdkafka's default
  // The disk spool (spool.*).
  bool spool = false;
  std::string spool_dir;
  uint64_t spool_max_bytes = 0;
  uint64_t spool_segment_bytes = 0;
  bool spool_drop_oldest = false;
  uint64_t spool_threshold = 0;
  int64_t spool_fsync_interval_ns = 0;
  bool thread = false;  // the sink on a thread of its own (sink_thread.hpp)
};

// Reads and checks the configuration. Throws sdk::PluginError(InvalidConfig)
// naming the key.
SinkConfig load_config(const sdk::IHost& host);

}  // namespace leaf::kafka
