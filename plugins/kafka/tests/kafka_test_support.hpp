// Support for the Kafka sink's tests: leaf-mock-kafka as a child process,
// kcat as the independent consumer, and the sink loaded in-process through
// its descriptor with a small IHost that serves configuration values.
#pragma once

#include <leaf/sdk/abi.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
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

// One configuration value as the host would hand it to the plugin.
struct Value {
  enum Kind { Bool, Int, String, List } kind = String;
  bool b = false;
  int64_t i = 0;
  std::string s;
  std::vector<std::string> list;
};

// An IHost for one sink: every declared option gets its default, then the
// test's overrides (TOML-like text: "true", "12", "\"5ms\"", "[\"a=b\"]").
class TestHost final : public sdk::IHost {
 public:
  TestHost(const sdk::PluginDescriptor* desc, const std::map<std::string, std::string>& config);

  std::vector<std::string> logs() const;
  bool logged(const std::string& needle) const;

  void log(sdk::LogLevel level, sdk::StringView message) noexcept override;
  sdk::Status config_bool(sdk::StringView key, bool* out) const noexcept override;
  sdk::Status config_int(sdk::StringView key, int64_t* out) const noexcept override;
  sdk::Status config_string(sdk::StringView key, sdk::StringView* out) const noexcept override;
  sdk::Status config_list_size(sdk::StringView key, uint32_t* out) const noexcept override;
  sdk::Status config_list_string(sdk::StringView key, uint32_t index,
                                 sdk::StringView* out) const noexcept override;
  sdk::Status config_list_int(sdk::StringView key, uint32_t index,
                              int64_t* out) const noexcept override;
  sdk::Status add_ring_buffer(const sdk::RingBufferRegistration*) noexcept override;
  sdk::Status emit(const sdk::EventTypeDesc*, const uint8_t*, uint32_t) noexcept override;
  sdk::Status add_timer(uint64_t, sdk::ITimerHandler*) noexcept override;
  sdk::StringView hostname() const noexcept override;
  sdk::StringView plugin_name() const noexcept override;
  sdk::LogLevel log_level() const noexcept override { return sdk::LogLevel::Info; }
  uint64_t ring_wakeup_delay_ns() const noexcept override { return 0; }

 private:
  const Value* find(sdk::StringView key, Value::Kind kind) const;

  std::map<std::string, Value> values_;
  std::string hostname_ = "leaf-test-host";
  std::string name_;
  mutable std::mutex mu_;
  std::vector<std::string> logs_;
};

// leaf_kafka.so, loaded with dlopen, and one sink made by its factory.
class LoadedSink {
 public:
  explicit LoadedSink(const std::map<std::string, std::string>& config);
  ~LoadedSink();
  LoadedSink(const LoadedSink&) = delete;
  LoadedSink& operator=(const LoadedSink&) = delete;

  sdk::ISink* operator->() const { return sink_; }
  sdk::ISink* get() const { return sink_; }
  TestHost& host() { return *host_; }
  // The sink's counters, as name{label} -> value.
  std::map<std::string, int64_t> counters() const;

 private:
  void* lib_ = nullptr;
  const sdk::PluginDescriptor* desc_ = nullptr;
  TestHost* host_ = nullptr;
  sdk::ISink* sink_ = nullptr;
};

// A SinkMessage for a JSON text; `key` and `event_type` are viewed, not copied.
sdk::SinkMessage message(sdk::Category category, const std::string& event_type,
                         const std::string& key, const std::string& json, uint64_t ts_ns);

// A SPEC.md §2 message of a test event with a sequence number.
std::string test_event_json(uint64_t seq, uint64_t ts_ns);

}  // namespace leaf::kafka::test
