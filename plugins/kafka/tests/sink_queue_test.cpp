// The Kafka sink's local queue is bounded in memory (queue.max_size): each
// queued message costs its payload, its key and librdkafka's bookkeeping
// (192 bytes, measured; plugins/kafka/producer.hpp); what would pass the
// bound is refused and counted, and the rest is delivered once the broker is
// back.
#include <doctest/doctest.h>
#include <time.h>

#include <chrono>
#include <string>
#include <thread>

#include "kafka_test_support.hpp"

namespace {

using namespace leaf::kafka::test;
using leaf::sdk::Category;
using leaf::sdk::Status;

constexpr uint64_t kBaseTs = 1704806400000000000ull;
constexpr uint64_t kMessageOverhead = 192;  // as documented in the README and producer.hpp

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

uint64_t realtime_ns() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return uint64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

TEST_CASE("the queue is bounded in bytes: what would pass queue.max_size is refused and counted") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"queue.max_size", "\"1M\""},
                   {"queue.full_wait", "\"0s\""}});
  REQUIRE(sink->open() == Status::Ok);
  mock.command("down");
  constexpr uint64_t kLimit = 1 << 20;
  static const std::string kType = "test_event";
  uint64_t queued = 0, accepted = 0, refused = 0, expected_refused = 0;
  for (uint64_t seq = 0; seq < 10000; ++seq) {
    std::string json = test_event_json(seq, kBaseTs + seq);
    std::string key = std::to_string(seq);
    uint64_t cost = json.size() + key.size() + kMessageOverhead;
    bool fits = queued == 0 || queued + cost <= kLimit;
    if (fits) {
      queued += cost;
      ++accepted;
    } else {
      ++expected_refused;
    }
    auto m = message(Category::Process, kType, key, json, kBaseTs + seq);
    Status st = sink->write(&m);
    // With the sink's thread, write() hands every event over: its counters tell.
    CHECK((st == Status::Ok) == (fits || sink_threaded()));
    if (st != Status::Ok) ++refused;
  }
  REQUIRE(accepted > 1000);  // the bound, not the broker, stopped it
  REQUIRE(expected_refused > 1000);
  auto c = sink.counters();
  if (sink_threaded()) refused = c["kafka_messages_dropped_total{queue_full}"];
  CHECK(refused == expected_refused);
  CHECK(c["kafka_messages_produced_total"] == static_cast<int64_t>(accepted));
  CHECK(c["kafka_messages_dropped_total{queue_full}"] == static_cast<int64_t>(refused));
  CHECK(c["kafka_send_errors_total{queue_full}"] == static_cast<int64_t>(refused));
  CHECK(c["kafka_queue_bytes"] == static_cast<int64_t>(queued));
  CHECK(sink.host().logged("local queue full"));

  mock.command("up");
  REQUIRE(sink->flush(60000) == Status::Ok);
  CHECK(consume(mock.bootstrap(), "system.events.process", accepted).size() == accepted);
  c = sink.counters();
  CHECK(c["kafka_messages_total"] == static_cast<int64_t>(accepted));
  CHECK(c["kafka_queue_bytes"] == 0);
  sink->close();
}

TEST_CASE("the known failure reasons are exported at 0 before any failure") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())}});
  REQUIRE(sink->open() == Status::Ok);
  auto c = sink.counters();
  for (const char* reason : {"queue_full", "msg_timed_out", "shutdown"}) {
    std::string name = std::string("kafka_send_errors_total{") + reason + "}";
    REQUIRE_MESSAGE(c.count(name) == 1, name);
    CHECK(c[name] == 0);
  }
  CHECK(c.count("kafka_messages_dropped_total{queue_full}") == 1);
  CHECK(c.count("kafka_queue_bytes") == 1);
  sink->close();
}

// The delivery callback reads the clock once per poll and reuses it for up
// to 64 reports of that poll (producer.hpp, delivery_now_ns()): a report
// served by a later poll must never be timed with an earlier poll's clock.
TEST_CASE("ack latency: every report is timed by the clock of the poll that serves it") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())}});
  REQUIRE(sink->open() == Status::Ok);
  static const std::string kType = "test_event";
  auto write = [&](uint64_t seq) {
    uint64_t ts = realtime_ns();
    std::string json = test_event_json(seq, ts), key = std::to_string(seq);
    auto m = message(Category::Process, kType, key, json, ts);
    REQUIRE(sink->write(&m) == Status::Ok);
  };
  // One report: the clock is read (and would be reusable 63 more times).
  write(0);
  REQUIRE(sink->flush(30000) == Status::Ok);
  auto c = sink.counters();
  REQUIRE(c["kafka_ack_latency_seconds_count"] == 1);
  int64_t sum0 = c["kafka_ack_latency_seconds_sum"];
  // 200 events acknowledged while nobody polls; served 600 ms after they
  // were written, so each one's latency is at least 600 ms.
  constexpr int64_t kEvents = 200, kWaitNs = 600'000'000;
  for (uint64_t seq = 1; seq <= kEvents; ++seq) write(seq);
  std::this_thread::sleep_for(std::chrono::nanoseconds(kWaitNs));
  REQUIRE(sink->flush(30000) == Status::Ok);
  c = sink.counters();
  CHECK(c["kafka_messages_total"] == kEvents + 1);
  CHECK(c["kafka_ack_latency_seconds_count"] == kEvents + 1);
  CHECK(c["kafka_ack_latency_seconds_sum"] - sum0 >= kEvents * kWaitNs);
  sink->close();
}
