#include "live_host.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace leaf::test::metrics {

namespace {

// perf_stats every second; raw softirq events on, but held to a trickle by
// the token bucket (the performance category then has events to count).
const char* const kPerformance =
    "interval = \"1s\"\n[raw]\nsoftirq = true\nrate_limit = 20\nburst = 20\n";

HostOptions options(const std::string& bootstrap, const std::string& spool_dir) {
  HostOptions o;
  o.plugins = {"process", "network", "performance", "kafka"};
  o.config["leaf.toml"] =
      "jsonl.path = \"-\"\n[metrics]\nlisten = \"127.0.0.1:0\"\nbpf_stats = true\n";
  // The disk spool on, as shipped: the dashboard's spool panels have data.
  o.config["kafka.toml"] = "brokers = \"" + bootstrap + "\"\n[spool]\nenabled = true\ndir = \"" +
                           spool_dir + "/kafka\"\n";
  o.config["performance.toml"] = kPerformance;
  return o;
}

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

int tcp_round_trips(int n) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof(a);
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(lfd, 16) != 0 || getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("loopback listener failed");
  int port = ntohs(a.sin_port);
  for (int i = 0; i < n; ++i) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to = loopback(port);
    if (c < 0 || connect(c, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0)
      throw std::runtime_error("loopback connect failed");
    int s = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (s < 0) throw std::runtime_error("accept failed");
    (void)!write(c, "x", 1);
    char b;
    (void)!read(s, &b, 1);
    close(c);
    close(s);
  }
  close(lfd);
  return port;
}

BackgroundWorkload::BackgroundWorkload()
    : thread_([this] {
        while (!stop_) {
          run_command({"/bin/true"});
          try {
            tcp_round_trips(1);
          } catch (const std::exception&) {
            // a missing connection shows in the network panels' checks
          }
          std::this_thread::sleep_for(100ms);
        }
      }) {}

BackgroundWorkload::~BackgroundWorkload() {
  stop_ = true;
  thread_.join();
}

LiveHost::LiveHost()
    : host_(std::make_unique<LeafHost>(options(kafka_.bootstrap(), spool_.path()))) {
  host_->start();
  port_ = served_port(host_->stderr_text());
  if (port_ <= 0)
    throw std::runtime_error("leaf-host serves no /metrics:\n" + host_->stderr_text());
}

LiveHost::~LiveHost() = default;

Exposition LiveHost::scrape() const {
  HttpResult r = http_get(port_, "/metrics");
  if (r.status != 200) throw std::runtime_error("/metrics: HTTP " + std::to_string(r.status));
  return parse_exposition(r.body);
}

void LiveHost::drive(int execs, int connections) {
  for (int i = 0; i < execs; ++i) REQUIRE(run_command({"/bin/true"}) == 0);
  int port = tcp_round_trips(connections);
  host_->wait_for_count(
      [](const Json& e) {
        return event_type("process_exec")(e) && e["data"].value("filename", "") == "/bin/true";
      },
      static_cast<size_t>(execs), scaled(20s));
  host_->wait_for_count(
      [port](const Json& e) {
        return event_type("tcp_close")(e) &&
               (e["data"].value("dst_port", 0) == port || e["data"].value("src_port", 0) == port);
      },
      static_cast<size_t>(2 * connections), scaled(20s));
  host_->wait_for(event_type("perf_stats"), scaled(20s));
  // Kafka acknowledged everything the Kafka sink had accepted by now
  // (events of the whole machine keep coming after).
  double accepted = scrape().value("leaf_sink_accepted_total", {{"sink", "kafka"}});
  auto deadline = std::chrono::steady_clock::now() + scaled(30s);
  for (;;) {
    if (scrape().value("leaf_kafka_messages_total", {{"plugin", "kafka"}}) >= accepted) break;
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("Kafka did not acknowledge the workload's events");
    std::this_thread::sleep_for(100ms);
  }
}

}  // namespace leaf::test::metrics
