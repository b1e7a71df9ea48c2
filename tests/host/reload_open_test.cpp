// A SIGHUP that restarts or enables a probe opens it on a loader thread,
// beside the dispatcher (core/host/host_open.cpp), with the real leaf-host
// and the test ticker plugins: while the new instance's open() waits at a
// gate (leaf_ticker_gated: its label names a file its open() waits for), the
// other probe ticks on, and a restarted probe's running instance ticks on
// too, until the swap. A failed open leaves the running instance; a later
// SIGHUP drops a restart still opening. A probe whose open() calls
// add_timer, emit or add_ring_buffer (start()'s business, sdk abi.h) is
// refused with one line per call, at startup as when it opens later.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness.hpp"

using namespace leaf::test;

namespace {

std::string fake(const std::string& name) {
  return std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/" + name;
}

// Other engineers' leaf-hosts serve the default metrics port.
const char* const kNoMetrics = "[metrics]\nlisten = \"\"\n";

// Waits until leaf-host's log holds `line` after byte `from`; returns where.
size_t wait_log(const LeafHost& host, const std::string& line, size_t from = 0) {
  auto until = std::chrono::steady_clock::now() + scaled(20s);
  for (;;) {
    size_t at = host.stderr_text().find(line, from);
    if (at != std::string::npos) return at;
    if (std::chrono::steady_clock::now() > until)
      FAIL("leaf-host did not log \"" << line << "\"; its log:\n" << host.stderr_text());
    std::this_thread::sleep_for(10ms);
  }
}

// Waits until the gated ticker's open() waits at `gate` (it made <gate>.waiting).
void wait_at(const LeafHost& host, const std::string& gate) {
  auto until = std::chrono::steady_clock::now() + scaled(20s);
  while (::access((gate + ".waiting").c_str(), F_OK) != 0) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, host.stderr_text());
    std::this_thread::sleep_for(10ms);
  }
}

// Opens a gate saying `what` ("" or "fail"): written aside, then renamed, so
// that open() never sees it half written.
void open_gate(const std::string& gate, const std::string& what = "") {
  std::ofstream(gate + ".tmp") << what;
  REQUIRE(std::rename((gate + ".tmp").c_str(), gate.c_str()) == 0);
}

// Writes <file> in the host's configuration directory and sends SIGHUP.
size_t sighup(const LeafHost& host, const std::string& file, const std::string& text) {
  size_t before = host.stderr_text().size();
  std::ofstream(host.config_dir() + "/" + file) << text;
  REQUIRE(::kill(host.pid(), SIGHUP) == 0);
  return before;
}

bool from_ticker(const Json& e) { return e["data"].value("label", "") == "tick"; }
bool from_gated(const Json& e) {
  return e["data"].contains("label") && e["data"].value("label", "") != "tick";
}

// The gated ticker's seq numbers, in order: +1 each, back to 1 only where
// a new object started.
std::vector<int64_t> gated_seqs(const LeafHost& host) {
  std::vector<int64_t> out;
  for (const auto& e : host.matching(from_gated)) out.push_back(e["data"]["seq"].get<int64_t>());
  return out;
}

// Both tickers flow on: n more events each.
void both_flow(const LeafHost& host, size_t n) {
  host.wait_for_count(from_ticker, host.matching(from_ticker).size() + n, scaled(20s));
  host.wait_for_count(from_gated, host.matching(from_gated).size() + n, scaled(20s));
}

}  // namespace

TEST_CASE(
    "SIGHUP restart: the new instance opens beside the dispatcher, the running one runs until the "
    "swap; a failed open leaves it; a later SIGHUP drops a restart still opening") {
  TempDir gates;
  auto gate = [&](const std::string& n) { return gates.path() + "/" + n; };
  open_gate(gate("g1"));  // the startup open passes at once
  HostOptions o;
  o.plugins = {fake("leaf_ticker.so"), fake("leaf_ticker_gated.so")};
  o.config["leaf.toml"] = kNoMetrics;
  o.config["ticker.toml"] = "interval = \"5ms\"\n";
  o.config["gated.toml"] = "interval = \"5ms\"\nlabel = \"" + gate("g1") + "\"\n";
  LeafHost host(o);
  host.start();
  both_flow(host, 1);
  const std::string so = host.plugins_dir() + "/leaf_ticker_gated.so";

  // Restart-only interval changed: the new instance waits at g2 in its open().
  size_t at = sighup(host, "gated.toml", "interval = \"4ms\"\nlabel = \"" + gate("g2") + "\"\n");
  wait_at(host, gate("g2"));
  wait_log(host, "SIGHUP: configuration reloaded from", at);
  both_flow(host, 20);  // the other probe and the restarted one's running instance
  CHECK(host.stderr_text().find("restarted", at) == std::string::npos);
  open_gate(gate("g2"));
  wait_log(host,
           "SIGHUP: plugin gated restarted (restart-only options changed: interval): rings "
           "drained, running its new configuration after ",
           at);
  CHECK(host.stderr_text().find("opened beside the running one, no probe of it attached for", at) !=
        std::string::npos);
  CHECK(host.stderr_text().find("SIGHUP: plugin ticker", at) == std::string::npos);
  both_flow(host, 5);

  // A failed open: the running instance (g2's) stays.
  at = sighup(host, "gated.toml", "interval = \"3ms\"\nlabel = \"" + gate("g3") + "\"\n");
  wait_at(host, gate("g3"));
  both_flow(host, 20);
  open_gate(gate("g3"), "fail");
  wait_log(host,
           "SIGHUP: plugin gated (" + so +
               ") could not restart with its new configuration (restart-only options changed: "
               "interval): the gate " +
               gate("g3") + " said fail; the running one stays, with the previous configuration",
           at);
  both_flow(host, 10);

  // A later SIGHUP (back to the running configuration) while a restart
  // opens: that restart is dropped when its open() ends.
  at = sighup(host, "gated.toml", "interval = \"2ms\"\nlabel = \"" + gate("g4") + "\"\n");
  wait_at(host, gate("g4"));
  wait_log(host, "SIGHUP: configuration reloaded from", at);
  size_t second =
      sighup(host, "gated.toml", "interval = \"4ms\"\nlabel = \"" + gate("g2") + "\"\n");
  wait_log(host, "SIGHUP: configuration reloaded from", second);
  open_gate(gate("g4"));
  wait_log(host,
           "SIGHUP: plugin gated: the restart begun by an earlier SIGHUP is dropped; the later one "
           "counts",
           second);
  both_flow(host, 10);
  CHECK(host.stop() == 0);

  // One restart swapped in: the gated ticker's seq went back to 1 once; every
  // other tick of it followed the one before (its running instance lost
  // nothing while the new one opened, and after the failure and the drop).
  auto seqs = gated_seqs(host);
  REQUIRE(!seqs.empty());
  CHECK(seqs.front() == 1);
  int restarts = 0;
  for (size_t i = 1; i < seqs.size(); ++i) {
    if (seqs[i] == 1)
      ++restarts;
    else
      CHECK_MESSAGE(seqs[i] == seqs[i - 1] + 1, "tick " << i);
  }
  CHECK(restarts == 1);
  std::string log = host.stderr_text();
  CHECK(log.find("SIGHUP: plugin gated restarted") == log.rfind("SIGHUP: plugin gated restarted"));
}

TEST_CASE("SIGHUP enable: the probe opens beside the dispatcher while the others run") {
  TempDir gates;
  std::string gate = gates.path() + "/g";
  HostOptions o;
  o.plugins = {fake("leaf_ticker.so"), fake("leaf_ticker_gated.so")};
  o.config["leaf.toml"] = kNoMetrics;
  o.config["ticker.toml"] = "interval = \"5ms\"\n";
  o.config["gated.toml"] = "enabled = false\ninterval = \"5ms\"\nlabel = \"" + gate + "\"\n";
  LeafHost host(o);
  host.start();
  host.wait_for(from_ticker);
  size_t at = sighup(host, "gated.toml", "interval = \"5ms\"\nlabel = \"" + gate + "\"\n");
  wait_at(host, gate);
  host.wait_for_count(from_ticker, host.matching(from_ticker).size() + 20, scaled(20s));
  CHECK(host.stderr_text().find("SIGHUP: plugin gated started", at) == std::string::npos);
  CHECK(host.matching(from_gated).empty());
  open_gate(gate);
  wait_log(host, "SIGHUP: plugin gated started (enabled = true)\n", at);
  auto first = host.wait_for(from_gated, scaled(10s));
  CHECK(first["data"]["seq"] == 1);
  CHECK(host.stop() == 0);
}

// A probe dropped into the plugins directory opens with the configuration
// read when its file appeared. A SIGHUP while it opens compares only the
// running plugins: once swapped in, the probe takes what that SIGHUP read
// (here a live option, its label).
TEST_CASE("a SIGHUP while a dropped-in probe opens applies to it once it runs") {
  TempDir gates;
  std::string gate = gates.path() + "/g";
  HostOptions o;
  o.plugins = {fake("leaf_ticker.so")};
  o.config["leaf.toml"] = kNoMetrics;
  o.config["ticker.toml"] = "interval = \"5ms\"\n";
  o.config["gated.toml"] = "interval = \"5ms\"\nlabel = \"" + gate + "\"\n";
  LeafHost host(o);
  host.start();
  host.wait_for(from_ticker);
  std::string so = host.plugins_dir() + "/leaf_ticker_gated.so";
  std::filesystem::copy_file(fake("leaf_ticker_gated.so"), so + ".tmp");
  REQUIRE(std::rename((so + ".tmp").c_str(), so.c_str()) == 0);
  wait_at(host, gate);
  size_t at = sighup(host, "gated.toml", "interval = \"5ms\"\nlabel = \"after\"\n");
  wait_log(host, "SIGHUP: configuration reloaded from", at);
  open_gate(gate);
  wait_log(host,
           "plugin gated: a SIGHUP changed its configuration while it opened; applying it now", at);
  wait_log(host, "SIGHUP: plugin gated applied its new configuration", at);
  auto after = host.wait_for([](const Json& e) { return e["data"].value("label", "") == "after"; },
                             scaled(10s));
  CHECK(after["data"]["seq"].get<int64_t>() > 0);
  CHECK(host.stop() == 0);
}

// sdk abi.h: open() calls only config_*, log and the host's constants; it
// may run beside the dispatcher. At startup (on the dispatcher) the same
// calls are refused, so a plugin behaves alike whenever it starts.
TEST_CASE("a probe whose open() adds a timer, emits or adds a ring is refused, one line per call") {
  HostOptions o;
  o.plugins = {fake("leaf_ticker.so"), fake("leaf_ticker_open_calls.so")};
  o.config["leaf.toml"] = kNoMetrics;
  o.config["ticker.toml"] = "interval = \"5ms\"\n";
  o.config["open_calls.toml"] = "interval = \"5ms\"\nlabel = \"calls\"\n";
  LeafHost host(o);
  host.start();
  host.wait_for_count(from_ticker, 20, scaled(20s));
  CHECK(host.stop() == 0);
  std::string log = host.stderr_text();
  for (const char* call : {"add_timer", "emit", "add_ring_buffer"})
    CHECK_MESSAGE(log.find(std::string("[open_calls] ") + call +
                           " refused: called from open(), which may run on a loader thread "
                           "beside the dispatcher; rings, timers and events belong in start()") !=
                      std::string::npos,
                  call);
  CHECK(log.find("plugin open_calls (" + host.plugins_dir() +
                 "/leaf_ticker_open_calls.so): open failed: the host refused in open(): "
                 "add_timer (status 1), emit (status 1), add_ring_buffer (status 1); skipped") !=
        std::string::npos);
  CHECK(
      host.matching([](const Json& e) { return e["data"].value("label", "") == "calls"; }).empty());
}
