// The SDK's TestHost (leaf/sdk/testing/test_host.hpp) with the ticker test
// plugin: configuration as leaf-host validates it, the life cycle, timers,
// emitted records, counters, and refusals that name their reason.
#include <doctest/doctest.h>

#include <cstring>
#include <leaf/sdk/testing/test_host.hpp>
#include <stdexcept>
#include <string>

using leaf::sdk::testing::TestHost;

namespace {

std::string ticker(const std::string& name = "ticker") {
  return std::string(LEAF_TEST_PLUGIN_DIR) + "/leaf_" + name + ".so";
}

std::string error_of(const std::string& path, const leaf::sdk::testing::Overrides& config) {
  try {
    TestHost host(path, config);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// tick_event (tests/plugins/ticker.cpp): header (16 bytes), then seq.
uint64_t seq_of(const std::vector<uint8_t>& record) {
  uint64_t seq = 0;
  std::memcpy(&seq, record.data() + 16, sizeof(seq));
  return seq;
}

}  // namespace

TEST_CASE("TestHost runs a plugin: defaults, overrides, timers, emitted records, counters") {
  TestHost host(ticker(), {{"interval", "\"250ms\""}, {"label", "\"hello\""}});
  REQUIRE(host.probe() != nullptr);
  CHECK(host.sink() == nullptr);
  host.open();
  host.start();
  REQUIRE(host.timer_count() == 1);
  CHECK(host.timer_interval_ns() == 250'000'000);
  host.fire_timers();
  host.fire_timers();
  auto records = host.take_emitted();
  REQUIRE(records.size() == 2);
  CHECK(records[0].type == "tick");
  CHECK(seq_of(records[0].bytes) == 1);
  CHECK(seq_of(records[1].bytes) == 2);
  CHECK(std::string(reinterpret_cast<const char*>(records[0].bytes.data()) + 32) == "hello");
  CHECK(host.take_emitted().empty());
  CHECK(host.counters()["ticker_ticks"] == 2);
  host.stop();
}

TEST_CASE("TestHost refuses what leaf-host refuses, naming the key or the versions") {
  CHECK(error_of(ticker(), {{"colour", "\"red\""}}).find("colour") != std::string::npos);
  std::string range = error_of(ticker(), {{"count", "-1"}});
  CHECK(range.find("count") != std::string::npos);
  std::string type = error_of(ticker(), {{"label", "12"}});
  CHECK(type.find("label") != std::string::npos);
  std::string minor = error_of(ticker("ticker_minor9"), {});
  CHECK(minor.find("2.9") != std::string::npos);
  CHECK(error_of(ticker("ticker_failcreate"), {}).find("built to fail in its factory") !=
        std::string::npos);
  TestHost failing(ticker("ticker_failopen"));
  CHECK_THROWS_WITH_AS(failing.open(), doctest::Contains("built to fail in open()"),
                       std::runtime_error);
}

TEST_CASE("TestHost refuses records outside the type's size bounds, as leaf-host does") {
  TestHost host(ticker(), {{"mode", "\"oversized\""}});
  host.open();
  host.start();
  host.fire_timers();
  CHECK(host.take_emitted().empty());
}
