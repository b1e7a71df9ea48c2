// Test support: a leaf-host with every plugin (process, network,
// performance, the Kafka sink to leaf-mock-kafka, the built-in processors
// and the JSON-lines sink) and a small workload that gives each a reason to
// count: execs, loopback TCP connections, perf_stats snapshots, raw softirq
// events, Kafka deliveries.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "exposition.hpp"
#include "harness.hpp"
#include "kafka_test_support.hpp"

namespace leaf::test::metrics {

class LiveHost {
 public:
  LiveHost();
  ~LiveHost();

  int metrics_port() const { return port_; }
  LeafHost& host() { return *host_; }
  kafka::test::MockKafka& kafka() { return kafka_; }
  Exposition scrape() const;

  // Runs `execs` times /bin/true and opens and closes `connections` TCP
  // connections on loopback, then waits until leaf-host reported them
  // (JSON lines) and Kafka acknowledged what the sinks accepted.
  void drive(int execs, int connections);

 private:
  kafka::test::MockKafka kafka_;
  TempDir spool_;  // the Kafka sink's disk spool
  std::unique_ptr<LeafHost> host_;
  int port_ = -1;
};

// Keeps a workload going in a thread while it lives: an exec of /bin/true
// and a loopback TCP connection every 100 ms (so that rates over any recent
// window describe activity).
class BackgroundWorkload {
 public:
  BackgroundWorkload();
  ~BackgroundWorkload();
  BackgroundWorkload(const BackgroundWorkload&) = delete;
  BackgroundWorkload& operator=(const BackgroundWorkload&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Opens and closes n TCP connections to a listener on 127.0.0.1; returns
// the listener's port.
int tcp_round_trips(int n);

}  // namespace leaf::test::metrics
