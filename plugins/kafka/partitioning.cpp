#include "partitioning.hpp"

#include <leaf/sdk/plugin.hpp>

namespace leaf::kafka {

Partitioning::Partitioning(const std::string& name) {
  // The names and functions of librdkafka 2.0.2's built-in partitioners
  // (CONFIGURATION.md, `partitioner`).
  if (name == "consistent_random") {
    hash_ = &rd_kafka_msg_partitioner_consistent;
  } else if (name == "consistent") {
    hash_ = &rd_kafka_msg_partitioner_consistent;
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
  } else if (name != "random") {
    throw sdk::PluginError("librdkafka property 'partitioner': '" + name +
                               "' is not one of librdkafka's partitioners (random, consistent, "
                               "consistent_random, murmur2, murmur2_random, fnv1a, fnv1a_random)",
                           sdk::Status::InvalidConfig);
  }
}

}  // namespace leaf::kafka
