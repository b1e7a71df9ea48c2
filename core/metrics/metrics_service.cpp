#include "metrics/metrics_service.hpp"

#include <spdlog/spdlog.h>

#include "metrics/health.hpp"

namespace leaf::core::metrics {

namespace {
Sources with_switch(Sources s, const BpfStatsSwitch* sw) {
  s.bpf_stats = sw;
  return s;
}
}  // namespace

MetricsService::MetricsService(boost::asio::io_context& io, Sources sources, bool bpf_stats)
    : sources_(sources),
      collector_(with_switch(sources, &bpf_switch_)),
      server_(io, [this](const std::string& m, const std::string& t) { return handle(m, t); }) {
  if (bpf_stats) {
    if (std::string why = bpf_switch_.enable(); !why.empty())
      spdlog::warn("metrics: {}; BPF program run counts and times stay at 0", why);
    else
      spdlog::debug(
          "metrics: the kernel counts BPF program runs and run time while leaf-host runs");
  }
}

MetricsService::~MetricsService() { server_.stop(); }

void MetricsService::listen(const boost::asio::ip::tcp::endpoint& at) { server_.listen(at); }

HttpResponse MetricsService::handle(const std::string&, const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  if (path == "/metrics")
    return {200, "text/plain; version=0.0.4; charset=utf-8", collector_.render()};
  if (path == "/healthz") {
    Health h = check_health(*sources_.pipeline, *sources_.plugins);
    return {h.ok ? 200u : 503u, "text/plain; charset=utf-8", std::move(h.text)};
  }
  if (path == "/")
    return {200, "text/plain; charset=utf-8",
            "leaf-host: /metrics (Prometheus text format), /healthz\n"};
  return {404, "text/plain; charset=utf-8", "not found: " + path + "\n"};
}

}  // namespace leaf::core::metrics
