#include "mock_cluster.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>

namespace leaf::mock {

namespace {

std::string result(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_NO_ERROR ? std::string() : rd_kafka_err2str(err);
}

}  // namespace

MockCluster::MockCluster(int brokers) : brokers_(brokers) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only hosts the cluster; keep its own logging quiet.
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  // The mock brokers' accepted sockets take this handle's socket options
  // (librdkafka 2.0.2, rd_kafka_transport_post_connect_setup). A real Kafka
  // broker sets TCP_NODELAY on every connection; without it Nagle holds a
  // response while the previous one is unacknowledged, until the client's
  // next request carries the ACK: responses came whole milliseconds late
  // (produce round trips at 0.1, 1.05 and 2.1 ms with a 1 ms linger; issue 16).
  rd_kafka_conf_set(conf, "socket.nagle.disable", "true", errstr, sizeof(errstr));
  handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!handle_) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("creating the librdkafka handle: ") + errstr);
  }
  cluster_ = rd_kafka_mock_cluster_new(handle_, brokers);
  if (!cluster_) {
    rd_kafka_destroy(handle_);
    throw std::runtime_error("creating the mock cluster failed");
  }
}

MockCluster::~MockCluster() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(handle_);
}

std::string MockCluster::bootstrap() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

std::string MockCluster::create_topic(const std::string& name, int partitions) {
  return result(rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1));
}

std::string MockCluster::set_down(int32_t broker) {
  return result(rd_kafka_mock_broker_set_down(cluster_, broker));
}

std::string MockCluster::set_up(int32_t broker) {
  return result(rd_kafka_mock_broker_set_up(cluster_, broker));
}

std::string MockCluster::set_rtt(int32_t broker, int rtt_ms) {
  return result(rd_kafka_mock_broker_set_rtt(cluster_, broker, rtt_ms));
}

std::string MockCluster::push_request_errors(int16_t api_key, const std::vector<int>& errors) {
  std::vector<rd_kafka_resp_err_t> errs;
  for (int e : errors) errs.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(cluster_, api_key, errs.size(), errs.data());
  return {};
}

}  // namespace leaf::mock
