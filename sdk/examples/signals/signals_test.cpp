// Unit test of the signals example with the SDK's TestHost: the plugin runs
// in this process against the real kernel (root: BPF), no leaf-host. This
// process signals itself; the records must say exactly that. Exits 0 when
// every check holds, 77 when not root (unless LEAF_REQUIRE_BPF=1: then 1).
#include "signals.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <leaf/sdk/testing/test_host.hpp>
#include <string>

namespace {

using namespace leaf::sdk;
using leaf::sdk::testing::TestHost;

int failures = 0;
#define EXPECT(cond)                                                          \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                             \
    }                                                                         \
  } while (0)

// Runs the probe with `config`, sends SIGUSR1 and SIGUSR2 to this process
// and returns the records about this process.
std::vector<signal_event> run(const std::string& so, const testing::Overrides& config,
                              HookKind* hook) {
  TestHost host(so, config);
  host.open();
  host.start();
  ProbeInfo info{};
  EXPECT(host.probe()->probe_info(0, &info) == Status::Ok && info.attached == 1);
  *hook = info.hook;
  signal(SIGUSR1, SIG_IGN);
  signal(SIGUSR2, SIG_IGN);
  kill(getpid(), SIGUSR1);
  kill(getpid(), SIGUSR2);
  std::vector<signal_event> mine;
  host.drain([&](const uint8_t* data, uint32_t size) {
    signal_event e;
    if (size != sizeof(e)) return ++failures, void();
    std::memcpy(&e, data, sizeof(e));
    if (e.target_tgid == static_cast<uint32_t>(getpid())) mine.push_back(e);
  });
  EXPECT(host.ring_counts(SIGNALS_EVENT_GENERATE).lost == 0);
  host.stop();
  return mine;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s path/to/leaf_signals.so\n", argv[0]);
    return 2;
  }
  if (geteuid() != 0) {
    const char* require = std::getenv("LEAF_REQUIRE_BPF");
    std::fprintf(stderr, "signals_test needs root (BPF)\n");
    return require && std::string(require) == "1" ? 1 : 77;
  }
  HookKind hook = HookKind::None;
  auto only_usr1 = run(argv[1], {{"signal", "10"}}, &hook);
  EXPECT(hook == HookKind::TpBtf);
  EXPECT(only_usr1.size() == 1);
  if (!only_usr1.empty()) {
    const signal_event& e = only_usr1[0];
    EXPECT(e.signal == SIGUSR1);
    EXPECT(e.tgid == static_cast<uint32_t>(getpid()));
    EXPECT(e.target_pid == static_cast<uint32_t>(getpid()));
    EXPECT(e.uid == 0);
  }
  auto both = run(argv[1], {{"hooks.skip", R"(["tp_btf"])"}}, &hook);
  EXPECT(hook == HookKind::RawTp);
  EXPECT(both.size() == 2);
  if (both.size() == 2) EXPECT(both[0].signal == SIGUSR1 && both[1].signal == SIGUSR2);
  if (failures) return 1;
  std::printf("signals: all checks passed\n");
  return 0;
}
