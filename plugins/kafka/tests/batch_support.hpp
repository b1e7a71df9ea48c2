// Support for the json-batch tests: a batch message read back by kcat or by
// kafka-python (python3-kafka, a client independent of librdkafka), split
// into its events.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "kafka_test_support.hpp"

namespace leaf::kafka::test {

struct BatchRecord {
  int partition = 0;
  int64_t offset = 0;
  bool has_key = false;
  std::map<std::string, std::string> headers;
  std::string value;
  std::vector<std::string> lines;  // the value split at '\n' (each event ends with one)
  bool terminated = false;         // the value ends with '\n'
};

// Everything on `topic`, read with kcat until the messages hold at least
// `events` lines or `timeout` passed.
std::vector<BatchRecord> consume_batches(const std::string& bootstrap, const std::string& topic,
                                         size_t events, std::chrono::milliseconds timeout = 60s);

// The same with kafka-python (plugins/kafka/tests/read_topic.py): stops at
// `messages` messages or `timeout`.
std::vector<BatchRecord> consume_batches_python(const std::string& bootstrap,
                                                const std::string& topic, size_t messages,
                                                std::chrono::seconds timeout = 60s);

size_t total_lines(const std::vector<BatchRecord>& records);

}  // namespace leaf::kafka::test
