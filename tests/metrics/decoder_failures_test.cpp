// Records a plugin's own decoder refuses are counted per plugin and event
// type on /metrics and logged, not dropped silently. A real BPF probe
// (tests/plugins/bad_decoder) records this process's close() calls of
// invalid descriptors; its decoder refuses every other one.
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <leaf/sdk/abi.h>
#include <unistd.h>

#include "../plugins/bad_decoder/bad_decoder.h"
#include "exposition.hpp"
#include "harness.hpp"

using namespace leaf::test;
using namespace leaf::test::metrics;

namespace {

Exposition scrape(int port) {
  HttpResult r = http_get(port, "/metrics");
  REQUIRE(r.status == 200);
  Exposition e = parse_exposition(r.body);
  for (const auto& err : e.errors) FAIL_CHECK("invalid exposition: " << err);
  return e;
}

std::string test_plugin(const char* file) {
  return std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/" + file;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a decoder's failures are counted per plugin and type, and logged") {
  HostOptions o;
  o.plugins = {test_plugin("leaf_bad_decoder.so")};
  o.config["leaf.toml"] =
      "jsonl.path = \"-\"\nstats_interval = \"100ms\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n";
  o.config["bad_decoder.toml"] = "target_tgid = " + std::to_string(getpid()) + "\n";
  LeafHost host(o);
  host.start();
  int port = served_port(host.stderr_text());
  REQUIRE(port > 0);

  // close(BASE - k), k = 0..10: the decoder emits even k (6) and refuses odd k
  // (5). The last one is emitted: once it is out, every earlier record was
  // decoded (one ring, in order).
  constexpr int kCloses = 11;
  for (int k = 0; k < kCloses; ++k) CHECK(close(BAD_DECODER_FD_BASE - k) == -1);
  auto mine = [](const Json& e) { return event_type("close_call")(e); };
  host.wait_for([](const Json& e) {
    return event_type("close_call")(e) && e["data"]["fd"] == BAD_DECODER_FD_BASE - 10;
  });
  std::vector<int> fds;
  for (const auto& e : host.matching(mine)) {
    CHECK(e["data"]["tgid"] == getpid());
    fds.push_back(e["data"]["fd"].get<int>());
  }
  CHECK(fds == std::vector<int>{-1000, -1002, -1004, -1006, -1008, -1010});

  std::map<std::string, std::string> labels = {{"plugin", "bad_decoder"}, {"type", "close_call"}};
  Exposition m = scrape(port);
  CHECK(m.value("leaf_events_decode_failed_total", labels) == 5);
  CHECK(m.value("leaf_kernel_events_total", labels) == kCloses);
  CHECK(m.value("leaf_events_total", labels) == 6);
  CHECK(m.value("leaf_events_malformed_total", labels) == 0);
  CHECK(m.value("leaf_events_unknown_type_total", {}) == 0);

  // The first failure is logged at once, the rest in the periodic report
  // (stats_interval): its counts add up to the total.
  const std::string first = "[bad_decoder] the plugin's decoder refused a close_call record (" +
                            std::to_string(sizeof(bad_decoder_event)) + " bytes): invalid argument";
  for (int i = 0; i < 100 && host.stderr_text().find("; total 5") == std::string::npos; ++i)
    usleep(50'000);
  CHECK(host.stop() == 0);
  std::string log = host.stderr_text();
  INFO(log);
  CHECK(occurrences(log, first) == 1);
  CHECK(occurrences(log,
                    "close_call records refused by the plugin's decoder since the last "
                    "report (last: invalid argument); total 5") == 1);
  CHECK(log.find("[bad_decoder] close_call: 11 emitted by the kernel, 0 lost in the kernel, 6 "
                 "delivered to sinks, 5 refused by its decoder") != std::string::npos);
}

// Event types are registered from the plugin's own table when it is
// created; a ring whose records are of a type not in that table is refused
// (the dispatcher registers nothing), and with it the plugin's start. The
// other plugins run on.
TEST_CASE("a ring of an event type the plugin did not declare is refused") {
  HostOptions o;
  o.plugins = {std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_bad_ring.so",
               std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_ticker.so"};
  o.config["leaf.toml"] = "jsonl.path = \"-\"\n";
  o.config["bad_ring.toml"] = "target_tgid = " + std::to_string(getpid()) + "\n";
  o.config["ticker.toml"] = "interval = \"5ms\"\n";
  LeafHost host(o);
  host.start();
  host.wait_for(event_type("tick"));
  CHECK(close(BAD_DECODER_FD_BASE) == -1);
  CHECK(host.stop() == 0);
  std::string log = host.stderr_text();
  INFO(log);
  CHECK(log.find("[bad_ring] ring buffer refused: its event type close_call is not among the "
                 "plugin's event types") != std::string::npos);
  CHECK(log.find("plugin bad_ring (") != std::string::npos);
  CHECK(log.find("start failed") != std::string::npos);
  CHECK(log.find("leaf-host running: probes [ticker]") != std::string::npos);
  CHECK(host.matching(event_type("close_call")).empty());
}

// The same probe built against a frozen copy of SDK 1.0's headers, C++ and
// BPF (tests/abi/frozen-2.0): a third party's plugin of ABI 2.0 built before
// 2.1 existed. Its registration is ABI 2.0's size and its object has no
// ticking word (the BPF side forces its wakeups as before): this host runs it
// and delivers and counts every record exactly as the plugin of today's SDK.
TEST_CASE("a probe built with SDK 1.0's frozen headers (ABI 2.0) runs in this host") {
  const std::string path = test_plugin("leaf_frozen20.so");
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE_MESSAGE(lib, dlerror());
  void* sym = dlsym(lib, leaf::sdk::kEntryPointName);
  REQUIRE(sym != nullptr);
  // BOOST_DLL_ALIAS exports a pointer to the entry point.
  const leaf::sdk::PluginDescriptor* d = (*static_cast<leaf::sdk::EntryPoint**>(sym))();
  CHECK(d->abi_major == 2);
  CHECK(d->abi_minor == 0);
  dlclose(lib);

  HostOptions o;
  o.plugins = {path};
  o.config["leaf.toml"] = "jsonl.path = \"-\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n";
  o.config["frozen20.toml"] = "target_tgid = " + std::to_string(getpid()) + "\n";
  LeafHost host(o);
  host.start();
  int port = served_port(host.stderr_text());
  REQUIRE(port > 0);
  // One record at a time, each awaited: no tick or batch carries it, only
  // the ring's wakeup. close(BASE - 2k): even offsets, all decoded.
  for (int k = 0; k < 5; ++k) {
    CHECK(close(BAD_DECODER_FD_BASE - 2 * k) == -1);
    host.wait_for([k](const Json& e) {
      return event_type("close_call")(e) && e["data"]["fd"] == BAD_DECODER_FD_BASE - 2 * k;
    });
  }
  std::vector<int> fds;
  for (const auto& e : host.matching(event_type("close_call"))) {
    CHECK(e["data"]["tgid"] == getpid());
    fds.push_back(e["data"]["fd"].get<int>());
  }
  CHECK(fds == std::vector<int>{-1000, -1002, -1004, -1006, -1008});
  std::map<std::string, std::string> labels = {{"plugin", "frozen20"}, {"type", "close_call"}};
  Exposition m = scrape(port);
  CHECK(m.value("leaf_kernel_events_total", labels) == 5);
  CHECK(m.value("leaf_events_total", labels) == 5);
  CHECK(m.value("leaf_events_decode_failed_total", labels) == 0);
  CHECK(host.stop() == 0);
  std::string log = host.stderr_text();
  INFO(log);
  CHECK(log.find("leaf-host running: probes [frozen20]") != std::string::npos);
  CHECK(log.find("[frozen20] close_call: 5 emitted by the kernel, 0 lost in the kernel, 5 "
                 "delivered to sinks") != std::string::npos);
}
