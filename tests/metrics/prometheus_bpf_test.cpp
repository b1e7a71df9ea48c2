// leaf-host's /metrics against the real Prometheus (Debian's prometheus
// package): promtool's linter on a live scrape with every plugin and the
// Kafka sink; Prometheus scraping that host with the shipped rules loaded,
// and every PromQL expression of the Grafana dashboard evaluated.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <thread>

#include "live_host.hpp"
#include "prometheus_server.hpp"

using namespace leaf::test;
using namespace leaf::test::metrics;

namespace {

struct Query {
  std::string where;  // panel title / refId, or the variable's name
  std::string expr;
};

Json dashboard() {
  std::ifstream in(source_dir() + "/deploy/grafana/leaf-host.json");
  REQUIRE(in.good());
  return Json::parse(in);
}

// How many rules of a kind ("- alert:" or "- record:") a shipped rules file
// declares: Prometheus must have loaded each of them, no more, no fewer.
int rules_declared(const std::string& file, const std::string& kind) {
  std::ifstream in(source_dir() + "/deploy/prometheus/" + file);
  REQUIRE_MESSAGE(in.good(), file);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.find("- " + kind + ":") != std::string::npos) ++n;
  return n;
}

// Every target of every panel (rows nest theirs).
void panel_queries(const Json& panels, std::vector<Query>* out) {
  for (const auto& p : panels) {
    if (p.contains("panels")) panel_queries(p["panels"], out);
    for (const auto& t : p.value("targets", Json::array()))
      out->push_back({p.value("title", "") + " / " + t.value("refId", ""), t.value("expr", "")});
  }
}

// Grafana's variables as it expands them for Prometheus: a multi-value
// variable becomes (a|b|...), the rate interval a duration.
std::string expand(std::string expr, const std::map<std::string, std::string>& vars) {
  for (const auto& [name, value] : vars) {
    for (const std::string& ref : {"${" + name + "}", "$" + name}) {
      for (size_t at; (at = expr.find(ref)) != std::string::npos;)
        expr.replace(at, ref.size(), value);
    }
  }
  return expr;
}

// label_values(metric{selector}, label) of a query variable, through the
// API Grafana uses for it (/api/v1/label/<label>/values?match[]=...).
std::set<std::string> label_values(const PrometheusServer& prom, const std::string& query) {
  auto open = query.find('('), comma = query.rfind(','), close = query.rfind(')');
  REQUIRE((open != std::string::npos && comma != std::string::npos && close > comma));
  std::string match = query.substr(open + 1, comma - open - 1);
  std::string label = query.substr(comma + 1, close - comma - 1);
  label.erase(0, label.find_first_not_of(' '));
  Json r = prom.api("/api/v1/label/" + label + "/values?match[]=" + url_encode(match));
  REQUIRE_MESSAGE(r.value("status", "") == "success", query << ": " << r.dump());
  return r["data"].get<std::set<std::string>>();
}

// Series in the result of an instant query (vector or scalar).
size_t result_size(const Json& r) {
  const Json& d = r["data"];
  if (d.value("resultType", "") == "scalar") return 1;
  return d["result"].size();
}

std::string prometheus_config(int leaf_port) {
  std::string rules = source_dir() + "/deploy/prometheus/";
  return "global:\n"
         "  scrape_interval: 1s\n"
         "  evaluation_interval: 1s\n"
         "rule_files:\n"
         "  - " +
         rules +
         "leaf-recording.rules.yml\n"
         "  - " +
         rules +
         "leaf-alerts.rules.yml\n"
         "scrape_configs:\n"
         "  - job_name: leaf\n"
         "    static_configs: [{targets: [\"127.0.0.1:" +
         std::to_string(leaf_port) + "\"]}]\n";
}

}  // namespace

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

TEST_CASE(
    "Prometheus scraping a live leaf-host: every dashboard query parses and has data, rules "
    "evaluate, no alert fires") {
  LiveHost live;
  live.drive(5, 5);
  BackgroundWorkload workload;
  PrometheusServer prom(prometheus_config(live.metrics_port()));
  const std::string instance = "127.0.0.1:" + std::to_string(live.metrics_port());

  // Dashboard panels that stay empty on a healthy host, and why. (None so
  // far: every counter and gauge the dashboard reads is exported from the
  // start, at 0 when nothing happened.)
  const std::map<std::string, std::string> empty_by_design = {};

  Json dash = dashboard();
  std::vector<Query> panels;
  panel_queries(dash["panels"], &panels);
  REQUIRE(panels.size() >= 30);

  // Waits end on success only: until Prometheus has scraped, the recording
  // rules have run over a window with the workload, and every panel has data.
  std::map<std::string, std::string> vars;
  std::set<std::string> plugins;
  std::vector<std::string> missing;
  auto deadline = std::chrono::steady_clock::now() + scaled(90s);
  do {
    std::this_thread::sleep_for(1s);
    // The variables, in dashboard order: instance, then plugin (which uses $instance).
    std::set<std::string> instances =
        label_values(prom, "label_values(leaf_events_total, instance)");
    if (!instances.count(instance)) {
      missing = {"variable instance: " + instance + " not among the values yet"};
      continue;
    }
    vars = {{"__rate_interval", "10s"}, {"instance", instance}};
    for (const auto& v : dash["templating"]["list"]) {
      if (v.value("name", "") != "plugin") continue;
      plugins = label_values(prom, expand(v["query"]["query"], vars));
    }
    std::string all;
    for (const auto& p : plugins) all += (all.empty() ? "(" : "|") + p;
    vars["plugin"] = all + ")";
    missing.clear();
    for (const auto& q : panels) {
      Json r = prom.query(expand(q.expr, vars));
      REQUIRE_MESSAGE(r.value("status", "") == "success", q.where << ": " << expand(q.expr, vars)
                                                                  << "\n"
                                                                  << r.dump());
      bool empty = result_size(r) == 0;
      if (empty != (empty_by_design.count(q.where) != 0))
        missing.push_back(q.where + (empty ? ": no data" : ": has data, listed as empty") + "\n  " +
                          expand(q.expr, vars));
    }
  } while (!missing.empty() && std::chrono::steady_clock::now() < deadline);
  for (const auto& m : missing) FAIL_CHECK(m);

  // The plugin variable offers every plugin running, and selects: one
  // plugin's events panel shows that plugin only.
  CHECK(plugins == std::set<std::string>{"enrich", "filter", "kafka", "network", "performance",
                                         "process", "redact"});
  vars["plugin"] = "process";
  for (const auto& q : panels) {
    if (q.where != "Events per second by type / A") continue;
    Json r = prom.query(expand(q.expr, vars));
    REQUIRE(result_size(r) > 0);
    for (const auto& series : r["data"]["result"])
      CHECK(series["metric"].value("plugin", "") == "process");
  }

  // The activity the workload made shows as more than zero where it should.
  auto value = [&](const std::string& expr) {
    Json r = prom.query(expr);
    REQUIRE_MESSAGE(result_size(r) == 1, expr << ": " << r.dump());
    return std::stod(r["data"]["result"][0]["value"][1].get<std::string>());
  };
  std::string i = "instance=\"" + instance + "\"";
  CHECK(value("sum(instance_plugin_type:leaf_events:rate1m{" + i + ",type=\"process_exec\"})") > 0);
  CHECK(value("sum(instance_plugin_type:leaf_events:rate1m{" + i + ",type=\"tcp_connect\"})") > 0);
  CHECK(value("sum(instance_plugin_type:leaf_events:rate1m{" + i + ",category=\"performance\"})") >
        0);
  CHECK(value("sum(instance:leaf_kafka_messages:rate1m{" + i + "})") > 0);
  CHECK(value("instance:leaf_kafka_ack_latency_seconds:quantile_rate1m{" + i +
              ",quantile=\"0.99\"}") > 0);
  CHECK(value("instance_plugin:leaf_ringbuf_loss:ratio_rate1m{" + i + ",plugin=\"process\"}") == 0);

  // Every rule evaluates without error; every alert expression is empty on
  // this healthy host (stronger than "not firing": `for` hides pending ones).
  Json rules = prom.api("/api/v1/rules");
  REQUIRE(rules.value("status", "") == "success");
  int alerts = 0, records = 0;
  for (const auto& g : rules["data"]["groups"]) {
    for (const auto& r : g["rules"]) {
      CHECK_MESSAGE(r.value("health", "") == "ok", r.value("name", "") << ": " << r.dump());
      if (r.value("type", "") == "alerting") {
        ++alerts;
        CHECK_MESSAGE(r.value("state", "") == "inactive", r.value("name", ""));
        Json now = prom.query(r.value("query", ""));
        CHECK_MESSAGE(result_size(now) == 0, r.value("name", "")
                                                 << " on a healthy host: " << now["data"].dump());
      } else {
        ++records;
      }
    }
  }
  CHECK(alerts == rules_declared("leaf-alerts.rules.yml", "alert"));
  CHECK(alerts >= 18);  // the shipped set: none lost from the file either
  CHECK(records == rules_declared("leaf-recording.rules.yml", "record"));
  CHECK(records >= 10);
  CHECK(prom.api("/api/v1/alerts")["data"]["alerts"].empty());

  // A real failure moves a real alert: with the broker down, the Kafka alert
  // turns pending on this host (its `for` of 1m is not waited out); with
  // the broker back, its expression matches nothing again.
  auto kafka_alert = [&] {
    Json list = prom.api("/api/v1/alerts");  // kept alive: the loop reads into it
    for (const auto& a : list["data"]["alerts"])
      if (a["labels"].value("alertname", "") == "LeafKafkaBrokerUnreachable" &&
          a["labels"].value("instance", "") == instance)
        return a.value("state", "");
    return std::string();
  };
  live.kafka().command("down");
  deadline = std::chrono::steady_clock::now() + scaled(60s);
  while (kafka_alert() != "pending" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(200ms);
  CHECK_MESSAGE(kafka_alert() == "pending",
                prom.query("leaf_kafka_broker_reachable[2m]")["data"].dump()
                    << "\n"
                    << prom.api("/api/v1/alerts")["data"].dump() << "\n"
                    << live.host().stderr_text().substr(0, 3000));
  live.kafka().command("up");
  std::string reachable = "leaf_kafka_broker_reachable{" + i + "} == 0";
  deadline = std::chrono::steady_clock::now() + scaled(60s);
  while (result_size(prom.query(reachable)) != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(200ms);
  CHECK(result_size(prom.query(reachable)) == 0);
  CHECK(live.host().stop() == 0);
}
