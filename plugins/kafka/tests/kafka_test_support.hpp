// Support for the Kafka sink's tests: leaf-mock-kafka as a child process,
// kcat as the independent consumer, and the sink loaded in-process by the
// SDK's TestHost.
#pragma once

#include <leaf/sdk/abi.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <leaf/sdk/testing/test_host.hpp>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace leaf::kafka::test {

using Json = nlohmann::json;
using namespace std::chrono_literals;

std::string mock_kafka_binary();
std::string kafka_plugin_path();

// leaf-mock-kafka in a process of its own, driven through its stdin.
class MockKafka {
 public:
  explicit MockKafka(std::vector<std::string> args = {});
  ~MockKafka();
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }
  // Sends one command ("down", "up", "errors 0 ...") and returns its answer
  // line; throws unless it starts with "ok".
  std::string command(const std::string& line);

 private:
  std::string read_line(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1;
  std::string buffer_, bootstrap_;
};

struct Record {
  std::string topic;
  int partition = 0;
  int64_t offset = 0;
  bool has_key = false;
  std::string key;
  std::string payload;
};

// Everything on `topic` from the beginning, read with kcat until at least
// `expected` records arrived or `timeout` passed.
std::vector<Record> consume(const std::string& bootstrap, const std::string& topic, size_t expected,
                            std::chrono::milliseconds timeout = 60s);

// Reads `topic` with kcat until a record satisfies `match` or `timeout`
// passes; returns everything read in the last pass.
std::vector<Record> consume_until(const std::string& bootstrap, const std::string& topic,
                                  const std::function<bool(const Record&)>& match,
                                  std::chrono::milliseconds timeout = 60s);

// leaf_kafka.so in the SDK's TestHost (every declared option at its default,
// the test's overrides validated as leaf-host validates conf.d/kafka.toml).
// LEAF_KAFKA_TEST_THREAD=1 (the *_thread ctest entries): LoadedSink runs the
// same cases with the sink on its own thread (option thread), unless a case
// sets it. write() then hands events over: the drops are the sink's to count.
bool sink_threaded();

class LoadedSink {
 public:
  explicit LoadedSink(const sdk::testing::Overrides& config);

  sdk::ISink* operator->() const { return host_.sink(); }
  sdk::ISink* get() const { return host_.sink(); }
  sdk::testing::TestHost& host() { return host_; }
  // The sink's counters, as name{label} -> value.
  std::map<std::string, int64_t> counters() { return host_.counters(); }

 private:
  sdk::testing::TestHost host_;
};

// A SinkMessage for a JSON text; `key` and `event_type` are viewed, not copied.
sdk::SinkMessage message(sdk::Category category, const std::string& event_type,
                         const std::string& key, const std::string& json, uint64_t ts_ns);

// A SPEC.md §2 message of a test event with a sequence number.
std::string test_event_json(uint64_t seq, uint64_t ts_ns);

}  // namespace leaf::kafka::test
