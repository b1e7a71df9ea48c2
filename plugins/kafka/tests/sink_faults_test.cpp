// The Kafka sink loaded in-process through its descriptor, fed known
// SinkMessages, delivering to leaf-mock-kafka in another process; kcat reads
// back what the broker holds. Exact counts: every event delivered, none twice.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "kafka_test_support.hpp"

namespace {

using namespace leaf::kafka::test;
using leaf::sdk::Category;
using leaf::sdk::Status;
using Clock = std::chrono::steady_clock;

constexpr const char* kProcessTopic = "system.events.process";
constexpr uint64_t kBaseTs = 1704806400000000000ull;

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// Writes events seq = next, next+1... as the host would: poll() after every
// batch of `batch`. Returns how many write() calls did not return Ok.
size_t write_events(LoadedSink& sink, uint64_t& next, size_t count, size_t batch = 20) {
  size_t refused = 0;
  for (size_t i = 0; i < count; ++i, ++next) {
    std::string json = test_event_json(next, kBaseTs + next);
    std::string key = std::to_string(next);
    static const std::string kType = "test_event";
    auto m = message(Category::Process, kType, key, json, kBaseTs + next);
    if (sink->write(&m) != Status::Ok) ++refused;
    if ((i + 1) % batch == 0) sink->poll();
  }
  sink->poll();
  return refused;
}

// Feeds a steady stream (about `per_second` events/s) for `duration`.
size_t stream_for(LoadedSink& sink, uint64_t& next, std::chrono::milliseconds duration,
                  size_t per_second = 1000) {
  size_t refused = 0;
  auto end = Clock::now() + duration;
  while (Clock::now() < end) {
    refused += write_events(sink, next, per_second / 100);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return refused;
}

// Checks that the topic holds events 0..n-1, each exactly once, keyed by seq,
// with the exact payload that was written.
void check_exactly_once(const std::vector<Record>& records, uint64_t n) {
  std::map<uint64_t, int> seen;
  for (const auto& r : records) {
    Json j = Json::parse(r.payload);
    uint64_t seq = j["data"]["seq"].get<uint64_t>();
    ++seen[seq];
    CHECK(r.key == std::to_string(seq));
    CHECK(r.payload == test_event_json(seq, kBaseTs + seq));
  }
  size_t missing = 0, twice = 0;
  for (uint64_t s = 0; s < n; ++s) {
    auto it = seen.find(s);
    if (it == seen.end())
      ++missing;
    else if (it->second > 1)
      ++twice;
  }
  CHECK(missing == 0);
  CHECK(twice == 0);
  CHECK(records.size() == n);
}

}  // namespace

TEST_CASE("every event arrives once on its topic with its key") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())}});
  REQUIRE(sink->open() == Status::Ok);
  uint64_t next = 0;
  CHECK(write_events(sink, next, 2000) == 0);
  REQUIRE(sink->flush(30000) == Status::Ok);
  check_exactly_once(consume(mock.bootstrap(), kProcessTopic, 2000), 2000);
  auto c = sink.counters();
  CHECK(c["kafka_messages_produced_total"] == 2000);
  CHECK(c["kafka_messages_total"] == 2000);
  CHECK(c["kafka_queue_messages"] == 0);
  CHECK(sink->healthy() == 1);
  sink->close();
}

TEST_CASE("topics and keys follow the category and can be overridden") {
  MockKafka mock({"--topic", "system.events.network", "--topic", "system.metrics", "--topic",
                  "custom.process"});
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"topics.process", "\"custom.process\""},
                   {"keys.process", "\"hostname\""},
                   {"keys.network", "\"none\""},
                   {"keys.metrics", "\"event_type\""}});
  REQUIRE(sink->open() == Status::Ok);
  std::string net = R"({"type":"network","data":{"type":"tcp_connect"}})";
  std::string proc = R"({"type":"process","data":{"type":"process_exec"}})";
  std::string met = R"({"type":"metrics","data":{"type":"perf_stats"}})";
  // message() keeps views: the strings must outlive the writes.
  std::string t1 = "tcp_connect", k1 = "10.0.0.1", t2 = "process_exec", k2 = "42",
              t3 = "perf_stats";
  auto m1 = message(Category::Network, t1, k1, net, kBaseTs);
  auto m2 = message(Category::Process, t2, k2, proc, kBaseTs);
  auto m3 = message(Category::Metrics, t3, t3, met, kBaseTs);
  REQUIRE(sink->write(&m1) == Status::Ok);
  REQUIRE(sink->write(&m2) == Status::Ok);
  REQUIRE(sink->write(&m3) == Status::Ok);
  REQUIRE(sink->flush(30000) == Status::Ok);

  auto n = consume(mock.bootstrap(), "system.events.network", 1);
  REQUIRE(n.size() == 1);
  CHECK_FALSE(n[0].has_key);
  CHECK(n[0].payload == net);
  auto p = consume(mock.bootstrap(), "custom.process", 1);
  REQUIRE(p.size() == 1);
  CHECK(p[0].key == "leaf-test-host");
  CHECK(p[0].payload == proc);
  auto m = consume(mock.bootstrap(), "system.metrics", 1);
  REQUIRE(m.size() == 1);
  CHECK(m[0].key == "perf_stats");
  sink->close();
}

TEST_CASE("a broker down for 10 s mid-stream: every event delivered, none twice") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())}});
  REQUIRE(sink->open() == Status::Ok);
  uint64_t next = 0;
  size_t refused = stream_for(sink, next, std::chrono::seconds(2));
  mock.command("down");
  refused += stream_for(sink, next, std::chrono::seconds(10));
  CHECK(sink.counters()["kafka_queue_messages"] > 0);
  // What the LeafKafkaBrokerUnreachable alert reads, through the outage.
  CHECK(sink.counters()["kafka_broker_reachable"] == 0);
  mock.command("up");
  refused += stream_for(sink, next, std::chrono::seconds(2));
  CHECK(refused == 0);
  REQUIRE(sink->flush(60000) == Status::Ok);
  CHECK(sink.counters()["kafka_broker_reachable"] == 1);
  MESSAGE(next << " events streamed");
  check_exactly_once(consume(mock.bootstrap(), kProcessTopic, next), next);
  auto c = sink.counters();
  CHECK(c["kafka_messages_total"] == static_cast<int64_t>(next));
  CHECK(c["kafka_messages_resent_total{unacknowledged}"] == 0);
  sink->close();
}

TEST_CASE("produce requests failing with retriable errors: all delivered once") {
  MockKafka mock;
  // One request in flight per connection. A real broker enforces the
  // idempotent producer's sequence order: after a failed batch it refuses
  // the later ones, and librdkafka, trusting that, treats an acknowledged
  // later sequence as proof that the earlier ones were written. librdkafka
  // 2.0.2's mock broker does not check sequences, so with several requests
  // in flight it could acknowledge a later batch while an earlier one was
  // failed by injection, and the earlier one would be reported delivered
  // without ever being appended (seen here as 2-3 of ~3000 missing under
  // load). With one request in flight the mock's order is the real order.
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"properties", R"(["max.in.flight.requests.per.connection=1"])"}});
  REQUIRE(sink->open() == Status::Ok);
  uint64_t next = 0;
  CHECK(write_events(sink, next, 100) == 0);
  REQUIRE(sink->flush(30000) == Status::Ok);
  mock.command(
      "errors 0 NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT NOT_ENOUGH_REPLICAS "
      "LEADER_NOT_AVAILABLE NOT_ENOUGH_REPLICAS_AFTER_APPEND NOT_LEADER_FOR_PARTITION "
      "REQUEST_TIMED_OUT NOT_ENOUGH_REPLICAS");
  CHECK(stream_for(sink, next, std::chrono::seconds(3)) == 0);
  REQUIRE(sink->flush(60000) == Status::Ok);
  check_exactly_once(consume(mock.bootstrap(), kProcessTopic, next), next);
  auto c = sink.counters();
  CHECK(c["kafka_messages_total"] == static_cast<int64_t>(next));
  for (const auto& [name, value] : c)
    if (name.rfind("kafka_send_errors_total", 0) == 0) CHECK_MESSAGE(value == 0, name);
  sink->close();
}

TEST_CASE("no broker reachable at startup: the sink says so and delivers once it appears") {
  MockKafka mock({"--down"});
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())}});
  REQUIRE(sink->open() == Status::Ok);
  CHECK(sink.host().logged("no Kafka broker reachable at " + mock.bootstrap()));
  CHECK(sink->healthy() == 0);
  uint64_t next = 0;
  CHECK(stream_for(sink, next, std::chrono::seconds(2)) == 0);
  CHECK(sink->flush(100) == Status::Again);
  mock.command("up");
  REQUIRE(sink->flush(60000) == Status::Ok);
  sink->poll();
  CHECK(sink->healthy() == 1);
  CHECK(sink.host().logged("broker reachable again"));
  check_exactly_once(consume(mock.bootstrap(), kProcessTopic, next), next);
  sink->close();
}

TEST_CASE("a full local queue: bounded wait, then counted drops, the rest delivered") {
  MockKafka mock({"--down"});
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"queue.max_messages", "1000"},
                   {"connect_check", "\"0s\""}});
  REQUIRE(sink->open() == Status::Ok);
  uint64_t next = 0;
  size_t refused = write_events(sink, next, 3000);
  auto c = sink.counters();
  CHECK(refused == (sink_threaded() ? 0 : 2000));
  CHECK(c["kafka_messages_dropped_total{queue_full}"] == 2000);
  CHECK(c["kafka_send_errors_total{queue_full}"] == 2000);
  CHECK(c["kafka_messages_produced_total"] == 1000);
  CHECK(sink.host().logged("local queue full"));
  mock.command("up");
  REQUIRE(sink->flush(60000) == Status::Ok);
  auto records = consume(mock.bootstrap(), kProcessTopic, 1000);
  CHECK(records.size() == 1000);
  CHECK(sink.counters()["kafka_messages_total"] == 1000);
  sink->close();
}

TEST_CASE("shutdown with the broker away: bounded flush, undelivered messages reported") {
  MockKafka mock({"--down"});
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())}, {"connect_check", "\"0s\""}});
  REQUIRE(sink->open() == Status::Ok);
  uint64_t next = 0;
  CHECK(write_events(sink, next, 50) == 0);
  CHECK(sink->flush(200) == Status::Again);
  CHECK(std::string(sink->last_error()).find("50 Kafka messages not delivered") !=
        std::string::npos);
  sink->close();
  CHECK(sink.host().logged("50 messages could not be delivered before shutdown"));
  CHECK(sink.counters()["kafka_send_errors_total{shutdown}"] == 50);
}

TEST_CASE("configuration errors name the key") {
  SUBCASE("an unknown librdkafka property") {
    LoadedSink sink({{"brokers", "\"127.0.0.1:1\""}, {"properties", R"(["no.such.property=1"])"}});
    CHECK(sink->open() == Status::InvalidConfig);
    CHECK(std::string(sink->last_error()).find("'no.such.property'") != std::string::npos);
  }
  SUBCASE("an invalid value") {
    LoadedSink sink({{"brokers", "\"127.0.0.1:1\""}, {"properties", R"(["linger.ms=soon"])"}});
    CHECK(sink->open() == Status::InvalidConfig);
    CHECK(std::string(sink->last_error()).find("'linger.ms'") != std::string::npos);
  }
  SUBCASE("not name=value") {
    LoadedSink sink({{"brokers", "\"127.0.0.1:1\""}, {"properties", R"(["acks"])"}});
    CHECK(sink->open() == Status::InvalidConfig);
    CHECK(std::string(sink->last_error()).find("acks") != std::string::npos);
  }
  SUBCASE("no broker configured") {
    LoadedSink sink({});
    CHECK(sink->open() == Status::InvalidConfig);
    CHECK(std::string(sink->last_error()).find("brokers") != std::string::npos);
  }
  SUBCASE("security settings pass through") {
    LoadedSink sink({{"brokers", "\"127.0.0.1:1\""},
                     {"connect_check", "\"0s\""},
                     {"properties", R"(["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN",
                                        "sasl.username=leaf", "sasl.password=secret"])"}});
    CHECK(sink->open() == Status::Ok);
    sink->close();
  }
}

TEST_CASE("a fatal idempotence error: the producer is recreated and nothing is lost") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())}});
  REQUIRE(sink->open() == Status::Ok);
  uint64_t next = 0;
  CHECK(stream_for(sink, next, std::chrono::seconds(1)) == 0);
  // The broker answers a produce request with a sequence error: librdkafka's
  // idempotent producer treats it as a fatal desynchronization, as in the
  // 2.0.2 bug after a disconnect.
  mock.command("errors 0 OUT_OF_ORDER_SEQUENCE_NUMBER");
  CHECK(stream_for(sink, next, std::chrono::seconds(3)) == 0);
  REQUIRE(sink->flush(60000) == Status::Ok);
  auto c = sink.counters();
  CHECK(c["kafka_producer_restarts_total"] == 1);
  CHECK(sink.host().logged("producer failed fatally"));
  auto records = consume(mock.bootstrap(), kProcessTopic, next);
  std::set<uint64_t> seqs;
  for (const auto& r : records) seqs.insert(Json::parse(r.payload)["data"]["seq"].get<uint64_t>());
  CHECK(seqs.size() == next);  // every event delivered
  // Duplicates only among the unacknowledged ones re-sent.
  CHECK(records.size() - next <=
        static_cast<size_t>(c["kafka_messages_resent_total{unacknowledged}"]));
  size_t duplicates = records.size() - next;
  MESSAGE(duplicates << " duplicates, " << c["kafka_messages_resent_total{never_sent}"]
                     << " re-sent never sent, " << c["kafka_messages_resent_total{unacknowledged}"]
                     << " re-sent unacknowledged");
  sink->close();
}

// Issue 17, defect 1: acknowledgements served in the same poll() as the
// all-brokers-down error used to clear the outage at once, so health and
// leaf_kafka_broker_reachable said 1 for the whole outage.
TEST_CASE("a broker down mid-stream: unhealthy and unreachable for the whole outage, then back") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())}});
  REQUIRE(sink->open() == Status::Ok);
  uint64_t next = 0;
  CHECK(stream_for(sink, next, std::chrono::seconds(2)) == 0);
  CHECK(sink->healthy() == 1);
  mock.command("down");
  // Healthy samples once the outage was first seen, and at its end.
  size_t unhealthy = 0, healthy_after = 0;
  for (int i = 0; i < 80; ++i) {
    stream_for(sink, next, std::chrono::milliseconds(100));
    if (sink->healthy() == 0)
      ++unhealthy;
    else if (unhealthy > 0)
      ++healthy_after;
  }
  auto c = sink.counters();
  MESSAGE(unhealthy << " of 80 samples unhealthy; " << c["kafka_queue_messages"] << " queued");
  CHECK(unhealthy > 0);
  CHECK(healthy_after == 0);
  CHECK(sink->healthy() == 0);
  CHECK(c["kafka_broker_reachable"] == 0);
  CHECK(c["kafka_queue_messages"] > 0);
  CHECK_FALSE(sink.host().logged("broker reachable again"));
  mock.command("up");
  REQUIRE(sink->flush(60000) == Status::Ok);
  sink->poll();
  CHECK(sink->healthy() == 1);
  CHECK(sink.counters()["kafka_broker_reachable"] == 1);
  CHECK(sink.host().logged("broker reachable again"));
  check_exactly_once(consume(mock.bootstrap(), kProcessTopic, next), next);
  sink->close();
}

// Issue 17, defect 7: 1000 injected produce errors stalled delivery for 30 s
// without a single log line. Any stall of acknowledgements while connected
// is logged: here a broker that answers 4 s late (the injected errors' own
// retry timing varies with librdkafka's backoff; a round-trip delay is a
// stall of known length).
TEST_CASE("acknowledgements stalled while connected: the stall is logged, then its end") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())}, {"log_interval", "\"1s\""}});
  REQUIRE(sink->open() == Status::Ok);
  uint64_t next = 0;
  CHECK(write_events(sink, next, 100) == 0);
  REQUIRE(sink->flush(30000) == Status::Ok);
  mock.command("rtt 4000");
  CHECK(stream_for(sink, next, std::chrono::milliseconds(300)) == 0);
  for (int i = 0; i < 300 && !sink.host().logged("no acknowledgement for "); ++i) {
    sink->poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(sink.host().logged("Kafka sink: no acknowledgement for "));
  CHECK(sink.host().logged("messages wait and the broker is connected"));
  CHECK(sink->healthy() == 1);  // slow is not down
  mock.command("rtt 0");
  REQUIRE(sink->flush(60000) == Status::Ok);
  sink->poll();
  CHECK(sink.host().logged("Kafka sink: acknowledgements resumed after "));
  check_exactly_once(consume(mock.bootstrap(), kProcessTopic, next), next);
  sink->close();
}
