// Test support: Debian's real Prometheus (the `prometheus` package, with
// promtool) run on loopback by a test, and queried through its HTTP API.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness.hpp"

namespace leaf::test::metrics {

// Paths found at configure time (find_program); empty when not installed.
std::string promtool_binary();
std::string prometheus_binary();

// Runs promtool with `args`, stdin from `stdin_file` ("" for none); returns
// the exit status, *output gets stdout and stderr.
int promtool(const std::vector<std::string>& args, const std::string& stdin_file,
             std::string* output);

// URL encoding of a query parameter's value (RFC 3986 unreserved kept).
std::string url_encode(const std::string& s);

// prometheus on 127.0.0.1, its storage in a private temporary directory.
// The process is killed by the destructor (SIGTERM, then SIGKILL), and by
// the kernel when the test process dies first (PR_SET_PDEATHSIG): no exit
// path of a test leaves it running.
class PrometheusServer {
 public:
  // `config_yaml`: prometheus.yml. Starts on a free port of 19090..19989
  // and waits until /-/ready answers 200; throws with its log otherwise.
  explicit PrometheusServer(const std::string& config_yaml);
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  int port() const { return port_; }
  // GET path (with its query string); the body parsed as JSON.
  nlohmann::json api(const std::string& path_and_query) const;
  // /api/v1/query?query=... at the server's current time.
  nlohmann::json query(const std::string& promql) const;
  // The log so far (stderr of prometheus).
  std::string log() const;

 private:
  bool try_start(int port);
  void stop();

  TempDir dir_;
  std::string config_path_, log_path_;
  pid_t pid_ = -1;
  int port_ = -1;
};

// GET over HTTP/1.0 (Prometheus then answers without chunked encoding).
struct HttpReply {
  int status = 0;
  std::string body;
};
HttpReply http10_get(int port, const std::string& path_and_query);

}  // namespace leaf::test::metrics
