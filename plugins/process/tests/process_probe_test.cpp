// leaf_process against the real kernel, through the real leaf-host: real
// processes exec, fork, exit and die, and the test asserts the exact values
// the events must carry (pids, paths, command lines, exit codes, signals,
// CPU time and faults as /proc reported them).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "harness.hpp"
#include "workload.hpp"

using leaf::test::HostOptions;
using leaf::test::Json;
using leaf::test::LeafHost;
using namespace leaf::process::test;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<LeafHost> start_host(const std::string& process_toml) {
  HostOptions o;
  o.plugins = {"process"};
  o.config["process.toml"] = process_toml;
  o.log_level = "debug";
  auto host = std::make_unique<LeafHost>(o);
  host->start();
  return host;
}

// One leaf-host per configuration, started on first use and shared by the
// test cases that need it (each case watches its own processes by pid).
LeafHost& default_host() {
  static auto host = start_host("");
  return *host;
}
LeafHost& wide_host() {
  static auto host = start_host("cmdline_max = 4096\nthread_events = true\n");
  return *host;
}

std::string unique_marker() {
  std::random_device rd;
  return "leaf-marker-" + std::to_string(getpid()) + "-" + std::to_string(rd());
}

std::function<bool(const Json&)> event_of(const std::string& type, pid_t pid) {
  return [type, pid](const Json& e) {
    return e.contains("data") && e["data"].value("type", "") == type &&
           e["data"].value("pid", -1) == pid;
  };
}

std::function<bool(const Json&)> process_exit_of(pid_t pid) {
  return [pid](const Json& e) {
    return e.contains("data") && e["data"].value("type", "") == "process_exit" &&
           e["data"].value("pid", -1) == pid && e["data"].value("is_thread", true) == false;
  };
}

std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

std::string own_comm() {
  std::ifstream in("/proc/self/comm");
  std::string s;
  std::getline(in, s);
  return s;
}

// The cgroup v2 id of this process: the inode of its cgroup directory.
uint64_t own_cgroup_id() {
  std::ifstream in("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  struct stat st {};
  if (stat(("/sys/fs/cgroup" + path).c_str(), &st) != 0) return 0;
  return st.st_ino;
}

bool within_10pct(uint64_t seen, uint64_t expected) {
  uint64_t diff = seen > expected ? seen - expected : expected - seen;
  return diff * 10 <= expected;
}

// A process whose 2 extra threads burn 200 ms each and are still alive when
// it exits, the main thread 200 ms more: its process_exit must sum all three.
// Returns the workload and the event, checked against /proc.
std::pair<Burn, Json> burn_with_live_threads(LeafHost& host) {
  Burn b = run_cpu_burn(/*cpu_ms=*/200, /*pages=*/5000, /*threads=*/2);
  Json d = host.wait_for(process_exit_of(b.pid))["data"];
  INFO("exit event: " << d.dump());
  INFO("/proc stat: utime_ns " << b.before_exit.utime_ns << " stime_ns " << b.before_exit.stime_ns
                               << " min_flt " << b.before_exit.min_flt);
  // 600 ms of CPU in all (user + system: under qemu's TCG a good share is
  // charged as system time, 490 ms user + 260 ms system in one 6.1 guest run).
  CHECK(b.before_exit.utime_ns + b.before_exit.stime_ns >= 500'000'000u);
  CHECK(within_10pct(d["utime_ns"].get<uint64_t>(), b.before_exit.utime_ns));
  CHECK(within_10pct(d["min_flt"].get<uint64_t>(), b.before_exit.min_flt));
  return {b, d};
}

// Checks a process_exec event for `argv` run by this process as `pid`.
void check_exec(const Json& d, pid_t pid, const std::vector<std::string>& argv) {
  CHECK(d["pid"] == pid);
  CHECK(d["tgid"] == pid);
  CHECK(d["old_pid"] == pid);
  CHECK(d["ppid"] == getpid());
  CHECK(d["uid"] == getuid());
  CHECK(d["gid"] == getgid());
  CHECK(d["filename"] == argv[0]);
  CHECK(d["comm"] == argv[0].substr(argv[0].rfind('/') + 1).substr(0, 15));
  uint64_t cg = own_cgroup_id();
  if (cg) CHECK(d["cgroup_id"] == cg);
}

}  // namespace

TEST_CASE("exec of a marker command: one process_exec with its pid, filename, command line") {
  auto& host = default_host();
  const std::vector<std::string> argv = {"/bin/true", unique_marker(), "alpha", "beta gamma", ""};
  int status = -1;
  pid_t pid = run_exec(argv, &status);
  REQUIRE(WIFEXITED(status));
  Json d = host.wait_for(event_of("process_exec", pid))["data"];
  check_exec(d, pid, argv);
  CHECK(d["cmdline"] == joined(argv));
  CHECK(d["cmdline_truncated"] == false);
  // The exec is reported once: count after the process's exit is in.
  host.wait_for(process_exit_of(pid));
  CHECK(host.matching(event_of("process_exec", pid)).size() == 1);
}

TEST_CASE("a command line longer than the default limit (512) is cut to it and flagged") {
  auto& host = default_host();
  const std::vector<std::string> argv = {"/bin/true", unique_marker(), std::string(600, 'x')};
  pid_t pid = run_exec(argv);
  Json d = host.wait_for(event_of("process_exec", pid))["data"];
  check_exec(d, pid, argv);
  CHECK(d["cmdline"] == joined(argv).substr(0, 512));
  CHECK(d["cmdline"].get<std::string>().size() == 512);
  CHECK(d["cmdline_truncated"] == true);
}

TEST_CASE("cmdline_max = 4096: 3000 bytes pass whole, 5000 are cut to 4096") {
  auto& host = wide_host();
  const std::vector<std::string> whole = {"/bin/true", unique_marker(), std::string(3000, 'y')};
  pid_t pid = run_exec(whole);
  Json d = host.wait_for(event_of("process_exec", pid))["data"];
  check_exec(d, pid, whole);
  CHECK(d["cmdline"] == joined(whole));
  CHECK(d["cmdline_truncated"] == false);

  const std::vector<std::string> cut = {"/bin/true", unique_marker(), std::string(5000, 'z')};
  pid = run_exec(cut);
  d = host.wait_for(event_of("process_exec", pid))["data"];
  check_exec(d, pid, cut);
  CHECK(d["cmdline"] == joined(cut).substr(0, 4096));
  CHECK(d["cmdline_truncated"] == true);
}

TEST_CASE("exit code 42 and death by SIGKILL are decoded from the exit status") {
  auto& host = default_host();
  pid_t exited = run_exit(42);
  int status = 0;
  pid_t killed = run_killed(SIGKILL, &status);
  REQUIRE(WIFSIGNALED(status));

  Json d = host.wait_for(process_exit_of(exited))["data"];
  CHECK(d["exit_code"] == 42);
  CHECK(d["signal"] == 0);
  CHECK(d["core_dumped"] == false);
  CHECK(d["tgid"] == exited);
  CHECK(d["ppid"] == getpid());
  CHECK(d["comm"] == own_comm());

  d = host.wait_for(process_exit_of(killed))["data"];
  CHECK(d["exit_code"] == 0);
  CHECK(d["signal"] == SIGKILL);
  CHECK(d["core_dumped"] == false);
  CHECK(d["ppid"] == getpid());
}

TEST_CASE("a CPU burner's utime and page faults match /proc/<pid>/stat just before its exit") {
  auto& host = default_host();
  Burn b = run_cpu_burn(/*cpu_ms=*/400, /*pages=*/20000);
  Json d = host.wait_for(process_exit_of(b.pid))["data"];
  INFO("exit event: " << d.dump());
  INFO("/proc stat: utime_ns " << b.before_exit.utime_ns << " stime_ns " << b.before_exit.stime_ns
                               << " min_flt " << b.before_exit.min_flt << " maj_flt "
                               << b.before_exit.maj_flt);
  // The workload really burned CPU (user + system: under qemu's TCG a good
  // share of a burner's time is charged as system time).
  CHECK(b.before_exit.utime_ns + b.before_exit.stime_ns >= 300'000'000u);
  CHECK(within_10pct(d["utime_ns"].get<uint64_t>(), b.before_exit.utime_ns));
  CHECK(b.before_exit.min_flt >= 20000u);
  CHECK(within_10pct(d["min_flt"].get<uint64_t>(), b.before_exit.min_flt));
  CHECK(within_10pct(d["maj_flt"].get<uint64_t>(), b.before_exit.maj_flt));
  CHECK(d["exit_code"] == 0);
  CHECK(d["signal"] == 0);
  CHECK(d["duration_ns"].get<uint64_t>() >= d["utime_ns"].get<uint64_t>());
}

TEST_CASE("a process whose live threads burned CPU: process_exit sums every thread") {
  auto& host = default_host();
  // 2 extra threads burn 200 ms each and are still alive when the process
  // exits; the main thread burns 200 ms more.
  auto [b, d] = burn_with_live_threads(host);
  CHECK(d["is_thread"] == false);
  CHECK(d["pid"] == b.pid);
}

TEST_CASE("a parent forking 5 children and a thread: 5 process forks, no thread event by default") {
  auto& host = default_host();
  Family f = run_family(5, /*with_thread=*/true);
  REQUIRE(f.thread > 0);
  host.wait_for(process_exit_of(f.parent));
  auto forks = host.matching([&](const Json& e) {
    return e["data"].value("type", "") == "process_fork" &&
           e["data"].value("parent_tgid", -1) == f.parent;
  });
  CHECK(forks.size() == 5);
  std::set<pid_t> seen;
  for (const auto& e : forks) {
    const Json& d = e["data"];
    CHECK(d["is_thread"] == false);
    CHECK(d["tgid"] == d["pid"]);
    CHECK(d["ppid"] == f.parent);
    seen.insert(d["pid"].get<pid_t>());
  }
  CHECK(seen == std::set<pid_t>(f.children.begin(), f.children.end()));
  // Nothing about the thread: neither its creation nor its exit.
  CHECK(
      host.matching([&](const Json& e) { return e["data"].value("pid", -1) == f.thread; }).empty());
  CHECK(host.matching(process_exit_of(f.parent)).size() == 1);
  // P itself was forked by this process.
  Json p = host.wait_for(event_of("process_fork", f.parent))["data"];
  CHECK(p["ppid"] == getpid());
  CHECK(p["parent_tgid"] == getpid());
}

TEST_CASE("thread_events = true: the thread's creation and exit are reported as threads") {
  auto& host = wide_host();
  Family f = run_family(5, /*with_thread=*/true);
  REQUIRE(f.thread > 0);
  host.wait_for(process_exit_of(f.parent));
  auto forks = host.matching([&](const Json& e) {
    return e["data"].value("type", "") == "process_fork" &&
           e["data"].value("parent_tgid", -1) == f.parent;
  });
  CHECK(forks.size() == 6);
  int threads = 0;
  for (const auto& e : forks) {
    const Json& d = e["data"];
    if (d["is_thread"] == true) {
      ++threads;
      CHECK(d["pid"] == f.thread);
      CHECK(d["tgid"] == f.parent);
      CHECK(d["ppid"] == f.parent);
    } else {
      CHECK(std::count(f.children.begin(), f.children.end(), d["pid"].get<pid_t>()) == 1);
    }
  }
  CHECK(threads == 1);
  Json t = host.wait_for(event_of("process_exit", f.thread))["data"];
  CHECK(t["is_thread"] == true);
  CHECK(t["tgid"] == f.parent);
  CHECK(host.matching(process_exit_of(f.parent)).size() == 1);
}

// With thread_events, process_exit has both paths live (on kernels before
// 6.16, without the tracepoint's group_dead, decided at run time): the
// process's figures must still be whole and each thread reported once.
TEST_CASE("thread_events = true: thread exits each once, the process's exit sums every thread") {
  auto& host = wide_host();
  Threaded t = run_threaded(3, 7);
  Json d = host.wait_for(process_exit_of(t.pid))["data"];
  CHECK(d["exit_code"] == 7);
  CHECK(d["tgid"] == t.pid);
  for (pid_t tid : t.threads) {
    CAPTURE(tid);
    Json e = host.wait_for(event_of("process_exit", tid))["data"];
    CHECK(e["is_thread"] == true);
    CHECK(e["tgid"] == t.pid);
    CHECK(host.matching(event_of("process_exit", tid)).size() == 1);
  }
  CHECK(host.matching(process_exit_of(t.pid)).size() == 1);

  // 2 extra threads burn 200 ms each and are alive when the process exits
  // (exit_group() ends them): the process's utime covers all three.
  Burn b = burn_with_live_threads(host).first;
  CHECK(host.matching(process_exit_of(b.pid)).size() == 1);
}

TEST_CASE("a multi-threaded process: one process_exit, at the end, with its exit code") {
  auto& host = default_host();
  Threaded t = run_threaded(3, 5);
  Json d = host.wait_for(process_exit_of(t.pid))["data"];
  CHECK(d["exit_code"] == 5);
  CHECK(d["tgid"] == t.pid);
  CHECK(host.matching(process_exit_of(t.pid)).size() == 1);
  for (pid_t tid : t.threads)
    CHECK(host.matching([&](const Json& e) { return e["data"].value("pid", -1) == tid; }).empty());
}

TEST_CASE("a process that execs and exits within a millisecond is reported complete") {
  auto& host = default_host();
  const std::vector<std::string> argv = {"/bin/true", unique_marker()};
  pid_t pid = run_exec(argv);
  Json exit_event = host.wait_for(process_exit_of(pid));
  auto all = host.events();
  auto index_of = [&](const std::function<bool(const Json&)>& m) {
    for (size_t i = 0; i < all.size(); ++i)
      if (m(all[i])) return static_cast<long>(i);
    return -1L;
  };
  long fork_at = index_of(event_of("process_fork", pid));
  long exec_at = index_of(event_of("process_exec", pid));
  long exit_at = index_of(process_exit_of(pid));
  REQUIRE(fork_at >= 0);
  REQUIRE(exec_at >= 0);
  CHECK(fork_at < exec_at);
  CHECK(exec_at < exit_at);
  check_exec(all[exec_at]["data"], pid, argv);
  CHECK(all[exec_at]["data"]["cmdline"] == joined(argv));
  const Json& d = exit_event["data"];
  CHECK(d["comm"] == "true");
  CHECK(d["exit_code"] == 0);
  CHECK(d["exec_count"] == 1);
  CHECK(d["duration_ns"].get<uint64_t>() > 0);
  CHECK(exit_event["type"] == "process");
}

TEST_CASE("fallback hooks: raw_tp and the classic tracepoint give the same events") {
  for (const char* skip : {"[\"tp_btf\"]", "[\"tp_btf\", \"raw_tp\"]"}) {
    const bool classic = std::string(skip).find("raw_tp") != std::string::npos;
    CAPTURE(skip);
    auto host = start_host(std::string("thread_events = true\n[hooks]\nskip = ") + skip + "\n");
    for (const char* probe : {"process_exec", "process_fork", "process_exit"})
      CHECK(host->stderr_text().find(std::string("probe ") + probe + " uses " +
                                     (classic ? "tracepoint" : "raw_tp")) != std::string::npos);

    const std::vector<std::string> argv = {"/bin/true", unique_marker(), "fallback"};
    pid_t pid = run_exec(argv);
    Json d = host->wait_for(event_of("process_exec", pid))["data"];
    check_exec(d, pid, argv);
    CHECK(d["cmdline"] == joined(argv));

    pid_t exited = run_exit(42);
    d = host->wait_for(process_exit_of(exited))["data"];
    CHECK(d["exit_code"] == 42);
    CHECK(d["signal"] == 0);

    Family f = run_family(3, /*with_thread=*/true);
    host->wait_for(process_exit_of(f.parent));
    auto forks = host->matching([&](const Json& e) {
      return e["data"].value("type", "") == "process_fork" &&
             e["data"].value("parent_tgid", -1) == f.parent;
    });
    CHECK(forks.size() == 4);
    Json t = host->wait_for(event_of("process_fork", f.thread))["data"];
    CHECK(t["is_thread"] == true);
    CHECK(t["tgid"] == f.parent);
    CHECK(host->stop() == 0);
  }
}
