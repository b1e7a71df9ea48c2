// leaf-host's observability endpoint: /metrics (Prometheus text format
// 0.0.4) and /healthz over HTTP on the dispatcher's io_context, plus the
// kernel's BPF run-time accounting while it runs.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "metrics/bpf_stats.hpp"
#include "metrics/collector.hpp"
#include "metrics/http_server.hpp"

namespace leaf::core::metrics {

class MetricsService {
 public:
  // `sources` must outlive the service. With `bpf_stats`, asks the kernel
  // to count BPF run time (logged when refused).
  MetricsService(boost::asio::io_context& io, Sources sources, bool bpf_stats);
  ~MetricsService();

  // Serves at `at`. Throws boost::system::system_error when it cannot bind.
  void listen(const boost::asio::ip::tcp::endpoint& at);
  boost::asio::ip::tcp::endpoint local_endpoint() const { return server_.local_endpoint(); }
  void stop() { server_.stop(); }

  // The answer to one request (also used without HTTP by tests and benches).
  HttpResponse handle(const std::string& method, const std::string& target);

 private:
  Sources sources_;
  BpfStatsSwitch bpf_switch_;
  Collector collector_;
  HttpServer server_;
};

}  // namespace leaf::core::metrics
