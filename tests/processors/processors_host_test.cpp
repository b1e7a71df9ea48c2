// The built-in processors in the real leaf-host, with leaf_process and
// leaf_network, against processes the test runs in cgroups named as docker,
// containerd (Kubernetes) and cgroupfs-docker name theirs:
//   - every event of those processes carries exactly the container's
//     identity, also for a process that exits at once; host processes carry
//     none of it (fields omitted, not empty); metadata and hostname from
//     leaf.toml are on every event;
//   - secrets in command lines never reach the sink;
//   - each filter drops exactly what it names;
//   - SIGHUP with changed filters and redaction rules takes effect, a broken
//     file is refused and the running rules stay.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "harness.hpp"
#include "test_cgroups.hpp"
#include "workload.hpp"

namespace {

using leaf::test::AliasDir;
using leaf::test::event_of;
using leaf::test::exec_by_comm;
using leaf::test::free_loopback_port;
using leaf::test::HostOptions;
using leaf::test::http_get_raw;
using leaf::test::Json;
using leaf::test::LeafHost;
using leaf::test::metric_series;
using leaf::test::spawn_in;
using leaf::test::TempDir;
using leaf::test::TestCgroup;
using leaf::test::wait_for_exit;
using namespace std::chrono_literals;

const std::string kIdA = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const std::string kIdB = "b0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405162738495a6b7c8d9eaf";
const std::string kIdC = "c9d8e7f60514233241506f7e8d9cabbac9d8e7f60514233241506f7e8d9cabba";
const std::string kPod = "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";

std::string base() { return "/leaf-proctest-" + std::to_string(::getpid()); }

// The three container-like cgroups, removed when the test ends.
struct Containers {
  TestCgroup a{base() + "/system.slice/docker-" + kIdA + ".scope"};
  TestCgroup b{base() + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
               std::string("7e1f2a3b_4c5d_4e6f_8a9b_0c1d2e3f4a5b") + ".slice/cri-containerd-" +
               kIdB + ".scope"};
  TestCgroup c{base() + "/docker/" + kIdC};
};

// A loopback TCP listener that accepts and closes, so that connections end.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) break;
        ::close(c);
      }
    });
  }
  ~Listener() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string port() const { return std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

const char* const kLeafToml =
    "hostname = \"leaf-test-host\"\nmetadata = [\"env=test\", \"zone=a\"]\n";

HostOptions options(const std::string& filter_toml = "", const std::string& redact_toml = "") {
  HostOptions o;
  o.plugins = {"process", "network"};
  o.config["leaf.toml"] = kLeafToml;
  o.config["filter.toml"] = filter_toml;
  o.config["redact.toml"] = redact_toml;
  return o;
}

// The cgroup path of this process in the v2 hierarchy.
std::string own_cgroup_path() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

void check_container(const Json& e, const TestCgroup& cg, const std::string& id,
                     const std::string& runtime, const std::string& pod) {
  INFO(e.dump());
  const Json& d = e["data"];
  CHECK(e["hostname"] == "leaf-test-host");
  CHECK(d["metadata"] == Json{{"env", "test"}, {"zone", "a"}});
  CHECK(d.value("cgroup_id", 0ull) == cg.id());
  CHECK(d.value("cgroup_path", "") == cg.path());
  CHECK(d.value("container_id", "") == id.substr(0, 12));
  CHECK(d.value("container_full_id", "") == id);
  CHECK(d.value("container_runtime", "") == runtime);
  if (pod.empty())
    CHECK_FALSE(d.contains("pod_uid"));
  else
    CHECK(d.value("pod_uid", "") == pod);
}

void check_host(const Json& e) {
  INFO(e.dump());
  const Json& d = e["data"];
  CHECK(d.value("cgroup_path", "") == own_cgroup_path());
  for (const char* k : {"container_id", "container_full_id", "container_runtime", "pod_uid"})
    CHECK_FALSE(d.contains(k));
  CHECK(d["metadata"] == Json{{"env", "test"}, {"zone", "a"}});
}

TEST_CASE("events of processes in container cgroups carry the container's identity") {
  Containers cgs;
  Listener listener;
  LeafHost host(options());
  host.start();

  struct Run {
    const TestCgroup* cg;
    std::string id, runtime, pod;
    pid_t connector = 0, quick = 0;
  };
  std::vector<Run> runs = {{&cgs.a, kIdA, "docker", ""},
                           {&cgs.b, kIdB, "containerd", kPod},
                           {&cgs.c, kIdC, "docker", ""}};
  int n = 0;
  for (auto& r : runs) {
    std::string secret = "hunter2-" + std::to_string(++n);
    r.connector = spawn_in(r.cg, {LEAF_TEST_CONNECTOR, listener.port(), "--password", secret,
                                  "https://bob:" + secret + "@example.com/"});
    REQUIRE(wait_for_exit(r.connector) == 0);
    r.quick = spawn_in(r.cg, {"/bin/true"});  // exits within a millisecond
    REQUIRE(wait_for_exit(r.quick) == 0);
  }
  pid_t on_host = spawn_in(nullptr, {LEAF_TEST_CONNECTOR, listener.port()});
  REQUIRE(wait_for_exit(on_host) == 0);

  n = 0;
  for (auto& r : runs) {
    std::string secret = "hunter2-" + std::to_string(++n);
    Json exec = host.wait_for(event_of("process_exec", r.connector));
    check_container(exec, *r.cg, r.id, r.runtime, r.pod);
    CHECK(exec["data"]["cmdline"] == std::string(LEAF_TEST_CONNECTOR) + " " + listener.port() +
                                         " --password **** https://bob:****@example.com/");
    check_container(host.wait_for(event_of("tcp_connect", r.connector)), *r.cg, r.id, r.runtime,
                    r.pod);
    check_container(host.wait_for(event_of("tcp_close", r.connector)), *r.cg, r.id, r.runtime,
                    r.pod);
    check_container(host.wait_for(event_of("process_exit", r.connector)), *r.cg, r.id, r.runtime,
                    r.pod);
    check_container(host.wait_for(event_of("process_exec", r.quick)), *r.cg, r.id, r.runtime,
                    r.pod);
    check_container(host.wait_for(event_of("process_exit", r.quick)), *r.cg, r.id, r.runtime,
                    r.pod);
  }
  check_host(host.wait_for(event_of("process_exec", on_host)));
  check_host(host.wait_for(event_of("tcp_connect", on_host)));
  check_host(host.wait_for(event_of("process_exit", on_host)));

  REQUIRE(host.stop() == 0);
  // No secret anywhere in what the sink received, in any field.
  for (const auto& e : host.events()) CHECK(e.dump().find("hunter2") == std::string::npos);
  CHECK(host.invalid_lines().empty());
}

// Programs whose comm is their name: symlinks to /bin/true.
struct Programs : AliasDir {
  Programs()
      : AliasDir("/bin/true",
                 {"leaf_keep_me", "leaf_drop_me", "leafpfx_one", "leaf_uid_run", "leaf_sentinel"}) {
  }
};

void run(const TestCgroup* cg, const std::string& program, uid_t uid = 0) {
  REQUIRE(wait_for_exit(spawn_in(cg, {program}, uid)) == 0);
}

// Runs the sentinel in `cg` and waits for its exec: every event of what ran
// before has been through the pipeline (one ring buffer, in order).
void sync_with(LeafHost& host, const Programs& p, const TestCgroup* cg) {
  pid_t pid = spawn_in(cg, {p.path("leaf_sentinel")});
  REQUIRE(wait_for_exit(pid) == 0);
  host.wait_for(event_of("process_exit", pid));
}

size_t count(const LeafHost& host, const std::function<bool(const Json&)>& m) {
  return host.matching(m).size();
}

TEST_CASE("each filter drops exactly what it names") {
  Programs p;
  HostOptions o = options(
      "drop_types = [\"process_fork\"]\ndrop_uids = [4242]\ndrop_comms = [\"leaf_drop_me\"]\n"
      "drop_comm_prefixes = [\"leafpfx\"]\n");
  const int metrics_port = free_loopback_port();
  o.config["leaf.toml"] = std::string(kLeafToml) +
                          "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(metrics_port) +
                          "\"\n";
  LeafHost host(o);
  host.start();
  run(nullptr, p.path("leaf_drop_me"));
  run(nullptr, p.path("leafpfx_one"));
  run(nullptr, p.path("leaf_uid_run"), 4242);
  run(nullptr, p.path("leaf_keep_me"));
  sync_with(host, p, nullptr);

  CHECK(count(host, exec_by_comm("leaf_keep_me")) == 1);
  CHECK(count(host, exec_by_comm("leaf_drop_me")) == 0);
  CHECK(count(host, exec_by_comm("leafpfx_one")) == 0);
  CHECK(count(host, exec_by_comm("leaf_uid_run")) == 0);
  // process_exit has no uid: the uid rule cannot judge it and keeps it.
  CHECK(count(host, [](const Json& e) {
          return e["data"].value("type", "") == "process_exit" &&
                 e["data"].value("comm", "") == "leaf_uid_run";
        }) == 1);
  CHECK(count(host, [](const Json& e) {
          return e["data"].value("type", "") == "process_exit" &&
                 e["data"].value("comm", "") == "leaf_drop_me";
        }) == 0);
  CHECK(count(host, leaf::test::event_type("process_fork")) == 0);
  CHECK(count(host, leaf::test::event_type("process_exit")) > 0);

  // Counted per rule by the filter: exec and exit of leaf_drop_me (comm) and
  // of leafpfx_one (prefix), the exec of the uid 4242 run (uid).
  std::string metrics = http_get_raw(metrics_port, "/metrics");
  INFO(metrics);
  CHECK(metrics.find("leaf_filter_dropped_total{plugin=\"filter\",rule=\"comm\"} 2\n") !=
        std::string::npos);
  CHECK(metrics.find("leaf_filter_dropped_total{plugin=\"filter\",rule=\"comm_prefix\"} 2\n") !=
        std::string::npos);
  CHECK(metrics.find("leaf_filter_dropped_total{plugin=\"filter\",rule=\"uid\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.find("leaf_filter_dropped_total{plugin=\"filter\",rule=\"container\"} 0\n") !=
        std::string::npos);
  REQUIRE(host.stop() == 0);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST_CASE("container filters, and SIGHUP: new rules apply, broken files are refused") {
  Containers cgs;
  Programs p;
  LeafHost host(options("containers = \"only\"\n"));
  host.start();
  const std::string filter = host.config_dir() + "/filter.toml";

  run(&cgs.a, p.path("leaf_keep_me"));
  run(nullptr, p.path("leaf_drop_me"));
  sync_with(host, p, &cgs.a);
  CHECK(count(host, exec_by_comm("leaf_keep_me")) == 1);
  CHECK(count(host, exec_by_comm("leaf_drop_me")) == 0);  // a host process

  // Only container A, by its short id.
  write_file(filter, "container_ids = [\"" + kIdA.substr(0, 12) + "\"]\n");
  host.sighup_and_wait("SIGHUP: plugin filter applied its new configuration");
  run(&cgs.a, p.path("leafpfx_one"));
  run(&cgs.c, p.path("leaf_drop_me"));
  run(nullptr, p.path("leaf_drop_me"));
  sync_with(host, p, &cgs.a);
  CHECK(count(host, exec_by_comm("leafpfx_one")) == 1);
  CHECK(count(host, exec_by_comm("leaf_drop_me")) == 0);

  // A value the filter refuses, then a file that does not parse: both
  // refused, container A's rule stays.
  write_file(filter, "container_ids = [\"not-a-container\"]\n");
  host.sighup_and_wait("SIGHUP: plugin filter refused its new configuration");
  CHECK(host.stderr_text().find("'not-a-container' is not a container id") != std::string::npos);
  write_file(filter, "container_ids = [\"" + kIdC + "\"\n");
  host.sighup_and_wait("SIGHUP: configuration refused");
  run(&cgs.c, p.path("leaf_drop_me"));
  run(&cgs.a, p.path("leaf_uid_run"));
  sync_with(host, p, &cgs.a);
  CHECK(count(host, exec_by_comm("leaf_drop_me")) == 0);
  CHECK(count(host, exec_by_comm("leaf_uid_run")) == 1);

  // Back to no filter, and a redaction rule of our own.
  write_file(filter, "");
  write_file(host.config_dir() + "/redact.toml", "rules = ['(?:^|\\s)--pin[= ](\\S+)']\n");
  host.sighup_and_wait("SIGHUP: plugin redact applied its new configuration");
  pid_t pid = spawn_in(&cgs.c, {LEAF_TEST_CONNECTOR, "1", "--pin", "97531", "--token=abc"});
  wait_for_exit(pid);
  Json exec = host.wait_for(event_of("process_exec", pid));
  CHECK(exec["data"]["cmdline"] == std::string(LEAF_TEST_CONNECTOR) + " 1 --pin **** --token=****");
  check_container(exec, cgs.c, kIdC, "docker", "");

  // A rule that does not compile: refused, the running rules stay.
  write_file(host.config_dir() + "/redact.toml", "rules = ['--pin (\\S+']\n");
  host.sighup_and_wait("SIGHUP: plugin redact refused its new configuration");
  pid = spawn_in(nullptr, {LEAF_TEST_CONNECTOR, "1", "--pin", "86420"});
  wait_for_exit(pid);
  CHECK(host.wait_for(event_of("process_exec", pid))["data"]["cmdline"] ==
        std::string(LEAF_TEST_CONNECTOR) + " 1 --pin ****");

  REQUIRE(host.stop() == 0);
  for (const auto& e : host.events()) {
    CHECK(e.dump().find("97531") == std::string::npos);
    CHECK(e.dump().find("86420") == std::string::npos);
  }
}

}  // namespace

namespace {

// The process plugin's own [filter] keys: applied in the BPF programs before
// the ring buffer, counted there, updated in the kernel on SIGHUP.
TEST_CASE("in-kernel filter of the process plugin: dropped before the ring buffer, reloaded") {
  Programs p;
  HostOptions o = options();
  const int metrics_port = free_loopback_port();
  o.config["leaf.toml"] = std::string(kLeafToml) +
                          "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(metrics_port) +
                          "\"\n";
  o.config["process.toml"] = "[filter]\ndrop_uids = [4242]\ndrop_comms = [\"leaf_drop_me\"]\n";
  LeafHost host(o);
  host.start();
  auto with_comm = [](const std::string& comm) {
    return [comm](const Json& e) { return e["data"].value("comm", "") == comm; };
  };

  run(nullptr, p.path("leaf_drop_me"));
  run(nullptr, p.path("leaf_uid_run"), 4242);
  run(nullptr, p.path("leaf_keep_me"));
  sync_with(host, p, nullptr);
  CHECK(count(host, exec_by_comm("leaf_keep_me")) == 1);
  CHECK(count(host, with_comm("leaf_drop_me")) == 0);  // exec and exit
  CHECK(count(host, with_comm("leaf_uid_run")) == 0);  // exec and exit (uid 4242 by then)
  {
    std::string metrics = http_get_raw(metrics_port, "/metrics");
    INFO(metrics);
    CHECK(metrics.find("leaf_process_events_filtered_in_kernel_total{plugin=\"process\"} 4\n") !=
          std::string::npos);
    // Nothing reached the core's filter.
    CHECK(metrics.find("leaf_filter_dropped_total{plugin=\"filter\",rule=\"comm\"} 0\n") !=
          std::string::npos);
  }

  const std::string process_toml = host.config_dir() + "/process.toml";
  write_file(process_toml, "[filter]\ndrop_comms = [\"leafpfx_one\"]\n");
  host.sighup_and_wait("SIGHUP: plugin process applied its new configuration");
  run(nullptr, p.path("leaf_drop_me"));
  run(nullptr, p.path("leafpfx_one"));
  run(nullptr, p.path("leaf_uid_run"), 4242);
  sync_with(host, p, nullptr);
  CHECK(count(host, exec_by_comm("leaf_drop_me")) == 1);
  CHECK(count(host, exec_by_comm("leaf_uid_run")) == 1);
  CHECK(count(host, with_comm("leafpfx_one")) == 0);

  write_file(process_toml, "[filter]\ndrop_comms = [\"a_comm_far_too_long\"]\n");
  host.sighup_and_wait("SIGHUP: plugin process refused its new configuration");
  run(nullptr, p.path("leafpfx_one"));
  sync_with(host, p, nullptr);
  CHECK(count(host, with_comm("leafpfx_one")) == 0);
  CHECK(http_get_raw(metrics_port, "/metrics")
            .find("leaf_process_events_filtered_in_kernel_total{plugin=\"process\"} 8\n") !=
        std::string::npos);
  REQUIRE(host.stop() == 0);
}

}  // namespace

namespace {

// The network plugin's [filter]: events of connections whose owner is listed
// never reach the ring buffer; counted there; SIGHUP updates the lists.
TEST_CASE("in-kernel filter of the network plugin: by the connection owner's comm") {
  Listener listener;
  TempDir dir;
  const std::string keep = dir.path() + "/leaf_net_keep";
  std::filesystem::create_symlink(LEAF_TEST_CONNECTOR, keep);
  HostOptions o = options();
  const int metrics_port = free_loopback_port();
  o.config["leaf.toml"] = std::string(kLeafToml) +
                          "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(metrics_port) +
                          "\"\n";
  o.config["network.toml"] = "[filter]\ndrop_comms = [\"leaf_test_conne\"]\n";
  LeafHost host(o);
  host.start();
  const std::string series = "leaf_network_events_filtered_in_kernel_total{plugin=\"network\"}";

  pid_t dropped = spawn_in(nullptr, {LEAF_TEST_CONNECTOR, listener.port()});
  REQUIRE(wait_for_exit(dropped) == 0);
  pid_t kept = spawn_in(nullptr, {keep, listener.port()});
  REQUIRE(wait_for_exit(kept) == 0);
  host.wait_for(event_of("tcp_close", kept));
  // Its tcp_connect and tcp_close, once the close has happened.
  double filtered = -1;
  for (int i = 0;
       i < 100 && (filtered = metric_series(http_get_raw(metrics_port, "/metrics"), series)) < 2;
       ++i)
    std::this_thread::sleep_for(50ms);
  CHECK(filtered == 2);
  CHECK(count(host, [&](const Json& e) {
          return e["data"].value("type", "").rfind("tcp_", 0) == 0 &&
                 e["data"].value("pid", -1) == dropped;
        }) == 0);
  CHECK(host.wait_for(event_of("tcp_connect", kept))["data"]["comm"] == "leaf_net_keep");

  write_file(host.config_dir() + "/network.toml", "[filter]\ndrop_comms = []\n");
  host.sighup_and_wait("SIGHUP: plugin network applied its new configuration");
  pid_t now_kept = spawn_in(nullptr, {LEAF_TEST_CONNECTOR, listener.port()});
  REQUIRE(wait_for_exit(now_kept) == 0);
  CHECK(host.wait_for(event_of("tcp_connect", now_kept))["data"]["comm"] == "leaf_test_conne");
  CHECK(metric_series(http_get_raw(metrics_port, "/metrics"), series) == 2);
  REQUIRE(host.stop() == 0);
}

}  // namespace
