// leaf-host's /metrics against the real Prometheus (Debian's prometheus
// package): promtool's linter on a live scrape with every plugin and the
// Kafka sink.
#include <doctest/doctest.h>

#include "live_host.hpp"
#include "prometheus_server.hpp"

using namespace leaf::test;
using namespace leaf::test::metrics;

TEST_CASE("promtool check metrics: a live /metrics with every plugin and the Kafka sink is clean") {
  LiveHost live;
  live.drive(10, 5);

  Exposition e = live.scrape();
  for (const auto& err : e.errors) FAIL_CHECK("invalid exposition: " << err);
  // Every plugin runs and has counted something, so that each family the
  // linter sees has samples (histograms with observations).
  for (const char* p : {"process", "network", "performance", "kafka", "enrich", "filter", "redact"})
    CHECK_MESSAGE(e.value("leaf_plugin_up", {{"plugin", p}}) == 1, p);
  CHECK(e.value("leaf_sink_healthy", {{"sink", "jsonl"}}) == 1);
  CHECK(e.value("leaf_sink_healthy", {{"sink", "kafka"}}) == 1);
  CHECK(e.value("leaf_kafka_ack_latency_seconds_count", {{"plugin", "kafka"}}) > 0);
  CHECK(e.sum("leaf_processing_latency_seconds_count", {{"plugin", "network"}}) >= 10);
  CHECK(e.value("leaf_performance_snapshots_total", {{"plugin", "performance"}}) >= 1);
  CHECK(e.sum("leaf_events_performance_total", {{"plugin", "performance"}}) > 0);
  CHECK(e.value("leaf_network_conn_table_inserted_total", {{"plugin", "network"}}) >= 10);
  CHECK(e.value("leaf_process_table_inserted_total", {{"plugin", "process"}}) >= 10);

  TempDir dir;
  std::string text = http_get(live.metrics_port(), "/metrics").body;
  std::string out;
  int rc = promtool({"check", "metrics"}, dir.write("metrics.txt", text), &out);
  CHECK_MESSAGE(rc == 0, "promtool check metrics:\n" << out);
  CHECK_MESSAGE(out.empty(), "promtool check metrics:\n" << out);

  // The linter is awake: the same scrape with one counter named without
  // _total is refused, naming it.
  std::string bad = text +
                    "# HELP leaf_lint_probe a counter\n# TYPE leaf_lint_probe counter\n"
                    "leaf_lint_probe 1\n";
  rc = promtool({"check", "metrics"}, dir.write("bad.txt", bad), &out);
  CHECK(rc != 0);
  CHECK_MESSAGE(out.find("leaf_lint_probe counter metrics should have \"_total\" suffix") !=
                    std::string::npos,
                out);
  CHECK(live.host().stop() == 0);
}
