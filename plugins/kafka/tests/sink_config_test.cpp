// The librdkafka properties the sink's options turn into (sink_config.cpp),
// read from the options as leaf_kafka.so declares them (TestHost: defaults,
// validated overrides). No broker needed.
#include "../sink_config.hpp"

#include <doctest/doctest.h>

#include <string>

#include "kafka_test_support.hpp"

namespace {

using namespace leaf::kafka;
using namespace leaf::kafka::test;

// The value of a property as applied (the last one set wins), "" if unset.
std::string property(const SinkConfig& c, const std::string& name) {
  std::string v;
  for (const auto& [k, value] : c.properties)
    if (k == name) v = value;
  return v;
}

SinkConfig config(leaf::sdk::testing::Overrides o) {
  o.emplace("brokers", "\"127.0.0.1:1\"");  // required; never contacted here
  LoadedSink sink(o);
  return load_config(sink.host());
}

}  // namespace

TEST_CASE("linger: json uses `linger`, json-batch `batch.linger`") {
  SUBCASE("defaults: 1 ms for json, 0 for json-batch (the batch age already gathers events)") {
    CHECK(property(config({}), "linger.ms") == "1");
    CHECK(property(config({{"format", "\"json-batch\""}}), "linger.ms") == "0");
  }
  SUBCASE("each format reads its own option only") {
    auto json = config({{"linger", "\"3ms\""}, {"batch.linger", "\"7ms\""}});
    CHECK(property(json, "linger.ms") == "3");
    auto batch =
        config({{"format", "\"json-batch\""}, {"linger", "\"3ms\""}, {"batch.linger", "\"7ms\""}});
    CHECK(property(batch, "linger.ms") == "7");
  }
  SUBCASE("fractions of a millisecond") {
    CHECK(property(config({{"linger", "\"500us\""}}), "linger.ms") == "0.5");
  }
  SUBCASE("an operator's linger.ms property wins, applied last") {
    auto c = config({{"format", "\"json-batch\""}, {"properties", R"(["linger.ms=2"])"}});
    CHECK(property(c, "linger.ms") == "2");
  }
  SUBCASE("Nagle off in both formats") {
    CHECK(property(config({}), "socket.nagle.disable") == "true");
    CHECK(property(config({{"format", "\"json-batch\""}}), "socket.nagle.disable") == "true");
  }
}

TEST_CASE("batch.max_age: 0 by default (a batch closes at the end of the tick that filled it)") {
  CHECK(config({{"format", "\"json-batch\""}}).batch_max_age_ns == 0);
  CHECK(config({{"format", "\"json-batch\""}, {"batch.max_age", "\"2ms\""}}).batch_max_age_ns ==
        2'000'000);
}
