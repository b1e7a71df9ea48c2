// The Kafka sink with its disk spool (spool.enabled), loaded in-process,
// delivering to leaf-mock-kafka in another process; kcat reads back what the
// broker holds. Outages longer than the memory queue holds, a restart during
// an outage, the shutdown save, a full spool: exact counts.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "batch_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace leaf::kafka::test;
using leaf::sdk::Category;
using leaf::sdk::Status;
using Clock = std::chrono::steady_clock;

constexpr const char* kProcessTopic = "system.events.process";
constexpr uint64_t kBaseTs = 1704806400000000000ull;

std::string toml_str(const std::string& s) { return "\"" + s + "\""; }

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/leaf-sink-spool-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  size_t segments() const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(path)) n += e.path().extension() == ".seg";
    return n;
  }
  std::string path;
};

// Writes events seq = next... as the host would (poll() every 20 events).
size_t write_events(LoadedSink& sink, uint64_t& next, size_t count) {
  size_t refused = 0;
  static const std::string kType = "test_event";
  for (size_t i = 0; i < count; ++i, ++next) {
    std::string json = test_event_json(next, kBaseTs + next);
    std::string key = std::to_string(next);
    auto m = message(Category::Process, kType, key, json, kBaseTs + next);
    if (sink->write(&m) != Status::Ok) ++refused;
    if ((i + 1) % 20 == 0) sink->poll();
  }
  sink->poll();
  return refused;
}

// Polls the sink until `done` or `timeout`.
template <class Done>
bool poll_until(LoadedSink& sink, Done&& done, std::chrono::seconds timeout) {
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    sink->poll();
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// Events 0..n-1 each exactly once with their exact payload; on one
// partition (keys = hostname) also in order.
void check_exactly_once(const std::vector<Record>& records, uint64_t n, bool in_order) {
  std::map<uint64_t, int> seen;
  uint64_t last = 0;
  size_t out_of_order = 0;
  for (const auto& r : records) {
    uint64_t seq = Json::parse(r.payload)["data"]["seq"].get<uint64_t>();
    if (&r != &records.front() && seq < last) ++out_of_order;
    last = seq;
    ++seen[seq];
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
  if (in_order) CHECK(out_of_order == 0);
}

std::map<std::string, std::string> spool_config(const MockKafka& mock, const TempDir& dir) {
  return {{"brokers", toml_str(mock.bootstrap())},
          {"keys.process", "\"hostname\""},  // one partition: the order is visible
          {"queue.max_size", "\"1M\""},
          {"queue.full_wait", "\"0s\""},
          {"spool.enabled", "true"},
          {"spool.dir", toml_str(dir.path)},
          {"spool.threshold", "\"256K\""}};
}

}  // namespace

TEST_CASE("spool: an outage longer than the memory queue holds loses nothing; replayed in order") {
  for (std::string format : {"json", "json-batch"}) {
    CAPTURE(format);
    MockKafka mock;
    TempDir dir;
    auto config = spool_config(mock, dir);
    config["format"] = toml_str(format);
    LoadedSink sink(config);
    REQUIRE(sink->open() == Status::Ok);
    uint64_t next = 0;
    CHECK(write_events(sink, next, 500) == 0);
    REQUIRE(poll_until(
        sink, [&] { return sink.counters()["kafka_messages_total"] == 500; },
        std::chrono::seconds(30)));
    mock.command("down");
    // 30,000 events of ~150 bytes: over 10 MB with librdkafka's bookkeeping,
    // ten times what the memory queue may hold.
    CHECK(write_events(sink, next, 30000) == 0);
    auto c = sink.counters();
    CHECK(c["kafka_spool_appended_total"] > 20000);
    CHECK(c["kafka_spool_records"] == c["kafka_spool_appended_total"]);
    CHECK(c["kafka_spool_bytes"] > 20000 * 150);
    CHECK(c["kafka_messages_dropped_total{queue_full}"] == 0);
    CHECK(dir.segments() >= 1);
    mock.command("up");
    REQUIRE(poll_until(
        sink, [&] { return sink.counters()["kafka_messages_total"] == int64_t(next); },
        std::chrono::seconds(120)));
    sink->poll();
    c = sink.counters();
    // What librdkafka held when the outage was found was copied to the
    // spool; the rest of the spool was replayed.
    CHECK(c["kafka_spool_copied_total"] > 0);
    CHECK(c["kafka_spool_replayed_total"] + c["kafka_spool_copied_total"] ==
          c["kafka_spool_appended_total"]);
    CHECK(c["kafka_spool_records"] == 0);
    CHECK(c["kafka_spool_dropped_total{full}"] == 0);
    CHECK(c["kafka_spool_corrupt_records_total"] == 0);
    CHECK(dir.segments() == 0);  // acknowledged: deleted
    // json-batch replays spooled events in batches, not one message each.
    if (format == "json-batch") CHECK(c["kafka_batches_total"] * 20 < int64_t(next));
    std::vector<Record> records;
    if (format == "json") {
      records = consume(mock.bootstrap(), kProcessTopic, next);
    } else {
      // One line per event.
      for (const BatchRecord& b : consume_batches(mock.bootstrap(), kProcessTopic, next)) {
        CHECK(b.terminated);
        for (const std::string& line : b.lines) {
          Record r;
          r.payload = line;
          records.push_back(r);
        }
      }
    }
    check_exactly_once(records, next, true);
    sink->close();
  }
}

TEST_CASE("spool: leaf-host stopped during an outage; the next start delivers every event once") {
  MockKafka mock;
  TempDir dir;
  uint64_t next = 0;
  int64_t copied = 0;
  {
    LoadedSink sink(spool_config(mock, dir));
    REQUIRE(sink->open() == Status::Ok);
    mock.command("down");
    // Events written before the outage is known wait in librdkafka's queue:
    // copied to the spool when it is found, ahead of the events spooled
    // after it.
    CHECK(write_events(sink, next, 300) == 0);
    REQUIRE(poll_until(
        sink, [&] { return sink.counters()["kafka_broker_reachable"] == 0; },
        std::chrono::seconds(30)));
    CHECK(write_events(sink, next, 5000) == 0);
    CHECK(sink.counters()["kafka_spool_appended_total"] > 0);
    copied = sink.counters()["kafka_spool_copied_total"];
    CHECK(copied > 0);
    sink->close();
    CHECK(sink.host().logged("events were saved or left there at shutdown"));
    CHECK(sink.counters()["kafka_send_errors_total{shutdown}"] == 0);
  }
  CHECK(dir.segments() >= 1);
  mock.command("up");
  LoadedSink sink(spool_config(mock, dir));
  REQUIRE(sink->open() == Status::Ok);
  CHECK(
      sink.host().logged(std::to_string(next) + " records not acknowledged before the last stop"));
  // New events queue behind the replay.
  CHECK(write_events(sink, next, 100) == 0);
  REQUIRE(poll_until(
      sink, [&] { return sink.counters()["kafka_messages_total"] == int64_t(next); },
      std::chrono::seconds(60)));
  sink->poll();
  auto c = sink.counters();
  // The copies may have reached the broker before the outage (not here: it
  // went down first): counted as possible duplicates, none arrives twice.
  CHECK(c["kafka_spool_possible_duplicates_total"] == copied);
  CHECK(c["kafka_spool_records"] == 0);
  // In order: the copies came before the events spooled during the outage.
  check_exactly_once(consume(mock.bootstrap(), kProcessTopic, next), next, true);
  sink->close();
  CHECK(dir.segments() == 0);
}

TEST_CASE("spool: copies of what librdkafka held outlive its delivery timeout; in order, once") {
  for (std::string format : {"json", "json-batch"}) {
    CAPTURE(format);
    MockKafka mock;
    TempDir dir;
    auto config = spool_config(mock, dir);
    config["format"] = toml_str(format);
    config["delivery_timeout"] = "\"2s\"";
    LoadedSink sink(config);
    REQUIRE(sink->open() == Status::Ok);
    uint64_t next = 0;
    CHECK(write_events(sink, next, 200) == 0);
    REQUIRE(poll_until(
        sink, [&] { return sink.counters()["kafka_messages_total"] == 200; },
        std::chrono::seconds(30)));
    // Answers come 10 s late: what is sent waits in librdkafka, then the
    // broker goes away and the sink copies it all to the spool.
    mock.command("rtt 10000");
    CHECK(write_events(sink, next, 300) == 0);
    mock.command("down");
    REQUIRE(poll_until(
        sink, [&] { return sink.counters()["kafka_broker_reachable"] == 0; },
        std::chrono::seconds(30)));
    // (json-batch: the open batch is handed over and copied at the latest
    // when spooling begins.)
    CHECK(write_events(sink, next, 1000) == 0);
    auto c = sink.counters();
    CHECK(c["kafka_spool_copied_total"] > 0);
    CHECK(c["kafka_spool_copied_total"] == c["kafka_queue_messages"]);
    // librdkafka gives up on them after delivery_timeout: the copies go out
    // from the spool in their turn instead of failing.
    REQUIRE(poll_until(
        sink, [&] { return sink.counters()["kafka_queue_messages"] <= 1; },
        std::chrono::seconds(30)));
    mock.command("rtt 0");
    mock.command("up");
    REQUIRE(poll_until(
        sink, [&] { return sink.counters()["kafka_messages_total"] == int64_t(next); },
        std::chrono::seconds(60)));
    sink->poll();
    c = sink.counters();
    CHECK(c["kafka_spool_requeued_total"] == 0);
    CHECK(c["kafka_spool_records"] == 0);
    int64_t errors = 0;
    for (auto& [k, v] : c)
      if (k.rfind("kafka_send_errors_total", 0) == 0) errors += v;
    CHECK(errors == 0);
    std::vector<Record> records;
    if (format == "json") {
      records = consume(mock.bootstrap(), kProcessTopic, next);
    } else {
      for (const BatchRecord& b : consume_batches(mock.bootstrap(), kProcessTopic, next))
        for (const std::string& line : b.lines) {
          Record r;
          r.payload = line;
          records.push_back(r);
        }
    }
    // The mock may have stored what it had not answered yet: those arrive
    // twice (the copies' replay); the rest once, and in order.
    std::map<uint64_t, int> seen;
    for (const auto& r : records) ++seen[Json::parse(r.payload)["data"]["seq"].get<uint64_t>()];
    size_t missing = 0;
    for (uint64_t s = 0; s < next; ++s) missing += seen.count(s) == 0;
    CHECK(missing == 0);
    sink->close();
  }
}

TEST_CASE("spool: full, drop_newest: counted drops, the rest delivered once") {
  MockKafka mock;
  TempDir dir;
  auto config = spool_config(mock, dir);
  config["spool.max_size"] = "\"1M\"";
  config["spool.segment_size"] = "\"128K\"";
  LoadedSink sink(config);
  REQUIRE(sink->open() == Status::Ok);
  mock.command("down");
  REQUIRE(poll_until(
      sink, [&] { return sink.counters()["kafka_broker_reachable"] == 0; },
      std::chrono::seconds(30)));
  uint64_t next = 0;
  size_t refused = write_events(sink, next, 20000);
  auto c = sink.counters();
  // With the sink's thread, write() hands every event over: its counters tell.
  if (sink_threaded()) refused = c["kafka_spool_dropped_total{full}"];
  CHECK(refused > 0);
  CHECK(c["kafka_spool_dropped_total{full}"] == int64_t(refused));
  CHECK(c["kafka_spool_bytes"] <= 1 << 20);
  CHECK(sink.host().logged("Kafka spool full"));
  mock.command("up");
  uint64_t kept = next - refused;
  bool all = poll_until(
      sink, [&] { return sink.counters()["kafka_messages_total"] == int64_t(kept); },
      std::chrono::seconds(60));
  if (!all)
    for (auto& [k, v] : sink.counters()) MESSAGE(k << " = " << v);
  REQUIRE(all);
  // The first `kept` events were kept (drop_newest), each once.
  check_exactly_once(consume(mock.bootstrap(), kProcessTopic, kept), kept, true);
  sink->close();
}

TEST_CASE("spool: a directory it cannot use stops the sink at open, naming it") {
  MockKafka mock;
  TempDir dir;
  auto config = spool_config(mock, dir);
  config["spool.dir"] = "\"/proc/leaf-spool\"";
  LoadedSink sink(config);
  CHECK(sink->open() != Status::Ok);
  CHECK(std::string(sink->last_error()).find("spool.dir: spool directory /proc/leaf-spool") !=
        std::string::npos);
}
