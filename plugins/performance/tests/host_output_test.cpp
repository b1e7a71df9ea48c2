// The performance plugin end to end: leaf-host loads it from a plugins
// directory with a conf.d of the test's own and prints its events.
#include <doctest/doctest.h>

#include <string>

#include "harness.hpp"
#include "workloads.hpp"

using namespace leaf::test;

namespace {

const char* kSoftirqNames[] = {"hi",       "timer",   "net_tx", "net_rx",  "block",
                               "irq_poll", "tasklet", "sched",  "hrtimer", "rcu"};

}  // namespace

TEST_CASE("leaf-host emits perf_stats every interval with the SPEC fields") {
  LeafHost host(
      {.plugins = {"performance"}, .config = {{"performance.toml", "interval = \"1s\"\n"}}});
  host.start();
  {
    leaf::performance::test::PingPong pp;
    pp.run(5000);
  }
  auto snaps = host.wait_for_count(event_type("perf_stats"), 2, 20s);
  host.stop();
  REQUIRE(snaps.size() >= 2);
  const Json& e = snaps[1];
  INFO(e.dump());
  CHECK(e["type"] == "metrics");
  CHECK(e["timestamp"].get<uint64_t>() > 1'600'000'000'000'000'000ull);
  CHECK(e.contains("hostname"));
  const Json& d = e["data"];
  // About one second apart (the host's timer decides exactly).
  CHECK(d["interval_ns"].get<uint64_t>() > 500'000'000ull);
  CHECK(d["interval_ns"].get<uint64_t>() < 5'000'000'000ull);
  REQUIRE(d["cpus"].is_array());
  REQUIRE(!d["cpus"].empty());
  uint64_t switches = 0;
  for (const auto& c : d["cpus"]) {
    for (const char* k : {"cpu", "context_switches", "preemptions", "irq_count", "softirq_count"})
      CHECK(c.contains(k));
    switches += c["context_switches"].get<uint64_t>();
  }
  CHECK(switches == d["context_switches"].get<uint64_t>());
  REQUIRE(d["softirqs"].size() == 10);
  for (size_t v = 0; v < 10; ++v) {
    CHECK(d["softirqs"][v]["vec"] == v);
    CHECK(d["softirqs"][v]["name"] == kSoftirqNames[v]);
    CHECK(d["softirqs"][v]["hist_log2_ns"].is_array());
  }
  CHECK(d["irqs"].is_array());
  CHECK(d["runq_latency"].contains("hist_log2_ns"));
  CHECK(d["raw_suppressed"]["context_switch"] == 0);
  // Raw events are off by default.
  CHECK(host.matching(event_type("context_switch")).empty());
  CHECK(host.matching(event_type("softirq")).empty());
}

TEST_CASE("leaf-host shows raw context_switch, irq and softirq events when enabled") {
  LeafHost host({.plugins = {"performance"},
                 .config = {{"performance.toml",
                             "interval = \"1s\"\n"
                             "[raw]\ncontext_switch = true\nirq = true\nsoftirq = true\n"
                             "rate_limit = 200\nburst = 50\n"}}});
  host.start();
  {
    leaf::performance::test::PingPong pp;
    pp.run(5000);
  }
  Json cs = host.wait_for(event_type("context_switch"), 20s);
  Json si = host.wait_for(event_type("softirq"), 20s);
  Json stats = host.wait_for(event_type("perf_stats"), 20s);
  host.stop();
  INFO(cs.dump());
  INFO(si.dump());
  CHECK(cs["type"] == "performance");
  for (const char* k : {"cpu", "prev_pid", "prev_comm", "next_pid", "next_comm", "preempted"})
    CHECK(cs["data"].contains(k));
  CHECK(cs["data"]["preempted"].is_boolean());
  CHECK(si["type"] == "performance");
  for (const char* k : {"cpu", "softirq_vec", "softirq_name", "duration_ns"})
    CHECK(si["data"].contains(k));
  uint32_t vec = si["data"]["softirq_vec"];
  REQUIRE(vec < 10);
  CHECK(si["data"]["softirq_name"] == kSoftirqNames[vec]);
  for (const auto& irq : host.matching(event_type("irq"))) {
    for (const char* k : {"cpu", "irq", "irq_name", "duration_ns"}) CHECK(irq["data"].contains(k));
  }
}
