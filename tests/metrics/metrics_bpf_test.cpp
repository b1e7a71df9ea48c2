// /metrics with real BPF plugins (root): the process plugin's exec events
// and its kernel counters, the BPF programs' run counts, the probes' hooks;
// the network plugin's own counters; --check on this kernel.
#include <doctest/doctest.h>
#include <signal.h>

#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "exposition.hpp"
#include "harness.hpp"

using namespace leaf::test;
using namespace leaf::test::metrics;

namespace {

const std::string kConf =
    "jsonl.path = \"-\"\n[metrics]\nlisten = \"127.0.0.1:0\"\nbpf_stats = true\n";

Exposition scrape(int port) {
  HttpResult r = http_get(port, "/metrics");
  REQUIRE(r.status == 200);
  Exposition e = parse_exposition(r.body);
  for (const auto& err : e.errors) FAIL_CHECK("invalid exposition: " << err);
  return e;
}

std::set<std::string> dashboard_names() {
  std::ifstream in(source_dir() + "/deploy/grafana/leaf-host.json");
  REQUIRE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::set<std::string> names;
  // Not the recording rules' series (level:leaf_x:operation): prometheus_bpf_test
  // evaluates those.
  std::regex re("(^|[^a-zA-Z0-9_:])(leaf_[a-zA-Z0-9_]+)(?![a-zA-Z0-9_:])");
  for (std::sregex_iterator m(text.begin(), text.end(), re), end; m != end; ++m)
    names.insert((*m)[2].str());
  return names;
}

}  // namespace

TEST_CASE("process plugin: exec events, kernel counters, BPF run counts and hooks on /metrics") {
  constexpr int kExecs = 20;
  HostOptions o;
  o.plugins = {"process", "network"};
  o.config["leaf.toml"] = kConf;
  LeafHost host(o);
  host.start();
  int port = served_port(host.stderr_text());
  REQUIRE(port > 0);

  std::map<std::string, std::string> exec = {{"plugin", "process"}, {"type", "process_exec"}};
  Exposition before = scrape(port);
  double events0 = before.value("leaf_events_total", exec);
  double kernel0 = before.value("leaf_kernel_events_total", exec);

  const std::string marker = "/bin/true";
  for (int i = 0; i < kExecs; ++i) CHECK(run_command({marker}) == 0);
  auto mine = [&](const Json& e) {
    return event_type("process_exec")(e) && e["data"].value("filename", "") == marker;
  };
  host.wait_for_count(mine, kExecs, 20s);

  Exposition after = scrape(port);
  // At least our execs went through (other processes exec too): kernel
  // emitted >= delivered to sinks, and what the sinks saw is on stdout.
  double events = after.value("leaf_events_total", exec) - events0;
  double kernel = after.value("leaf_kernel_events_total", exec) - kernel0;
  CHECK(events >= kExecs);
  CHECK(kernel >= events);
  CHECK(after.value("leaf_ringbuf_lost_events_total", exec) == 0);
  // Ring-buffer fill per plugin and ring, a share (0..1).
  int rings = 0;
  for (const auto& s : after.families.at("leaf_ringbuf_fill_ratio").samples) {
    CHECK(s.value >= 0);
    CHECK(s.value <= 1);
    rings += s.labels.at("plugin") == "process" && !s.labels.at("ring").empty();
  }
  CHECK(rings >= 1);
  CHECK(after.value("leaf_events_process_total", exec) == after.value("leaf_events_total", exec));
  CHECK(after.value("leaf_processing_latency_seconds_count", exec) ==
        after.value("leaf_events_total", exec));

  // The probes run on tracepoint-family hooks here (no kprobe/fentry);
  // tcp_stats is an iterator (hook "other"), read on a timer.
  std::set<std::string> tracepoints = {"tp_btf", "raw_tp", "tracepoint"};
  int attached = 0;
  for (const auto& s : after.families.at("leaf_probe_attached").samples) {
    if (s.value == 1) {
      ++attached;
      if (s.labels.at("probe") == "tcp_stats") continue;
      CHECK_MESSAGE(tracepoints.count(s.labels.at("hook")), s.labels.at("probe"));
    }
  }
  CHECK(attached >= 4);

  // The kernel-side cost: the process plugin's programs ran (BPF stats on).
  CHECK(after.value("leaf_bpf_stats_enabled") == 1);
  CHECK(after.sum("leaf_bpf_program_runs_total", {{"plugin", "process"}}) >= kExecs);
  CHECK(after.sum("leaf_bpf_program_run_seconds_total", {{"plugin", "process"}}) > 0);
  CHECK(after.sum("leaf_bpf_program_runs_total", {{"plugin", "unknown"}}) == 0);
  // Whole program names, not the kernel's 15 characters ("tcp_close__tp_b"):
  // tcp_accept's two tracepoint programs were two series with one label set.
  int network_programs = 0;
  for (const auto& s : after.families.at("leaf_bpf_program_runs_total").samples) {
    const std::string& name = s.labels.at("program");
    if (s.labels.at("plugin") != "network" ||
        !std::regex_search(name, std::regex("^tcp_(connect|accept|close)")))
      continue;
    ++network_programs;
    std::smatch m;
    CHECK_MESSAGE(std::regex_match(name, m,
                                   std::regex("tcp_(connect|accept|close)__(fentry|kprobe|tp_btf|"
                                              "raw_tp|tp|tp__accept4?)")),
                  name);
  }
  CHECK(network_programs >= 3);
  // The network plugin's own counters (connection table, evictions).
  CHECK(after.has_family("leaf_network_conn_table_evicted_total"));
  CHECK(after.value("leaf_network_conn_table_capacity", {{"plugin", "network"}}) > 0);

  // Every name the dashboard uses exists (with these plugins loaded).
  for (const auto& name : dashboard_names()) {
    bool found = after.has_family(name);
    for (const char* sfx : {"_bucket", "_sum", "_count"})
      if (!found && name.size() > strlen(sfx) &&
          name.compare(name.size() - strlen(sfx), strlen(sfx), sfx) == 0)
        found = after.has_family(name.substr(0, name.size() - strlen(sfx)));
    if (name.rfind("leaf_kafka_", 0) == 0) continue;  // metrics_test, with the Kafka sink
    CHECK_MESSAGE(found, "the dashboard uses " << name << ", /metrics does not expose it");
  }

  HttpResult health = http_get(port, "/healthz");
  CHECK(health.status == 200);
  CHECK(health.body.find("probe process: running") != std::string::npos);
  CHECK(host.stop() == 0);
}

namespace {

// A configuration directory and a plugins directory holding one built plugin.
struct CheckSetup {
  explicit CheckSetup(const std::string& plugin) {
    std::filesystem::create_directories(dir.path() + "/plugins");
    std::filesystem::create_symlink(built_plugin(plugin),
                                    dir.path() + "/plugins/leaf_" + plugin + ".so");
    dir.write("conf.d/leaf.toml", "");
  }
  // leaf-host --check or --check-json on them; its exit status, the output in `out`.
  int run(const char* flag, std::string* out) {
    return run_command({host_binary(), flag, "--config", dir.path() + "/conf.d", "--plugins-dir",
                        dir.path() + "/plugins"},
                       out);
  }
  TempDir dir;
};

}  // namespace

TEST_CASE("--check names the tracepoint hooks of the network probes and the kernel's facts") {
  CheckSetup setup("network");
  std::string out;
  int rc = setup.run("--check", &out);
  INFO(out);
  CHECK(rc == 0);
  for (const char* probe : {"tcp_connect", "tcp_accept", "tcp_close"}) {
    std::regex re(std::string("probe ") + probe + ": attached via (tp_btf|raw_tp|tracepoint)");
    CHECK_MESSAGE(std::regex_search(out, re), probe);
  }
  CHECK(out.find("BTF: yes") != std::string::npos);
  CHECK(out.find("kernel: ") != std::string::npos);

  rc = setup.run("--check-json", &out);
  CHECK(rc == 0);
  auto first = out.find('{');
  REQUIRE(first != std::string::npos);
  Json j = Json::parse(out.substr(first));
  CHECK(j["ok"] == true);
  CHECK(j["system"]["btf"] == true);
  CHECK(j["system"]["kernel"].get<std::string>().size() > 0);
  bool saw_tracepoint = false;
  for (const auto& p : j["plugins"])
    for (const auto& pr : p["probes"])
      if (pr["hook"] == "tp_btf" || pr["hook"] == "raw_tp" || pr["hook"] == "tracepoint")
        saw_tracepoint = true;
  CHECK(saw_tracepoint);
}

// A probe its configuration does not need is neither loaded nor listed, and
// does not fail the check: the performance plugin's sched_wakeup hooks serve
// only the opt-in `wakeups` aggregate when run-queue waits come from the kernel.
TEST_CASE("--check passes with probes the configuration leaves unloaded") {
  CheckSetup setup("performance");
  auto check = [&](const std::string& runq_source) {
    setup.dir.write("conf.d/performance.toml", "[runq]\nsource = \"" + runq_source + "\"\n");
    std::string out;
    int rc = setup.run("--check", &out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("leaf_performance.so): ok") != std::string::npos);
    return out;
  };
  std::string out = check("kernel");
  CHECK(out.find("probe sched_wakeup") == std::string::npos);
  CHECK(out.find("probe sched_switch: attached via") != std::string::npos);
  out = check("table");
  CHECK(std::regex_search(out, std::regex("probe sched_wakeup: attached via (tp_btf|raw_tp)")));
}

namespace {

std::string fake(const std::string& name) {
  return std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/" + name;
}

// The gated tickers' open() loads the BPF program "<gate>.bpf" names, then
// waits until "<gate>" exists (tests/plugins/ticker.cpp).
void arm_gate(const std::string& gate, const std::string& program) {
  std::ofstream(gate + ".bpf") << program;
}
void open_gate(const std::string& gate) {
  std::ofstream(gate + ".tmp") << "";
  REQUIRE(std::rename((gate + ".tmp").c_str(), gate.c_str()) == 0);
}
bool waiting(const std::string& gate) { return ::access((gate + ".waiting").c_str(), F_OK) == 0; }

}  // namespace

// One SIGHUP restarts two probes: each opens on its own loader thread. The
// first to swap in used to take every program loaded so far, the other
// one's too (it loads its program, then waits at its gate): opens that load
// BPF now take turns (metrics::ProgramLoad), so each program keeps its plugin.
TEST_CASE("a SIGHUP restarting two probes at once: each BPF program keeps its plugin's label") {
  TempDir gates;
  auto gate = [&](const std::string& n) { return gates.path() + "/" + n; };
  for (const char* g : {"a1", "b1"}) open_gate(gate(g));
  HostOptions o;
  o.plugins = {fake("leaf_ticker_gated.so"), fake("leaf_ticker_gated2.so")};
  o.config["leaf.toml"] = kConf;
  o.config["gated.toml"] = "label = \"" + gate("a1") + "\"\n";
  o.config["gated2.toml"] = "label = \"" + gate("b1") + "\"\n";
  LeafHost host(o);
  host.start();
  int port = served_port(host.stderr_text());
  REQUIRE(port > 0);

  arm_gate(gate("a2"), "gated_one");
  arm_gate(gate("b2"), "gated_two");
  size_t at = host.stderr_text().size();
  std::ofstream(host.config_dir() + "/gated.toml")
      << "interval = \"5ms\"\nlabel = \"" << gate("a2") << "\"\n";
  std::ofstream(host.config_dir() + "/gated2.toml")
      << "interval = \"5ms\"\nlabel = \"" << gate("b2") << "\"\n";
  REQUIRE(::kill(host.pid(), SIGHUP) == 0);
  // Open whichever gate is waited at first, then the other.
  std::set<std::string> left = {gate("a2"), gate("b2")};
  auto until = std::chrono::steady_clock::now() + scaled(30s);
  while (!left.empty()) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, host.stderr_text());
    for (const auto& g : left)
      if (waiting(g)) {
        open_gate(g);
        left.erase(g);
        break;
      }
    std::this_thread::sleep_for(10ms);
  }
  for (const char* plugin : {"gated", "gated2"}) {
    std::string line = std::string("SIGHUP: plugin ") + plugin + " restarted";
    while (host.stderr_text().find(line, at) == std::string::npos) {
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, host.stderr_text());
      std::this_thread::sleep_for(10ms);
    }
  }

  std::map<std::string, std::string> owner;  // program -> plugin label
  for (const auto& s : scrape(port).families.at("leaf_bpf_program_runs_total").samples)
    owner[s.labels.at("program")] += s.labels.at("plugin");
  CHECK(owner["gated_one"] == "gated");
  CHECK(owner["gated_two"] == "gated2");
  CHECK(host.stop() == 0);
}
