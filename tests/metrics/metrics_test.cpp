// /metrics and /healthz of the real leaf-host, without BPF: the ticker test
// plugin emits a known number of events and the counters must show exactly
// that; the text must be valid exposition format; the Kafka sink (with
// leaf-mock-kafka) must show its messages under the SPEC.md names; the
// Grafana dashboard may only use names /metrics exposes.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "exposition.hpp"
#include "harness.hpp"
#include "kafka_test_support.hpp"
#include "leaf_event.h"
#include "metrics/collector.hpp"
#include "pipeline/pipeline.hpp"
#include "runtime/dispatcher.hpp"
#include "runtime/plugin_instance.hpp"

using namespace leaf::test;
using namespace leaf::test::metrics;

namespace {

const std::string kTicker = std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_ticker.so";
const std::string kMetricsConf =
    "jsonl.path = \"-\"\n[metrics]\nlisten = \"127.0.0.1:0\"\nbpf_stats = false\n";

Exposition scrape(int port) {
  HttpResult r = http_get(port, "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  Exposition e = parse_exposition(r.body);
  for (const auto& err : e.errors) FAIL_CHECK("invalid exposition: " << err);
  return e;
}

// Scrapes until `done` holds (the pipeline may still be handing the last
// events to the sink when the test sees them on stdout).
Exposition scrape_until(int port, const std::function<bool(const Exposition&)>& done) {
  for (int i = 0; i < 200; ++i) {
    Exposition e = scrape(port);
    if (done(e)) return e;
    std::this_thread::sleep_for(50ms);
  }
  return scrape(port);
}

// Every leaf_* metric name the dashboard's queries use (not recorded series).
std::set<std::string> dashboard_names() {
  std::ifstream in(source_dir() + "/deploy/grafana/leaf-host.json");
  REQUIRE(in.good());
  Json dash = Json::parse(in);
  std::set<std::string> names;
  std::function<void(const Json&)> walk = [&](const Json& j) {
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) {
        if ((it.key() == "expr" || it.key() == "query") && it.value().is_string()) {
          std::string expr = it.value();
          // Not the recording rules' series (level:leaf_x:operation):
          // prometheus_bpf_test evaluates those.
          std::regex re("(^|[^a-zA-Z0-9_:])(leaf_[a-zA-Z0-9_]+)(?![a-zA-Z0-9_:])");
          for (std::sregex_iterator m(expr.begin(), expr.end(), re), end; m != end; ++m)
            names.insert((*m)[2].str());
        } else {
          walk(it.value());
        }
      }
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v);
    }
  };
  walk(dash);
  return names;
}

// The family a sample name belongs to (histogram suffixes stripped).
bool exposed(const Exposition& e, const std::string& name) {
  if (e.has_family(name)) return true;
  for (const char* sfx : {"_bucket", "_sum", "_count"}) {
    std::string s = sfx;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      std::string base = name.substr(0, name.size() - s.size());
      if (e.has_family(base) && e.families.at(base).type == "histogram") return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("ticker: /metrics counts exactly the events generated, in valid exposition format") {
  constexpr int kTicks = 40;
  HostOptions o;
  o.plugins = {kTicker};
  o.config["leaf.toml"] = kMetricsConf;
  o.config["ticker.toml"] = "interval = \"5ms\"\ncount = " + std::to_string(kTicks) + "\n";
  LeafHost host(o);
  host.start();
  int port = served_port(host.stderr_text());
  REQUIRE(port > 0);

  Exposition before = scrape(port);
  double at_start = before.sum("leaf_events_total", {{"plugin", "ticker"}, {"type", "tick"}});
  CHECK(at_start <= kTicks);

  auto ticks = host.wait_for_count(event_type("tick"), kTicks, 20s);
  REQUIRE(ticks.size() == kTicks);
  Exposition e = scrape_until(port, [&](const Exposition& x) {
    return x.value("leaf_sink_accepted_total", {{"sink", "jsonl"}}) >= kTicks;
  });
  std::map<std::string, std::string> tick = {{"plugin", "ticker"}, {"type", "tick"}};
  // The counters moved by exactly the events generated, and no more.
  CHECK(e.value("leaf_events_total", tick) - at_start == kTicks - at_start);
  CHECK(e.value("leaf_events_total", tick) == kTicks);
  CHECK(e.value("leaf_events_total", tick) ==
        e.value("leaf_events_total", {{"category", "process"}}));
  CHECK(e.value("leaf_events_process_total", tick) == kTicks);
  CHECK(e.sum("leaf_events_network_total") == 0);
  CHECK(e.value("leaf_sink_accepted_total", {{"sink", "jsonl"}}) == kTicks);
  CHECK(e.value("leaf_sink_rejected_total", {{"sink", "jsonl"}}) == 0);
  CHECK(e.value("leaf_events_filtered_total", tick) == 0);
  CHECK(e.value("leaf_events_malformed_total", tick) == 0);
  CHECK(e.value("leaf_processing_latency_seconds_count", tick) == kTicks);
  CHECK(e.value("leaf_processing_latency_seconds_bucket", {{"plugin", "ticker"}, {"le", "+Inf"}}) ==
        kTicks);
  CHECK(e.value("leaf_processing_latency_seconds_sum", tick) > 0);
  CHECK(e.families.at("leaf_processing_latency_seconds").type == "histogram");
  CHECK(e.value("leaf_plugin_up", {{"plugin", "ticker"}, {"kind", "probe"}}) == 1);
  // The plugin's own counter, reported as "ticker_ticks": named with the
  // _total suffix Prometheus expects of a counter.
  CHECK(e.value("leaf_ticker_ticks_total", {{"plugin", "ticker"}}) == kTicks);
  CHECK(e.families.at("leaf_ticker_ticks_total").type == "counter");
  CHECK_FALSE(e.has_family("leaf_ticker_ticks"));
  CHECK(e.value("leaf_sink_healthy", {{"sink", "jsonl"}}) == 1);
  CHECK(e.value("leaf_memory_usage_bytes") > 1e6);
  CHECK(e.value("leaf_cpu_usage_percent") >= 0);
  CHECK(e.value("leaf_cpu_seconds_total") > 0);
  CHECK(e.value("leaf_metrics_scrapes_total") >= 2);
  // Every SPEC.md section 4 name is declared.
  for (const char* name :
       {"leaf_events_total", "leaf_events_network_total", "leaf_events_process_total",
        "leaf_events_performance_total", "leaf_kafka_messages_total",
        "leaf_kafka_send_errors_total", "leaf_ringbuf_lost_events_total",
        "leaf_processing_latency_seconds", "leaf_cpu_usage_percent", "leaf_memory_usage_bytes"})
    CHECK_MESSAGE(e.has_family(name), name);

  HttpResult health = http_get(port, "/healthz");
  CHECK(health.status == 200);
  CHECK(health.body.rfind("ok\n", 0) == 0);
  CHECK(health.body.find("probe ticker: running") != std::string::npos);
  CHECK(health.body.find("sink jsonl: delivering") != std::string::npos);
  CHECK(http_get(port, "/nothing").status == 404);
  CHECK(host.stop() == 0);
}

// Event types are registered when the plugin's object is created, not on
// its first emit: before the ticker's first tick (a minute away) its type is
// on /metrics, at 0.
TEST_CASE("a plugin's event types are on /metrics before its first event") {
  HostOptions o;
  o.plugins = {kTicker};
  o.config["leaf.toml"] = kMetricsConf;
  o.config["ticker.toml"] = "interval = \"60s\"\n";
  LeafHost host(o);
  host.start();
  int port = served_port(host.stderr_text());
  REQUIRE(port > 0);
  Exposition e = scrape(port);
  std::map<std::string, std::string> tick = {{"plugin", "ticker"}, {"type", "tick"}};
  CHECK(e.value("leaf_events_total", tick) == 0);
  CHECK(e.value("leaf_events_process_total", tick) == 0);
  CHECK(e.value("leaf_events_malformed_total", tick) == 0);
  CHECK(e.value("leaf_events_decode_failed_total", tick) == 0);
  CHECK(host.events().empty());
  CHECK(host.stop() == 0);
}

TEST_CASE("an event of a type the plugin did not declare is refused, counted and logged once") {
  constexpr int kTicks = 5;
  HostOptions o;
  o.plugins = {std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_ticker_undeclared.so"};
  o.config["leaf.toml"] = kMetricsConf;
  o.config["undeclared.toml"] = "interval = \"5ms\"\ncount = " + std::to_string(kTicks) + "\n";
  LeafHost host(o);
  host.start();
  int port = served_port(host.stderr_text());
  REQUIRE(port > 0);
  host.wait_for_count(event_type("tick"), kTicks);
  Exposition e = scrape_until(port, [](const Exposition& x) {
    return x.value("leaf_ticker_tocks_refused_total", {{"plugin", "undeclared"}}) >= kTicks;
  });
  CHECK(e.value("leaf_ticker_tocks_refused_total", {{"plugin", "undeclared"}}) == kTicks);
  CHECK(e.value("leaf_plugin_emits_refused_total", {{"plugin", "undeclared"}}) == kTicks);
  CHECK(e.value("leaf_events_total", {{"plugin", "undeclared"}, {"type", "tick"}}) == kTicks);
  CHECK(e.sum("leaf_events_total", {{"type", "tock"}}) == 0);
  CHECK(host.matching(event_type("tock")).empty());
  CHECK(host.stop() == 0);
  std::string log = host.stderr_text();
  const std::string refused =
      "[undeclared] emit refused: event type tock is not among the plugin's event types";
  size_t first = log.find(refused);
  CHECK(first != std::string::npos);
  CHECK(log.find(refused, first + 1) == std::string::npos);
}

TEST_CASE("metrics.listen: a bad address is a configuration error; \"\" serves nothing") {
  {
    HostOptions o;
    o.plugins = {kTicker};
    o.config["leaf.toml"] = "[metrics]\nlisten = \"localhost:http\"\n";
    LeafHost host(o);
    CHECK_THROWS(host.start());
    CHECK(host.stop() == 2);
    CHECK(host.stderr_text().find("key 'metrics.listen'") != std::string::npos);
  }
  {
    HostOptions o;
    o.plugins = {kTicker};
    o.config["leaf.toml"] = "[metrics]\nlisten = \"\"\n";
    LeafHost host(o);
    host.start();
    CHECK(served_port(host.stderr_text()) == -1);
    CHECK(host.stop() == 0);
  }
}

TEST_CASE("label values are escaped (the collector on a real pipeline)") {
  const std::string odd = "we\"ird\\plug\nin";
  struct rec {
    leaf_event_header hdr;
    uint32_t pid;
  };
  const leaf::sdk::FieldDesc fields[] = {LEAF_FIELD(rec, pid, U32)};
  const leaf::sdk::EventTypeDesc type = {.name = "odd_event",
                                         .category = leaf::sdk::Category::Network,
                                         .fields = fields,
                                         .field_count = 1,
                                         .fixed_size = sizeof(rec),
                                         .max_size = sizeof(rec),
                                         .key_field = nullptr,
                                         .description = ""};
  leaf::core::Pipeline pipeline("h", {});
  boost::asio::io_context io;
  leaf::core::Dispatcher dispatcher(io, pipeline);
  struct CountSink final : leaf::sdk::ISink {
    const char* last_error() const noexcept override { return ""; }
    void destroy() noexcept override {}
    void* query_interface(leaf::sdk::InterfaceId id) noexcept override {
      return id == leaf::sdk::ISink::kId ? static_cast<leaf::sdk::ISink*>(this) : nullptr;
    }
    leaf::sdk::Status open() noexcept override { return leaf::sdk::Status::Ok; }
    leaf::sdk::Status write(const leaf::sdk::SinkMessage*) noexcept override {
      return leaf::sdk::Status::Ok;
    }
    void poll() noexcept override {}
    leaf::sdk::Status flush(uint32_t) noexcept override { return leaf::sdk::Status::Ok; }
    void read_counters(leaf::sdk::ICounterVisitor*) noexcept override {}
    void close() noexcept override {}
    uint32_t healthy() const noexcept override { return 1; }
  } sink;
  pipeline.add_sink("count", &sink);
  auto types = pipeline.register_types(odd, &type, sizeof(type), 1);
  rec r{};
  r.hdr.timestamp_ns = static_cast<uint64_t>(leaf::core::MonoClock::monotonic_now());
  for (int i = 0; i < 3; ++i)
    CHECK(pipeline.handle(odd, types, reinterpret_cast<const uint8_t*>(&r), sizeof(r)));

  std::vector<std::unique_ptr<leaf::core::PluginInstance>> plugins;
  leaf::core::metrics::Collector collector({&pipeline, &dispatcher, &plugins, nullptr, nullptr});
  std::string text = collector.render();
  CHECK(text.find("plugin=\"we\\\"ird\\\\plug\\nin\"") != std::string::npos);
  Exposition e = parse_exposition(text);
  for (const auto& err : e.errors) FAIL_CHECK("invalid exposition: " << err);
  CHECK(e.value("leaf_events_network_total", {{"plugin", odd}, {"type", "odd_event"}}) == 3);
  CHECK(e.value("leaf_processing_latency_seconds_count", {{"plugin", odd}}) == 3);
}

TEST_CASE(
    "Kafka sink: SPEC names, exact message counts, ack latency; the dashboard's names exist") {
  constexpr int kTicks = 30;
  leaf::kafka::test::MockKafka mock;
  HostOptions o;
  o.plugins = {kTicker, built_plugin("kafka")};
  o.config["leaf.toml"] =
      "jsonl.enabled = false\n[metrics]\nlisten = \"127.0.0.1:0\"\nbpf_stats = false\n";
  o.config["ticker.toml"] = "interval = \"5ms\"\ncount = " + std::to_string(kTicks) + "\n";
  // The disk spool on, as shipped (conf.d/kafka.toml): its series exist.
  TempDir spool;
  o.config["kafka.toml"] = "brokers = \"" + mock.bootstrap() +
                           "\"\n[spool]\nenabled = true\ndir = \"" + spool.path() + "/kafka\"\n";
  LeafHost host(o);
  host.start();
  int port = served_port(host.stderr_text());
  REQUIRE(port > 0);
  Exposition e = scrape_until(port, [&](const Exposition& x) {
    return x.sum("leaf_kafka_messages_total", {{"plugin", "kafka"}}) >= kTicks;
  });
  CHECK(e.value("leaf_events_total", {{"plugin", "ticker"}}) == kTicks);
  CHECK(e.value("leaf_sink_accepted_total", {{"sink", "kafka"}}) == kTicks);
  CHECK(e.value("leaf_kafka_messages_total", {{"plugin", "kafka"}}) == kTicks);
  CHECK(e.value("leaf_kafka_messages_produced_total", {{"plugin", "kafka"}}) == kTicks);
  CHECK(e.sum("leaf_kafka_send_errors_total") == 0);
  CHECK(e.value("leaf_kafka_queue_messages", {{"plugin", "kafka"}}) == 0);
  CHECK(e.families.at("leaf_kafka_ack_latency_seconds").type == "histogram");
  CHECK(e.value("leaf_kafka_ack_latency_seconds_count", {{"plugin", "kafka"}}) == kTicks);
  CHECK(e.value("leaf_sink_healthy", {{"sink", "kafka"}}) == 1);
  // The broker was up throughout: nothing went through the spool.
  CHECK(e.value("leaf_kafka_spool_records", {{"plugin", "kafka"}}) == 0);
  CHECK(e.value("leaf_kafka_spool_oldest_age_seconds", {{"plugin", "kafka"}}) == 0);
  CHECK(e.value("leaf_kafka_spool_appended_total", {{"plugin", "kafka"}}) == 0);
  CHECK(e.value("leaf_kafka_spool_copied_total", {{"plugin", "kafka"}}) == 0);
  CHECK(e.value("leaf_kafka_spool_replayed_total", {{"plugin", "kafka"}}) == 0);
  for (const char* reason : {"full", "oldest", "no_space", "write_error"})
    CHECK(e.value("leaf_kafka_spool_dropped_total", {{"plugin", "kafka"}, {"reason", reason}}) ==
          0);

  // The dashboard uses only names that exist. Names the BPF plugins report
  // themselves are checked by metrics_bpf_test, with those plugins loaded.
  for (const auto& name : dashboard_names()) {
    if (name.rfind("leaf_network_", 0) == 0 || name.rfind("leaf_process_", 0) == 0 ||
        name.rfind("leaf_performance_", 0) == 0)
      continue;
    CHECK_MESSAGE(exposed(e, name),
                  "the dashboard uses " << name << ", /metrics does not expose it");
  }
  CHECK(host.stop() == 0);
}

namespace {
// A TCP connection to 127.0.0.1:port that sends nothing (or `partial`).
int idle_connection(int port, const std::string& partial = "") {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  if (!partial.empty())
    REQUIRE(write(fd, partial.data(), partial.size()) == ssize_t(partial.size()));
  return fd;
}
}  // namespace

// Issue 17, defect 6: sixteen idle connections used to take /metrics and
// /healthz offline for 30 s (new connections were closed unanswered).
TEST_CASE("idle and half-sent connections beyond the limit cannot keep /metrics or /healthz away") {
  HostOptions o;
  o.plugins = {kTicker};
  o.config["leaf.toml"] = kMetricsConf;
  o.config["ticker.toml"] = "interval = \"50ms\"\n";
  LeafHost host(o);
  host.start();
  int port = served_port(host.stderr_text());
  REQUIRE(port > 0);
  std::vector<int> fds;
  for (int i = 0; i < 40; ++i)
    fds.push_back(idle_connection(port, i % 2 ? "GET /metrics HTTP/1.1\r\nHost: x\r\n" : ""));
  std::this_thread::sleep_for(200ms);  // all accepted and waiting
  for (int round = 0; round < 3; ++round) {
    HttpResult m = http_get(port, "/metrics");
    CHECK(m.status == 200);
    CHECK(m.body.find("leaf_events_total") != std::string::npos);
    HttpResult h = http_get(port, "/healthz");
    CHECK(h.status == 200);
    CHECK(h.body.rfind("ok\n", 0) == 0);
    fds.push_back(idle_connection(port));
  }
  for (int fd : fds) close(fd);
  CHECK(host.stop() == 0);
}
