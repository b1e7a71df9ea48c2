// json-batch: which partition an event goes to. librdkafka places a keyed
// message with its configured partitioner (`partitioner`, default
// consistent_random) on the topic's partition count; json-batch computes the
// same function of the same key and count, so an event lands where the
// `json` format would put it and per-key order holds. Unkeyed events (and
// the `random` partitioner) stick to one partition per batch, as
// librdkafka's sticky partitioner does for unkeyed messages.
//
// The consistent partitioners are librdkafka 2.0.2's
// `rd_crc32(key) % partition_cnt` with zlib's CRC-32; libdeflate's
// libdeflate_crc32 is the same CRC-32 (the spool's checksum) and is computed
// here directly: through librdkafka the per-event hash took two calls across
// libraries and zlib's generic path (~160 instructions for a 10-byte IPv4
// key, ~117 this way). murmur2 and fnv1a stay librdkafka's own functions.
#pragma once

#include <libdeflate.h>
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
    if (kind_ == Kind::Random || (key_size == 0 && !hash_unkeyed_)) return -1;
    if (kind_ == Kind::Crc32)
      return static_cast<int32_t>(libdeflate_crc32(0, key, key_size) %
                                  static_cast<uint32_t>(count));
    return hash_(rkt, key, key_size, count, nullptr, nullptr);
  }

 private:
  using Fn = int32_t (*)(const rd_kafka_topic_t*, const void*, size_t, int32_t, void*, void*);
  enum class Kind { Random, Crc32, Library };
  Kind kind_ = Kind::Random;
  Fn hash_ = nullptr;          // Kind::Library: librdkafka's partitioner function
  bool hash_unkeyed_ = false;  // the non-random variants hash an empty key too
};

}  // namespace leaf::kafka
