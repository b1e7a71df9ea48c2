// The SDK's third-party example plugin, built out of tree against the
// installed SDK (ctest fixtures sdk_install -> sdk_example_build), loaded by
// leaf-host and attached to the real kernel. Its events are checked field by
// field against what this test did.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>

#include "harness.hpp"

using namespace leaf::test;

namespace {

int64_t epoch_ns() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

std::string my_comm() {
  std::ifstream f("/proc/self/comm");
  std::string c;
  std::getline(f, c);
  return c;
}

int g_ack_fd = -1;

// A child that names itself, then acknowledges every SIGUSR2 it handles with
// one byte on the returned pipe (so the test never sends while one is pending).
pid_t spawn_target(int* ack) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NAME, "leaf-sig-target");
    close(p[0]);
    g_ack_fd = p[1];
    signal(SIGUSR2, [](int) { (void)!write(g_ack_fd, "a", 1); });
    (void)!write(p[1], "r", 1);
    for (;;) pause();
  }
  close(p[1]);
  char c;
  REQUIRE(read(p[0], &c, 1) == 1);
  *ack = p[0];
  return pid;
}

void signal_and_wait(pid_t target, int ack) {
  REQUIRE(kill(target, SIGUSR2) == 0);
  char c;
  REQUIRE(read(ack, &c, 1) == 1);
}

void check_signal_events(const std::string& signals_toml, const std::string& expect_hook) {
  HostOptions o;
  o.plugins = {LEAF_EXAMPLE_PLUGIN};
  o.config["signals.toml"] = signals_toml;
  LeafHost host(o);
  host.start();
  CHECK(host.stderr_text().find("[signals] probe signal_generate attached via " + expect_hook) !=
        std::string::npos);

  int ack = -1;
  pid_t target = spawn_target(&ack);
  int64_t before = epoch_ns();
  signal_and_wait(target, ack);
  signal_and_wait(target, ack);
  auto events = host.wait_for_count(
      [target](const Json& e) { return e["data"].value("target_pid", 0) == target; }, 2);
  int64_t after = epoch_ns();
  kill(target, SIGKILL);
  waitpid(target, nullptr, 0);
  close(ack);
  CHECK(host.stop() == 0);

  for (const auto& e : events) {
    CHECK(e["type"] == "process");
    CHECK(e["data"]["type"] == "signal_generate");
    CHECK(e["data"]["pid"] == getpid());  // single-threaded: thread id == process id
    CHECK(e["data"]["tgid"] == getpid());
    CHECK(e["data"]["uid"] == getuid());
    CHECK(e["data"]["comm"] == my_comm());
    CHECK(e["data"]["target_pid"] == target);
    CHECK(e["data"]["target_tgid"] == target);
    CHECK(e["data"]["target_comm"] == "leaf-sig-target");
    CHECK(e["data"]["signal"] == SIGUSR2);
    CHECK(e["data"]["result"] == 0);  // TRACE_SIGNAL_DELIVERED
    int64_t ts = e["timestamp"].get<int64_t>();
    // Converted from the kernel's monotonic clock; allow for the offset's rounding.
    CHECK(ts >= before - 1'000'000);
    CHECK(ts <= after + 1'000'000);
  }
  // The plugin's own filter: only SIGUSR2 was configured, so the SIGKILL is absent.
  CHECK(
      host.matching([](const Json& e) { return e["data"].value("signal", 0) == SIGKILL; }).empty());
  CHECK(host.invalid_lines().empty());
  CHECK(host.stderr_text().find("signal_generate: 2 emitted by the kernel, 0 lost in the kernel, 2 "
                                "delivered to sinks") != std::string::npos);
}

}  // namespace

TEST_CASE("the out-of-tree example plugin reports signals through tp_btf") {
  check_signal_events("signal = 12\n", "tp_btf");
}

TEST_CASE("forced fallback: with tp_btf skipped the same probe runs through raw_tp") {
  check_signal_events("signal = 12\n[hooks]\nskip = [\"tp_btf\"]\n", "raw_tp");
}

TEST_CASE("--check names the hook and why others were passed over") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/p");
  std::filesystem::create_symlink(LEAF_EXAMPLE_PLUGIN, dir.path() + "/p/leaf_signals.so");
  dir.write("c/signals.toml", "[hooks]\nskip = [\"tp_btf\"]\n");
  std::string out;
  CHECK(run_command({host_binary(), "--check", "--plugins-dir", dir.path() + "/p", "--config",
                     dir.path() + "/c"},
                    &out) == 0);
  CHECK(out.find("probe signal_generate: attached via raw_tp (tp_btf: skipped by configuration)") !=
        std::string::npos);
}
