// json-batch's partition of a key (partitioning.hpp) against librdkafka's own
// partitioner functions, which place the `json` format's messages: the same
// key and partition count must give the same partition for every partitioner
// name, or per-key order across the two formats breaks.
#include "../partitioning.hpp"

#include <doctest/doctest.h>
#include <librdkafka/rdkafka.h>

#include <leaf/sdk/plugin.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

using leaf::kafka::Partitioning;
using Fn = int32_t (*)(const rd_kafka_topic_t*, const void*, size_t, int32_t, void*, void*);

// Keys shaped like SPEC.md §3's (IPv4/IPv6 addresses, pids, host names) and
// random bytes of every length up to 64 (a fixed seed: the same keys each run).
std::vector<std::string> keys() {
  std::vector<std::string> out;
  for (int i = 0; i < 256; ++i)
    out.push_back("10.1." + std::to_string(i) + "." + std::to_string(255 - i));
  for (int i = 1; i < 70000; i += 97) out.push_back(std::to_string(i));
  out.push_back("fe80::1c2a:3bff:fe4d:5e6f");
  out.push_back("build-host-01.example.org");
  std::mt19937 rng(16);
  for (size_t n = 1; n <= 64; ++n)
    for (int r = 0; r < 8; ++r) {
      std::string k(n, '\0');
      for (auto& c : k) c = static_cast<char>(rng());
      out.push_back(k);
    }
  return out;
}

void check_same(const char* name, Fn reference) {
  Partitioning p(name);
  for (const std::string& k : keys())
    for (int32_t count : {1, 2, 3, 5, 7, 12, 64, 1000}) {
      int32_t want = reference(nullptr, k.data(), k.size(), count, nullptr, nullptr);
      int32_t got = p.of_key(nullptr, k.data(), k.size(), count);
      if (got != want) {
        INFO(name << " key of " << k.size() << " bytes, " << count << " partitions");
        REQUIRE(got == want);
      }
    }
}

}  // namespace

TEST_CASE("keyed events: the partition librdkafka's partitioner of the same name gives") {
  check_same("consistent_random", &rd_kafka_msg_partitioner_consistent);
  check_same("consistent", &rd_kafka_msg_partitioner_consistent);
  check_same("murmur2_random", &rd_kafka_msg_partitioner_murmur2);
  check_same("murmur2", &rd_kafka_msg_partitioner_murmur2);
  check_same("fnv1a_random", &rd_kafka_msg_partitioner_fnv1a);
  check_same("fnv1a", &rd_kafka_msg_partitioner_fnv1a);
}

TEST_CASE("unkeyed events: hashed by the non-random partitioners, the caller's pick otherwise") {
  for (int32_t count : {1, 3, 12}) {
    CHECK(Partitioning("consistent").of_key(nullptr, nullptr, 0, count) ==
          rd_kafka_msg_partitioner_consistent(nullptr, nullptr, 0, count, nullptr, nullptr));
    CHECK(Partitioning("murmur2").of_key(nullptr, nullptr, 0, count) ==
          rd_kafka_msg_partitioner_murmur2(nullptr, "", 0, count, nullptr, nullptr));
    CHECK(Partitioning("consistent_random").of_key(nullptr, nullptr, 0, count) == -1);
    CHECK(Partitioning("murmur2_random").of_key(nullptr, nullptr, 0, count) == -1);
    CHECK(Partitioning("fnv1a_random").of_key(nullptr, nullptr, 0, count) == -1);
  }
  CHECK(Partitioning("random").of_key(nullptr, "10.1.2.3", 8, 3) == -1);
}

TEST_CASE("a partitioner librdkafka does not know is a configuration error") {
  try {
    Partitioning p("crc32");
    FAIL("no error");
  } catch (const leaf::sdk::PluginError& e) {
    CHECK(e.status == leaf::sdk::Status::InvalidConfig);
    CHECK(std::string(e.what()).find("'crc32'") != std::string::npos);
  }
}
