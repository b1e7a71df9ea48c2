// The json-batch value format: the sink loaded in-process, leaf-mock-kafka in
// another process, read back by kcat and by kafka-python (python3-kafka).
// Each event lands on the partition the json format gives its key, in order;
// a message closes at its size, count or age; headers name the format and
// the count; accounting stays per event.
#include <doctest/doctest.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <thread>

#include "batch_support.hpp"
#include "kafka_test_support.hpp"

namespace {

using namespace leaf::kafka::test;
using leaf::sdk::Category;
using leaf::sdk::Status;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kBaseTs = 1704806400000000000ull;

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// Writes events seq = first..first+count-1 with key key_of(seq), polling
// after every 20 as the host does. Returns how many write() refused.
template <class KeyOf>
size_t write_keyed(LoadedSink& sink, uint64_t first, size_t count, KeyOf key_of) {
  static const std::string kType = "test_event";
  size_t refused = 0;
  for (uint64_t seq = first; seq < first + count; ++seq) {
    std::string json = test_event_json(seq, kBaseTs + seq);
    std::string key = key_of(seq);
    auto m = message(Category::Process, kType, key, json, kBaseTs + seq);
    if (sink->write(&m) != Status::Ok) ++refused;
    if ((seq + 1) % 20 == 0) sink->poll();
  }
  sink->poll();
  return refused;
}

std::string key_of(uint64_t seq) { return "k" + std::to_string(seq % 61); }

uint64_t seq_of(const std::string& line) {
  return Json::parse(line)["data"]["seq"].get<uint64_t>();
}

// Key -> partition as the json format placed it (read back by kcat).
std::map<std::string, int> json_partitions(const std::string& bootstrap, const std::string& topic,
                                           size_t n) {
  std::map<std::string, int> out;
  auto records = consume(bootstrap, topic, n);
  REQUIRE(records.size() == n);
  for (const auto& r : records) {
    auto [it, fresh] = out.emplace(r.key, r.partition);
    CHECK(it->second == r.partition);  // one key, one partition
  }
  return out;
}

// Every batch well-formed; events 0..n-1 each once, each on the partition the
// json format gave its key, in order within a partition.
void check_batches(const std::vector<BatchRecord>& records, uint64_t n,
                   const std::map<std::string, int>& partition_of_key, uint32_t max_events) {
  std::map<uint64_t, int> seen;
  std::map<int, uint64_t> last_seq;  // per partition
  for (const auto& r : records) {
    CHECK(r.headers.at("leaf.format") == "json-batch");
    CHECK(r.headers.at("leaf.count") == std::to_string(r.lines.size()));
    CHECK(r.terminated);
    // Full batches carry no key; a batch of one sent before the partition
    // count was known carries its event's key (librdkafka placed it by it).
    if (r.has_key) CHECK(r.lines.size() == 1);
    CHECK(r.lines.size() >= 1);
    CHECK(r.lines.size() <= max_events);
    for (const auto& line : r.lines) {
      uint64_t seq = seq_of(line);
      ++seen[seq];
      CHECK(line == test_event_json(seq, kBaseTs + seq));
      CHECK(r.partition == partition_of_key.at(key_of(seq)));
      auto it = last_seq.find(r.partition);
      if (it != last_seq.end()) CHECK(seq > it->second);
      last_seq[r.partition] = seq;
    }
  }
  CHECK(seen.size() == n);
  size_t twice = 0;
  for (const auto& [seq, times] : seen) twice += times > 1;
  CHECK(twice == 0);
  CHECK(seen.rbegin()->first == n - 1);
}

// The same events through a json sink and a json-batch sink on two topics
// of 5 partitions, with librdkafka's `partitioner` = `partitioner`.
void same_partitions_as_json(const std::string& partitioner) {
  MockKafka mock({"--topic", "leaf.json:5", "--topic", "leaf.batch:5"});
  std::string props = partitioner.empty() ? "[]" : "[\"partitioner=" + partitioner + "\"]";
  constexpr uint64_t kEvents = 1000;
  {
    LoadedSink json({{"brokers", quoted(mock.bootstrap())},
                     {"topics.process", "\"leaf.json\""},
                     {"properties", props}});
    REQUIRE(json->open() == Status::Ok);
    CHECK(write_keyed(json, 0, kEvents, key_of) == 0);
    REQUIRE(json->flush(30000) == Status::Ok);
    json->close();
  }
  auto partition_of_key = json_partitions(mock.bootstrap(), "leaf.json", kEvents);
  std::set<int> used;
  for (const auto& [key, p] : partition_of_key) used.insert(p);
  CHECK(used.size() == 5);  // 61 keys over 5 partitions: the check below means something

  LoadedSink batch({{"brokers", quoted(mock.bootstrap())},
                    {"topics.process", "\"leaf.batch\""},
                    {"format", "\"json-batch\""},
                    {"batch.max_events", "50"},
                    {"properties", props}});
  REQUIRE(batch->open() == Status::Ok);
  CHECK(write_keyed(batch, 0, kEvents, key_of) == 0);
  REQUIRE(batch->flush(30000) == Status::Ok);
  auto records = consume_batches(mock.bootstrap(), "leaf.batch", kEvents);
  check_batches(records, kEvents, partition_of_key, 50);
  CHECK(records.size() >= kEvents / 50);
  CHECK(records.size() < kEvents / 2);  // batched, not one message per event

  auto c = batch.counters();
  CHECK(c["kafka_messages_produced_total"] == kEvents);
  CHECK(c["kafka_messages_total"] == kEvents);
  CHECK(c["kafka_batches_total"] == static_cast<int64_t>(records.size()));
  CHECK(c["kafka_queue_messages"] == 0);
  CHECK(c["kafka_queue_bytes"] == 0);

  // An independent client reads the same messages, headers and values.
  auto py = consume_batches_python(mock.bootstrap(), "leaf.batch", records.size());
  REQUIRE(py.size() == records.size());
  std::map<std::pair<int, int64_t>, const BatchRecord*> by_position;
  for (const auto& r : records) by_position[{r.partition, r.offset}] = &r;
  for (const auto& r : py) {
    auto it = by_position.find({r.partition, r.offset});
    REQUIRE(it != by_position.end());
    CHECK(r.value == it->second->value);
    CHECK(r.headers == it->second->headers);
  }
  check_batches(py, kEvents, partition_of_key, 50);
  batch->close();
}

// Counts of the messages on `topic` (one key: one partition), in offset order.
std::vector<size_t> counts_in_order(std::vector<BatchRecord> records) {
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
  std::vector<size_t> out;
  for (const auto& r : records) out.push_back(r.lines.size());
  return out;
}

}  // namespace

TEST_CASE("json-batch: each event on the partition json gives its key (consistent_random)") {
  same_partitions_as_json("");
}

TEST_CASE("json-batch: each event on the partition json gives its key (murmur2_random)") {
  same_partitions_as_json("murmur2_random");
}

TEST_CASE("json-batch: a message closes at its event count") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"format", "\"json-batch\""},
                   {"batch.max_events", "7"},
                   {"batch.max_age", "\"10s\""}});
  REQUIRE(sink->open() == Status::Ok);
  CHECK(write_keyed(sink, 0, 30, [](uint64_t) { return std::string("one-key"); }) == 0);
  // Four full batches went at their count; the last 2 events wait for their age.
  CHECK(sink.counters()["kafka_batches_total"] == 4);
  REQUIRE(sink->flush(30000) == Status::Ok);
  auto records = consume_batches(mock.bootstrap(), "system.events.process", 30);
  CHECK(counts_in_order(records) == std::vector<size_t>{7, 7, 7, 7, 2});
  CHECK(sink.counters()["kafka_messages_total"] == 30);
  sink->close();
}

TEST_CASE("json-batch: a message closes before it would exceed its size") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"format", "\"json-batch\""},
                   {"batch.max_bytes", "\"1K\""},
                   {"batch.max_age", "\"10s\""}});
  REQUIRE(sink->open() == Status::Ok);
  CHECK(write_keyed(sink, 0, 200, [](uint64_t) { return std::string("one-key"); }) == 0);
  REQUIRE(sink->flush(30000) == Status::Ok);
  auto records = consume_batches(mock.bootstrap(), "system.events.process", 200);
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
  REQUIRE(records.size() > 10);
  CHECK(total_lines(records) == 200);
  for (size_t i = 0; i < records.size(); ++i) {
    CHECK(records[i].value.size() <= 1024);
    // Full: the next event (and its newline) would not have fitted.
    if (i + 1 < records.size())
      CHECK(records[i].value.size() + records[i + 1].lines.front().size() + 1 > 1024);
  }
  sink->close();
}

TEST_CASE("json-batch: a message closes at its age, without a flush") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"format", "\"json-batch\""},
                   {"batch.max_age", "\"1s\""}});
  REQUIRE(sink->open() == Status::Ok);
  CHECK(write_keyed(sink, 0, 5, [](uint64_t) { return std::string("one-key"); }) == 0);
  CHECK(sink.counters()["kafka_batches_total"] == 0);  // younger than 1 s (unless stalled)
  auto start = Clock::now();
  while (sink.counters()["kafka_batches_total"] == 0 && Clock::now() - start < 20s) {
    std::this_thread::sleep_for(10ms);
    sink->poll();
  }
  CHECK(Clock::now() - start >= 900ms);  // not before its age (the clock read after the writes)
  auto records = consume_batches(mock.bootstrap(), "system.events.process", 5);
  CHECK(counts_in_order(records) == std::vector<size_t>{5});
  sink->close();
}

TEST_CASE("json-batch with batch.max_age 0: closed at the poll after the writes, no tail timer") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())}, {"format", "\"json-batch\""}});
  REQUIRE(sink->open() == Status::Ok);
  CHECK(sink.host().timer_count() == 0);  // an idle host is never woken for batches
  // Five writes, then the poll that ends the drain (write_keyed polls last):
  // one message, with no flush and no timer.
  CHECK(write_keyed(sink, 0, 5, [](uint64_t) { return std::string("one-key"); }) == 0);
  CHECK(sink.counters()["kafka_batches_total"] == 1);
  auto records = consume_batches(mock.bootstrap(), "system.events.process", 5);
  CHECK(counts_in_order(records) == std::vector<size_t>{5});
  sink->close();
}

TEST_CASE("json-batch with batch.max_age above 0: a tail timer closes the last batch") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"format", "\"json-batch\""},
                   {"batch.max_age", "\"1ms\""}});
  REQUIRE(sink->open() == Status::Ok);
  // With the thread (option thread) the sink polls on its own at that age.
  CHECK(sink.host().timer_count() == (sink_threaded() ? 0 : 1));
  sink->close();
}

TEST_CASE(
    "json-batch, thread = true: the last batch closes at its age with no poll from the host") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"format", "\"json-batch\""},
                   {"batch.max_age", "\"50ms\""},
                   {"thread", "true"}});
  REQUIRE(sink->open() == Status::Ok);
  // Three writes and the poll that ends the host's batch: the thread takes them.
  CHECK(write_keyed(sink, 0, 3, [](uint64_t) { return std::string("one-key"); }) == 0);
  auto records = consume_batches(mock.bootstrap(), "system.events.process", 3);
  CHECK(counts_in_order(records) == std::vector<size_t>{3});
  sink->close();
}

TEST_CASE("json-batch: a failed batch counts each of its events") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"format", "\"json-batch\""},
                   {"batch.max_events", "10"},
                   {"delivery_timeout", "\"2s\""}});
  REQUIRE(sink->open() == Status::Ok);  // partition counts known
  mock.command("down");
  CHECK(write_keyed(sink, 0, 25, [](uint64_t) { return std::string("one-key"); }) == 0);
  CHECK(sink->flush(100) == Status::Again);
  auto start = Clock::now();
  while (sink.counters()["kafka_send_errors_total{msg_timed_out}"] < 25 &&
         Clock::now() - start < 30s) {
    std::this_thread::sleep_for(50ms);
    sink->poll();
  }
  auto c = sink.counters();
  CHECK(c["kafka_send_errors_total{msg_timed_out}"] == 25);
  CHECK(c["kafka_batches_total"] == 3);  // 10 + 10 + the 5 closed by age
  CHECK(c["kafka_messages_produced_total"] == 25);
  CHECK(c["kafka_messages_total"] == 0);
  sink->close();
}

TEST_CASE("json-batch: shutdown with the broker away counts every batched event") {
  MockKafka mock({"--down"});
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"format", "\"json-batch\""},
                   {"batch.max_events", "10"},
                   {"batch.max_age", "\"10s\""},
                   {"connect_check", "\"0s\""}});
  REQUIRE(sink->open() == Status::Ok);
  CHECK(write_keyed(sink, 0, 25, key_of) == 0);
  sink->close();
  CHECK(sink.counters()["kafka_send_errors_total{shutdown}"] == 25);
  CHECK(sink.host().logged("25 messages could not be delivered before shutdown"));
}

TEST_CASE("json-batch with no broker at startup: batches of one, placed by key, then batches") {
  MockKafka mock({"--down", "--topic", "leaf.json:5", "--topic", "leaf.batch:5"});
  LoadedSink batch({{"brokers", quoted(mock.bootstrap())},
                    {"topics.process", "\"leaf.batch\""},
                    {"format", "\"json-batch\""},
                    {"connect_check", "\"200ms\""}});
  REQUIRE(batch->open() == Status::Ok);
  CHECK(write_keyed(batch, 0, 100, key_of) == 0);
  CHECK(batch.counters()["kafka_batches_total"] == 100);  // count unknown: one per message
  mock.command("up");
  REQUIRE(batch->flush(60000) == Status::Ok);
  // Once the partition count is known, events are batched again.
  auto start = Clock::now();
  uint64_t next = 100;
  while (Clock::now() - start < 30s) {
    write_keyed(batch, next, 100, key_of);
    next += 100;
    REQUIRE(batch->flush(60000) == Status::Ok);
    if (batch.counters()["kafka_batches_total"] < static_cast<int64_t>(next)) break;
  }
  CHECK(batch.counters()["kafka_batches_total"] < static_cast<int64_t>(next));
  batch->close();

  LoadedSink json({{"brokers", quoted(mock.bootstrap())}, {"topics.process", "\"leaf.json\""}});
  REQUIRE(json->open() == Status::Ok);
  CHECK(write_keyed(json, 0, next, key_of) == 0);
  REQUIRE(json->flush(30000) == Status::Ok);
  json->close();
  auto partition_of_key = json_partitions(mock.bootstrap(), "leaf.json", next);
  auto records = consume_batches(mock.bootstrap(), "leaf.batch", next);
  check_batches(records, next, partition_of_key, 1000);
}

TEST_CASE("json-batch: an unknown partitioner is a configuration error naming it") {
  MockKafka mock;
  LoadedSink sink({{"brokers", quoted(mock.bootstrap())},
                   {"format", "\"json-batch\""},
                   {"properties", "[\"partitioner=bogus\"]"}});
  CHECK(sink->open() == Status::InvalidConfig);
  CHECK(std::string(sink->last_error()).find("partitioner") != std::string::npos);
}

TEST_CASE("json-batch: a fatal idempotence error: batches re-sent whole, no event lost") {
  MockKafka mock({"--topic", "leaf.json:5", "--topic", "leaf.batch:5"});
  LoadedSink batch({{"brokers", quoted(mock.bootstrap())},
                    {"topics.process", "\"leaf.batch\""},
                    {"format", "\"json-batch\""},
                    {"batch.max_events", "20"}});
  REQUIRE(batch->open() == Status::Ok);
  // Paced like the host: 20 events per 10 ms.
  uint64_t next = 0;
  auto stream = [&](std::chrono::milliseconds d) {
    auto end = Clock::now() + d;
    while (Clock::now() < end) {
      CHECK(write_keyed(batch, next, 20, key_of) == 0);
      next += 20;
      std::this_thread::sleep_for(10ms);
    }
  };
  stream(1s);
  mock.command("errors 0 OUT_OF_ORDER_SEQUENCE_NUMBER");
  stream(3s);
  REQUIRE(batch->flush(60000) == Status::Ok);
  auto c = batch.counters();
  CHECK(c["kafka_producer_restarts_total"] == 1);
  CHECK(c["kafka_messages_total"] >= static_cast<int64_t>(next));

  LoadedSink json({{"brokers", quoted(mock.bootstrap())}, {"topics.process", "\"leaf.json\""}});
  REQUIRE(json->open() == Status::Ok);
  CHECK(write_keyed(json, 0, next, key_of) == 0);
  REQUIRE(json->flush(30000) == Status::Ok);
  json->close();
  auto partition_of_key = json_partitions(mock.bootstrap(), "leaf.json", next);

  auto records = consume_batches(mock.bootstrap(), "leaf.batch", next);
  std::map<uint64_t, int> seen;
  for (const auto& r : records) {
    CHECK(r.headers.at("leaf.count") == std::to_string(r.lines.size()));
    for (const auto& line : r.lines) {
      uint64_t seq = seq_of(line);
      ++seen[seq];
      CHECK(r.partition == partition_of_key.at(key_of(seq)));
    }
  }
  CHECK(seen.size() == next);  // every event delivered, on its key's partition
  // Duplicates only among the unacknowledged events re-sent.
  CHECK(total_lines(records) - next <=
        static_cast<size_t>(c["kafka_messages_resent_total{unacknowledged}"]));
  size_t duplicates = total_lines(records) - next;
  MESSAGE(duplicates << " duplicates, " << c["kafka_messages_resent_total{never_sent}"]
                     << " re-sent never sent, " << c["kafka_messages_resent_total{unacknowledged}"]
                     << " re-sent unacknowledged");
  batch->close();
}
