#include "partitioning.hpp"

#include <leaf/sdk/plugin.hpp>

namespace leaf::kafka {

Partitioning::Partitioning(const std::string& name) {
  // The names and functions of librdkafka 2.0.2's built-in partitioners
  // (CONFIGURATION.md, `partitioner`); the consistent ones are computed
  // here (partitioning.hpp), the others call librdkafka.
  if (name == "consistent_random") {
    kind_ = Kind::Crc32;
  } else if (name == "consistent") {
    kind_ = Kind::Crc32;
    hash_unkeyed_ = true;
  } else if (name == "murmur2_random") {
    hash_ = &rd_kafka_msg_partitioner_murmur2;
  } else if (name == "murmur2") {
    hash_ = &rd_kafka_msg_partitioner_murmur2;
    hash_unkeyed_ = true;
  } else if (name == "fnv1a_random") {
    hash_ = &rd_kafka_msg_partitioner_fnv1a;
  } else if (name == "fnv1a") {
    hash_ = &rd_kafka_msg_partitioner_fnv1a;
    hash_unkeyed_ = true;
  } else if (name == "random") {
    return;
  } else {
    throw sdk::PluginError("librdkafka property 'partitioner': '" + name +
                               "' is not one of librdkafka's partitioners (random, consistent, "
                               "consistent_random, murmur2, murmur2_random, fnv1a, fnv1a_random)",
                           sdk::Status::InvalidConfig);
  }
  if (kind_ == Kind::Random) kind_ = Kind::Library;
}

}  // namespace leaf::kafka
