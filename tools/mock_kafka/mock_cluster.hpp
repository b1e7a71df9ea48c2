// A librdkafka mock cluster (rdkafka_mock.h) owned by one process: real Kafka
// protocol over TCP on 127.0.0.1, with fault injection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace leaf::mock {

class MockCluster {
 public:
  // Starts `brokers` brokers (ids 1..brokers). Throws std::runtime_error.
  explicit MockCluster(int brokers);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // "127.0.0.1:port,127.0.0.1:port..."
  std::string bootstrap() const;
  int broker_count() const { return brokers_; }

  // Each returns an empty string on success, else librdkafka's reason.
  std::string create_topic(const std::string& name, int partitions);
  // broker -1: every broker. Down: connections are closed and refused.
  std::string set_down(int32_t broker);
  std::string set_up(int32_t broker);
  std::string set_rtt(int32_t broker, int rtt_ms);
  // The next errors.size() requests of Kafka API `api_key` (0 = Produce)
  // fail with these error codes, in order (cluster-wide).
  std::string push_request_errors(int16_t api_key, const std::vector<int>& errors);

 private:
  int brokers_;
  rd_kafka_s* handle_ = nullptr;
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
};

}  // namespace leaf::mock
