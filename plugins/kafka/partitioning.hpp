// json-batch: which partition an event goes to. librdkafka places a keyed
// message with its configured partitioner (`partitioner`, default
// consistent_random) on the topic's partition count; json-batch calls the
// same public partitioner function on the same key and count, so an event
// lands where the `json` format would put it and per-key order holds.
// Unkeyed events (and the `random` partitioner) stick to one partition per
// batch, as librdkafka's sticky partitioner does for unkeyed messages.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string>

namespace leaf::kafka {

class Partitioning {
 public:
  // `name` as librdkafka's `partitioner` property; throws
  // sdk::PluginError(InvalidConfig) on a name librdkafka does not know.
  explicit Partitioning(const std::string& name);

  // The partition of a keyed event on a topic of `count` (> 0) partitions,
  // or -1 when the event has no fixed partition (unkeyed with a *_random
  // partitioner, or the `random` partitioner): the caller picks one.
  int32_t of_key(const rd_kafka_topic_t* rkt, const char* key, size_t key_size,
                 int32_t count) const {
    if (!hash_ || (key_size == 0 && !hash_unkeyed_)) return -1;
    return hash_(rkt, key, key_size, count, nullptr, nullptr);
  }

 private:
  using Fn = int32_t (*)(const rd_kafka_topic_t*, const void*, size_t, int32_t, void*, void*);
  Fn hash_ = nullptr;          // null: random partitioner
  bool hash_unkeyed_ = false;  // the non-random variants hash an empty key too
};

}  // namespace leaf::kafka
