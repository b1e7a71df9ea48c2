// The performance plugin against the kernel's own accounting.
//
// These tests load leaf_performance.so in this process through its
// descriptor, with the SDK's TestHost (perf_snapshots.hpp), instead of
// driving leaf-host: the test then runs the plugin's snapshot timer itself,
// right before and right after reading /proc, so the plugin's interval and
// the kernel's counters cover the same window to within microseconds, on a
// machine where other builds keep both CPUs busy. host_output_test.cpp
// checks the same plugin end to end through leaf-host.
#include "kernel_accounting.hpp"

#include <bpf/libbpf.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "harness.hpp"
#include "perf_snapshots.hpp"
#include "workloads.hpp"

using namespace leaf::performance::test;

namespace {

std::string plugin_path() { return leaf::test::built_plugin("performance"); }

// |got - want| within `pct` percent of `want`, or `slack` events for tiny counts.
bool agrees(uint64_t got, uint64_t want, double pct, uint64_t slack = 2) {
  double diff = std::fabs(static_cast<double>(got) - static_cast<double>(want));
  return diff <= std::max(static_cast<double>(want) * pct / 100.0, static_cast<double>(slack));
}

// The plugin's count over [tick0, tick1] must lie between /proc's counts over
// the inner window [after tick0, before tick1] and the outer one [before
// tick0, after tick1], give or take `pct` percent: the test process may be
// preempted between a tick and a read of /proc on a busy machine.
bool bracketed(uint64_t got, uint64_t inner, uint64_t outer, double pct, uint64_t slack = 2) {
  double lo = static_cast<double>(inner) * (1 - pct / 100.0) - static_cast<double>(slack);
  double hi = static_cast<double>(outer) * (1 + pct / 100.0) + static_cast<double>(slack);
  return static_cast<double>(got) >= lo && static_cast<double>(got) <= hi;
}

Json one_snapshot(TestHost& host) {
  auto snaps = tick(host);
  REQUIRE(snaps.size() == 1);
  return snaps[0];
}

// Disk writes with fsync (block IRQs and softirqs) and loopback TCP (net
// softirqs), so that the interrupt tables have something to compare.
void interrupt_workload() {
  char path[] = "leaf-perf-io-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  char block[4096];
  std::memset(block, 'x', sizeof(block));
  for (int i = 0; i < 200; ++i) {
    REQUIRE(pwrite(fd, block, sizeof(block), static_cast<off_t>(i) * sizeof(block)) ==
            static_cast<ssize_t>(sizeof(block)));
    fsync(fd);
  }
  close(fd);
  unlink(path);
  PingPong pp;  // scheduler softirqs, wakeups across CPUs
  pp.run(2000);
}

}  // namespace

TEST_CASE("pipe ping-pong: switches cover 2N and the pair's voluntary switches match /proc") {
  // Raw mode for the pair's per-task view, with a bucket that never holds
  // anything back in this test (checked below).
  TestHost host(plugin_path(), {{"raw.context_switch", "true"},
                                {"raw.rate_limit", "100000000"},
                                {"raw.burst", "100000000"},
                                {"ring_buffer_size", "\"64M\""}});
  host.open();
  host.start();
  PingPong pp;
  const uint64_t n = 20000;

  host.drain([](const uint8_t*, uint32_t) {});
  tick(host);  // start of the interval
  CtxSwitches a0 = read_ctx_switches(pp.a()), b0 = read_ctx_switches(pp.b());
  uint64_t t0 = monotonic_ns();
  pp.run(n);
  uint64_t t1 = monotonic_ns();
  CtxSwitches a1 = read_ctx_switches(pp.a()), b1 = read_ctx_switches(pp.b());
  Json snap = one_snapshot(host);

  uint64_t vol_a = 0, vol_b = 0, invol_a = 0, invol_b = 0, records = 0;
  host.drain([&](const uint8_t* data, uint32_t size) {
    REQUIRE(size == sizeof(leaf_perf_context_switch_event));
    leaf_perf_context_switch_event e;
    std::memcpy(&e, data, sizeof(e));
    REQUIRE(e.hdr.type == PERF_EVENT_CONTEXT_SWITCH);
    ++records;
    if (e.hdr.timestamp_ns < t0 || e.hdr.timestamp_ns > t1) return;
    if (e.prev_pid == static_cast<uint32_t>(pp.a())) (e.preempted ? invol_a : vol_a)++;
    if (e.prev_pid == static_cast<uint32_t>(pp.b())) (e.preempted ? invol_b : vol_b)++;
  });
  auto counters = host.counters();
  INFO("snapshot: " << snap.dump());
  CHECK(counters["performance_raw_suppressed_total{context_switch}"] == 0);
  CHECK(host.ring_counts(PERF_EVENT_CONTEXT_SWITCH).lost == 0);
  CHECK(records > 0);

  CHECK(snap["context_switches"].get<uint64_t>() >= 2 * n);
  uint64_t per_cpu = 0;
  for (const auto& c : snap["cpus"]) per_cpu += c["context_switches"].get<uint64_t>();
  CHECK(per_cpu == snap["context_switches"].get<uint64_t>());

  INFO("A voluntary: plugin " << vol_a << ", /proc " << a1.voluntary - a0.voluntary);
  INFO("B voluntary: plugin " << vol_b << ", /proc " << b1.voluntary - b0.voluntary);
  CHECK(a1.voluntary - a0.voluntary >= n / 2);  // the workload did block
  CHECK(agrees(vol_a, a1.voluntary - a0.voluntary, 5));
  CHECK(agrees(vol_b, b1.voluntary - b0.voluntary, 5));
  CHECK(agrees(invol_a, a1.involuntary - a0.involuntary, 5));
  CHECK(agrees(invol_b, b1.involuntary - b0.involuntary, 5));
  host.stop();
}

TEST_CASE("softirq and IRQ counts agree with /proc/softirqs and /proc/interrupts") {
  TestHost host(plugin_path(), {});
  host.open();
  host.start();
  interrupt_workload();  // warm up: every IRQ line seen once has its entry and name

  auto soft_before0 = read_softirqs();
  auto irq_before0 = read_interrupts();
  tick(host);
  auto soft_after0 = read_softirqs();
  auto irq_after0 = read_interrupts();
  interrupt_workload();
  auto soft_before1 = read_softirqs();
  auto irq_before1 = read_interrupts();
  Json snap = one_snapshot(host);
  auto soft_after1 = read_softirqs();
  auto irq_after1 = read_interrupts();
  INFO("snapshot: " << snap.dump());
  for (const auto& [name, value] : host.counters())
    if (name.rfind("performance_program_misses_total{", 0) == 0 && value)
      MESSAGE(name << " " << value);

  // Softirqs: per vector, in total and per CPU.
  std::vector<uint32_t> cpu_ids;
  for (const auto& c : snap["cpus"]) cpu_ids.push_back(c["cpu"].get<uint32_t>());
  REQUIRE(snap["softirqs"].size() == PERF_SOFTIRQ_VECS);
  // Small counts: a few events of slack (2, plus one per CPU for softirqs in
  // progress at either end); 5 % dominates from about 100 events on.
  const uint64_t slack = 2 + cpu_ids.size();
  uint64_t softirq_total = 0;
  for (const auto& v : snap["softirqs"]) {
    std::string name = v["name"];
    REQUIRE(soft_after1.count(name));
    uint64_t inner = sum(soft_before1[name]) - sum(soft_after0[name]);
    uint64_t outer = sum(soft_after1[name]) - sum(soft_before0[name]);
    uint64_t got = v["count"];
    softirq_total += got;
    INFO("softirq " << name << ": plugin " << got << ", /proc " << inner << ".." << outer);
    CHECK(bracketed(got, inner, outer, 5, slack));
    for (size_t i = 0; i < cpu_ids.size(); ++i) {
      uint32_t cpu = cpu_ids[i];
      if (cpu >= soft_after1[name].size()) continue;
      uint64_t inner_cpu = soft_before1[name][cpu] - soft_after0[name][cpu];
      uint64_t outer_cpu = soft_after1[name][cpu] - soft_before0[name][cpu];
      INFO("cpu " << cpu << ": plugin " << v["per_cpu"][i] << ", /proc " << inner_cpu << ".."
                  << outer_cpu);
      CHECK(bracketed(v["per_cpu"][i].get<uint64_t>(), inner_cpu, outer_cpu, 5, slack));
    }
  }
  // Counted at entry (per CPU) and at exit (per vector): a softirq running
  // across a snapshot on each CPU may fall on either side.
  CHECK(agrees(softirq_total, snap["softirq_count"].get<uint64_t>(), 0, cpu_ids.size()));
  CHECK(snap["softirq_count"].get<uint64_t>() > 0);

  // IRQs: every numbered line that fired; lines shared by several handlers
  // are left out (the tracepoint fires per handler, /proc counts per IRQ).
  auto irq_sum = [](std::map<uint32_t, IrqLine>& m, uint32_t irq) {
    return m.count(irq) ? sum(m[irq].per_cpu) : 0;
  };
  std::map<uint32_t, uint64_t> plugin_irqs;
  for (const auto& i : snap["irqs"]) plugin_irqs[i["irq"]] = i["count"];
  int compared = 0;
  for (const auto& [irq, line] : irq_after1) {
    if (line.description.find(", ") != std::string::npos) continue;
    uint64_t inner = irq_sum(irq_before1, irq) - irq_sum(irq_after0, irq);
    uint64_t outer = irq_sum(irq_after1, irq) - irq_sum(irq_before0, irq);
    uint64_t got = plugin_irqs.count(irq) ? plugin_irqs[irq] : 0;
    INFO("irq " << irq << " (" << line.description << "): plugin " << got << ", /proc " << inner
                << ".." << outer);
    CHECK(bracketed(got, inner, outer, 5));
    if (inner >= 20) ++compared;
  }
  auto& irq1 = irq_after1;
  for (const auto& [irq, count] : plugin_irqs) {
    INFO("irq " << irq << " reported by the plugin");
    CHECK(irq1.count(irq) == 1);
  }
  // The fsync()s went to a disk whose interrupts are counted.
  CHECK(compared >= 1);
  for (const auto& i : snap["irqs"]) {
    CHECK(!i["name"].get<std::string>().empty());
    uint64_t in_hist = 0;
    for (const auto& s : i["hist_log2_ns"]) in_hist += s.get<uint64_t>();
    CHECK(in_hist == i["count"].get<uint64_t>());
  }
  host.stop();
}

// Two CPU-bound processes on one CPU, with run-queue waits from `source`.
// Returns the snapshot and the spinners' run_delay growth (/proc) inside it.
void spinners_on_one_cpu(const std::string& source, Json* snap_out, uint64_t* run_delay_out) {
  TestHost host(plugin_path(), {{"runq.source", "\"" + source + "\""}});
  host.open();
  host.start();
  const int cpu = 0;

  // Only switches the snapshot interval can see are compared: both spinners
  // run pinned on `cpu` before the interval starts (a switch while one was
  // still being moved from the CPU it was forked on is not on `cpu`: once
  // 127 < 128 on 5.10), and /proc is read inside the interval on both sides.
  Spinner s1(cpu), s2(cpu);
  tick(host);
  CtxSwitches b1 = read_ctx_switches(s1.pid()), b2 = read_ctx_switches(s2.pid());
  uint64_t d0 = read_run_delay_ns(s1.pid()) + read_run_delay_ns(s2.pid());
  usleep(1'000'000);
  uint64_t d1 = read_run_delay_ns(s1.pid()) + read_run_delay_ns(s2.pid());
  CtxSwitches e1 = read_ctx_switches(s1.pid()), e2 = read_ctx_switches(s2.pid());
  s1.stop();
  s2.stop();
  Json snap = one_snapshot(host);
  CtxSwitches c1, c2;
  c1.involuntary = e1.involuntary - b1.involuntary;
  c2.involuntary = e2.involuntary - b2.involuntary;
  INFO("runq.source = " << source << ", snapshot: " << snap.dump());
  INFO("spinners' involuntary switches: " << c1.involuntary << " + " << c2.involuntary);

  const Json* cpu_stats = nullptr;
  for (const auto& c : snap["cpus"])
    if (c["cpu"] == cpu) cpu_stats = &c;
  REQUIRE(cpu_stats != nullptr);
  // Each spinner was preempted by the other (the kernel says so) and every
  // such switch happened on `cpu` inside the interval.
  CHECK(c1.involuntary + c2.involuntary > 0);
  CHECK((*cpu_stats)["preemptions"].get<uint64_t>() >= c1.involuntary + c2.involuntary);
  CHECK((*cpu_stats)["runq_count"].get<uint64_t>() > 0);
  CHECK((*cpu_stats)["runq_sum_ns"].get<uint64_t>() > 0);
  const Json& runq = snap["runq_latency"];
  CHECK(runq["count"].get<uint64_t>() > 0);
  CHECK(runq["sum_ns"].get<uint64_t>() > 0);
  CHECK(runq["p99_ns"].get<uint64_t>() > 0);
  uint64_t in_hist = 0;
  for (const auto& s : runq["hist_log2_ns"]) in_hist += s.get<uint64_t>();
  CHECK(in_hist == runq["count"].get<uint64_t>());
  host.stop();
  *snap_out = snap;
  *run_delay_out = d1 - d0;
  for (const auto& c : snap["cpus"])
    if (c["cpu"] == cpu) *snap_out = c;
}

TEST_CASE("two CPU-bound processes on one CPU: involuntary preemptions and run-queue latency") {
  Json cpu_stats;
  uint64_t run_delay = 0;
  SUBCASE("runq.source = table (the plugin's own wakeup and preemption times)") {
    spinners_on_one_cpu("table", &cpu_stats, &run_delay);
  }
  SUBCASE("runq.source = kernel (the scheduler's sched_info, read at the switch)") {
    spinners_on_one_cpu("kernel", &cpu_stats, &run_delay);
    // Both count a wait when it ends, from the same clock and queue time: every
    // wait of the spinners that ended between the two /proc reads (inside the
    // snapshot interval) is in the CPU's run-queue sum, with other tasks' waits.
    INFO("spinners' run_delay growth " << run_delay << " ns, cpu: " << cpu_stats.dump());
    CHECK(run_delay > 0);
    CHECK(cpu_stats["runq_sum_ns"].get<uint64_t>() >= run_delay);
  }
}

// With the kernel's queue times the sched_wakeup hooks serve only the
// per-CPU `wakeups` count, so they are loaded only when "wakeups" is among
// the aggregates: two programs fewer on every wakeup of the machine.
TEST_CASE("wakeups are counted only when asked; the sched_wakeup hooks stay unloaded otherwise") {
  for (bool counted : {false, true}) {
    CAPTURE(counted);
    leaf::sdk::testing::Overrides cfg = {{"runq.source", "\"kernel\""}};
    if (counted) cfg["aggregates"] = "[\"cpu\", \"irq\", \"softirq\", \"runq\", \"wakeups\"]";
    TestHost host(plugin_path(), cfg);
    host.open();
    host.start();
    auto* plugin = host.probe();
    int wakeup_probes = 0;
    for (uint32_t i = 0; i < plugin->probe_count(); ++i) {
      leaf::sdk::ProbeInfo info{};
      REQUIRE(plugin->probe_info(i, &info) == leaf::sdk::Status::Ok);
      const std::string name(info.name.data, info.name.size);
      if (name.rfind("sched_wakeup", 0) != 0) continue;
      ++wakeup_probes;
      INFO(name);
      CHECK(info.attached == 1);
    }
    CHECK(wakeup_probes == (counted ? 2 : 0));  // not loaded, not listed otherwise

    // Each sleep of the pair (a voluntary switch) is ended by one wakeup and
    // one run-queue wait, but for the last sleep of each (both end asleep).
    PingPong pp;
    const uint64_t n = 2000;
    tick(host);
    CtxSwitches a0 = read_ctx_switches(pp.a()), b0 = read_ctx_switches(pp.b());
    pp.run(n);
    CtxSwitches a1 = read_ctx_switches(pp.a()), b1 = read_ctx_switches(pp.b());
    Json snap = one_snapshot(host);
    const uint64_t sleeps = a1.voluntary - a0.voluntary + b1.voluntary - b0.voluntary;
    INFO("the pair's voluntary switches " << sleeps << ", snapshot: " << snap.dump());
    REQUIRE(sleeps >= n);  // the workload did block
    uint64_t wakeups = 0;
    for (const auto& c : snap["cpus"]) wakeups += c["wakeups"].get<uint64_t>();
    if (counted)
      CHECK(wakeups + 2 >= sleeps);
    else
      CHECK(wakeups == 0);
    CHECK(snap["runq_latency"]["count"].get<uint64_t>() + 2 >= sleeps);  // waits still measured
    host.stop();
  }
}

TEST_CASE("runq.source = \"sometimes\" is refused naming the choices") {
  CHECK_THROWS_WITH(TestHost(plugin_path(), {{"runq.source", "\"sometimes\""}}),
                    doctest::Contains("\"sometimes\" is not one of auto|kernel|table"));
}

TEST_CASE("raw mode at 1000 events/s per CPU under a context-switch storm") {
  const uint64_t rate = 1000, burst = 100;
  TestHost host(plugin_path(), {{"raw.context_switch", "true"},
                                {"raw.rate_limit", std::to_string(rate)},
                                {"raw.burst", std::to_string(burst)},
                                {"ring_buffer_size", "\"16M\""}});
  host.open();
  uint64_t t_start = monotonic_ns();
  host.start();
  const uint64_t n = 50000;
  {
    PingPong storm;
    storm.run(n);
  }
  auto before = host.counters();
  uint64_t records = 0;
  host.drain([&](const uint8_t* data, uint32_t size) {
    CHECK(size == sizeof(leaf_perf_context_switch_event));
    leaf_perf_context_switch_event e;
    std::memcpy(&e, data, sizeof(e));
    CHECK(e.prev_pid != e.next_pid);
    ++records;
  });
  host.stop();      // nothing more is counted after this...
  usleep(100'000);  // ...once handlers already running on other CPUs are done
  uint64_t t_end = monotonic_ns();
  auto counters = host.counters();
  auto ring = host.ring_counts(PERF_EVENT_CONTEXT_SWITCH);
  host.drain([&](const uint8_t*, uint32_t) { ++records; });

  double seconds = static_cast<double>(t_end - t_start) / 1e9;
  uint64_t cpus = static_cast<uint64_t>(libbpf_num_possible_cpus());
  uint64_t switches = counters["performance_context_switches_total"];
  uint64_t suppressed = counters["performance_raw_suppressed_total{context_switch}"];
  INFO("seconds " << seconds << ", cpus " << cpus << ", switches " << switches << ", emitted "
                  << ring.emitted << ", lost " << ring.lost << ", suppressed " << suppressed
                  << ", records read " << records);
  CHECK(before["performance_context_switches_total"] >= 2 * n);
  // The bucket: never more than the rate over the run on every CPU, plus
  // each CPU's initial burst.
  CHECK(static_cast<double>(ring.emitted + ring.lost) <=
        static_cast<double>(rate) * seconds * static_cast<double>(cpus) +
            static_cast<double>(burst * cpus));
  CHECK(suppressed > 0);
  // Every switch is accounted for: sent, lost to a full ring, or held back.
  CHECK(ring.emitted + ring.lost + suppressed == switches);
  CHECK(records == ring.emitted);
}

TEST_CASE("hooks.skip = [\"tp_btf\"]: every probe falls back to raw_tp and still counts") {
  TestHost host(plugin_path(),
                {{"hooks.skip", "[\"tp_btf\"]"},
                 {"aggregates", "[\"cpu\", \"irq\", \"softirq\", \"runq\", \"wakeups\"]"},
                 {"raw.context_switch", "true"},
                 {"raw.rate_limit", "100000000"},
                 {"raw.burst", "100000000"},
                 {"ring_buffer_size", "\"16M\""}});
  host.open();
  host.start();
  auto* plugin = host.probe();
  REQUIRE(plugin->probe_count() == 7);
  for (uint32_t i = 0; i < plugin->probe_count(); ++i) {
    leaf::sdk::ProbeInfo info{};
    REQUIRE(plugin->probe_info(i, &info) == leaf::sdk::Status::Ok);
    INFO(std::string(info.name.data, info.name.size));
    CHECK(info.hook == leaf::sdk::HookKind::RawTp);
    CHECK(info.attached == 1);
  }
  PingPong pp;
  const uint64_t n = 2000;
  host.drain([](const uint8_t*, uint32_t) {});
  tick(host);
  CtxSwitches a0 = read_ctx_switches(pp.a());
  uint64_t t0 = monotonic_ns();
  pp.run(n);
  uint64_t t1 = monotonic_ns();
  CtxSwitches a1 = read_ctx_switches(pp.a());
  Json snap = one_snapshot(host);
  uint64_t vol_a = 0;
  bool named = false;
  host.drain([&](const uint8_t* data, uint32_t size) {
    if (size != sizeof(leaf_perf_context_switch_event)) return;
    leaf_perf_context_switch_event e;
    std::memcpy(&e, data, sizeof(e));
    if (e.hdr.timestamp_ns < t0 || e.hdr.timestamp_ns > t1) return;
    if (e.prev_pid == static_cast<uint32_t>(pp.a())) {
      if (!e.preempted) ++vol_a;
      named = named || std::string(e.prev_comm).size() > 0;
    }
  });
  INFO("snapshot: " << snap.dump());
  CHECK(snap["context_switches"].get<uint64_t>() >= 2 * n);
  CHECK(snap["runq_latency"]["count"].get<uint64_t>() > 0);
  CHECK(named);
  CHECK(agrees(vol_a, a1.voluntary - a0.voluntary, 5));
  host.stop();
}
