// Least privilege (issue 15, item 4), with the real leaf-host, leaf_process
// and leaf_network on this kernel: once every plugin has loaded and attached,
// every thread of the daemon holds exactly the capabilities it keeps
// (/proc/<pid>/task/<tid>/status: CapInh, CapPrm, CapEff, CapBnd, CapAmb),
// and still events flow, /metrics answers and a SIGHUP filter change reaches
// the kernel (the process plugin's in-kernel [filter] drop_comms). Also:
// keep_capabilities = "none", the switch to another user, --check's
// per-plugin needs, and a start with nothing but the start set (as the
// systemd unit and the DaemonSet grant it).
#include <dirent.h>
#include <doctest/doctest.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include "harness.hpp"
#include "workload.hpp"

using namespace leaf::test;

namespace {

// The programs the test runs are this binary under other names (their comm):
// started as leafcap_*, it exits at once. (Not /bin/true: in the
// kernel-matrix guests that is busybox, which wants its applet name.)
const bool kHelper = [] {
  if (std::string_view(program_invocation_short_name).rfind("leafcap_", 0) == 0) ::_exit(0);
  return false;
}();

struct Programs : AliasDir {
  Programs() : AliasDir(self_binary(), {"leafcap_keep", "leafcap_drop", "leafcap_sync"}) {}
};

// Runs the sentinel and waits for its exit: what ran before has been through.
void sync_with(LeafHost& host, const Programs& p) {
  host.wait_for(event_of("process_exit", run_to_exit(p.path("leafcap_sync"))));
}

uint64_t bit(int cap) { return uint64_t{1} << cap; }

struct Kernel {
  int major = 0, minor = 0, unpriv_bpf = 0;
  Kernel() {
    utsname u{};
    ::uname(&u);
    std::sscanf(u.release, "%d.%d", &major, &minor);
    std::ifstream("/proc/sys/kernel/unprivileged_bpf_disabled") >> unpriv_bpf;
  }
  bool before(int ma, int mi) const { return major < ma || (major == ma && minor < mi); }
  // Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK: CAP_SYS_RESOURCE at
  // start, unless the limit is already unlimited.
  bool memlock_cap() const {
    rlimit r{};
    ::getrlimit(RLIMIT_MEMLOCK, &r);
    return before(5, 11) && r.rlim_cur != RLIM_INFINITY;
  }
  // Kernels before 6.1 (5.10 in the matrix) refuse every bpf() call without CAP_BPF while
  // kernel.unprivileged_bpf_disabled is set: CAP_BPF stays effective there.
  bool bpf_at_runtime() const { return before(6, 1) && unpriv_bpf != 0; }
};

// The five sets of one thread, as /proc prints them.
std::map<std::string, uint64_t> caps_of(const std::string& status_path) {
  std::map<std::string, uint64_t> out;
  std::ifstream in(status_path);
  for (std::string line; std::getline(in, line);)
    for (const char* k : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
      if (line.rfind(std::string(k) + ":", 0) == 0)
        out[k] = std::stoull(line.substr(7), nullptr, 16);
  return out;
}

std::string status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 1);
  return {};
}

// Every thread of `pid` holds exactly these sets.
void check_every_thread(pid_t pid, uint64_t prm, uint64_t eff, uint64_t bnd) {
  std::string task = "/proc/" + std::to_string(pid) + "/task";
  int threads = 0;
  for (const auto& e : std::filesystem::directory_iterator(task)) {
    auto c = caps_of(e.path().string() + "/status");
    INFO("thread " << e.path().filename().string());
    CHECK(c["CapInh"] == 0);
    CHECK(c["CapPrm"] == prm);
    CHECK(c["CapEff"] == eff);
    CHECK(c["CapBnd"] == bnd);
    CHECK(c["CapAmb"] == 0);
    ++threads;
  }
  CHECK(threads >= 1);
  // And the process-level view the brief names.
  auto c = caps_of("/proc/" + std::to_string(pid) + "/status");
  CHECK(c["CapPrm"] == prm);
  CHECK(c["CapEff"] == eff);
  CHECK(c["CapBnd"] == bnd);
  CHECK(c["CapAmb"] == 0);
}

HostOptions options(int metrics_port, const std::string& security = "") {
  HostOptions o;
  o.plugins = {"process", "network"};
  o.config["leaf.toml"] = "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(metrics_port) +
                          "\"\n" + (security.empty() ? "" : "[security]\n" + security);
  o.config["process.toml"] = "[filter]\ndrop_comms = [\"leafcap_drop\"]\n";
  return o;
}

const std::string kFiltered = "leaf_process_events_filtered_in_kernel_total{plugin=\"process\"} ";

// Events flow, /metrics answers, and a SIGHUP filter change reaches the kernel.
void prove_it_works(LeafHost& host, const Programs& p, int port) {
  run_to_exit(p.path("leafcap_keep"));
  run_to_exit(p.path("leafcap_drop"));
  sync_with(host, p);
  CHECK(host.matching(exec_by_comm("leafcap_keep")).size() == 1);
  CHECK(host.matching(exec_by_comm("leafcap_drop")).empty());
  std::string metrics = http_get_raw(port, "/metrics");
  INFO(metrics);
  CHECK(metrics.rfind("HTTP/1.0 200", 0) == 0);
  CHECK(metrics.find(kFiltered + "2\n") != std::string::npos);  // exec and exit of leafcap_drop
  CHECK(http_get_raw(port, "/healthz").rfind("HTTP/1.0 200", 0) == 0);

  // The filter now drops leafcap_keep and lets leafcap_drop through.
  std::ofstream(host.config_dir() + "/process.toml")
      << "[filter]\ndrop_comms = [\"leafcap_keep\"]\n";
  host.sighup_and_wait("SIGHUP: plugin process applied its new configuration");
  run_to_exit(p.path("leafcap_keep"));
  run_to_exit(p.path("leafcap_drop"));
  sync_with(host, p);
  CHECK(host.matching(exec_by_comm("leafcap_keep")).size() == 1);  // the first one only
  CHECK(host.matching(exec_by_comm("leafcap_drop")).size() == 1);
  metrics = http_get_raw(port, "/metrics");
  CHECK(metrics.find(kFiltered + "4\n") != std::string::npos);
}

}  // namespace

TEST_CASE(
    "keep_capabilities = reload (default): exactly what loading and running need; it all works") {
  Kernel k;
  Programs p;
  int port = free_loopback_port();
  LeafHost host(options(port));
  host.start();
  // Permitted and bounding: what loading a plugin needs (CAP_BPF, CAP_PERFMON)
  // and what runs (the enrich processor's open_by_handle_at).
  uint64_t prm = bit(CAP_BPF) | bit(CAP_PERFMON) | bit(CAP_DAC_READ_SEARCH);
  uint64_t eff = bit(CAP_DAC_READ_SEARCH) | (k.bpf_at_runtime() ? bit(CAP_BPF) : 0);
  check_every_thread(host.pid(), prm, eff, prm);
  CHECK(
      host.stderr_text().find(
          "capabilities: kept permitted {CAP_DAC_READ_SEARCH, CAP_PERFMON, CAP_BPF}, effective {" +
          std::string(k.bpf_at_runtime() ? "CAP_DAC_READ_SEARCH, CAP_BPF" : "CAP_DAC_READ_SEARCH") +
          "} (security.keep_capabilities = \"reload\")") != std::string::npos);
  prove_it_works(host, p, port);
  // A probe enabled again at SIGHUP loads and attaches with what "reload"
  // keeps in permitted (made effective for that load only).
  std::ofstream(host.config_dir() + "/network.toml") << "enabled = false\n";
  host.sighup_and_wait("SIGHUP: plugin network stopped (enabled = false)");
  std::ofstream(host.config_dir() + "/network.toml") << "enabled = true\n";
  host.sighup_and_wait("SIGHUP: plugin network started (enabled = true)");
  check_every_thread(host.pid(), prm, eff, prm);  // a reload raised nothing for good
  REQUIRE(host.stop() == 0);
}

TEST_CASE("keep_capabilities = none: nothing at all, and it still works") {
  Kernel k;
  Programs p;
  int port = free_loopback_port();
  LeafHost host(options(port, "keep_capabilities = \"none\"\n"));
  host.start();
  check_every_thread(host.pid(), 0, 0, 0);
  if (!k.bpf_at_runtime()) {
    prove_it_works(host, p, port);
  } else {
    // Before 6.1 with unprivileged_bpf_disabled, every bpf() call needs
    // CAP_BPF: events still flow (ring buffers are memory), but the filter
    // update at SIGHUP is refused. This is why "reload" and "runtime" keep
    // CAP_BPF effective on these kernels.
    run_to_exit(p.path("leafcap_keep"));
    sync_with(host, p);
    CHECK(host.matching(exec_by_comm("leafcap_keep")).size() == 1);
    std::ofstream(host.config_dir() + "/process.toml")
        << "[filter]\ndrop_comms = [\"leafcap_keep\"]\n";
    host.sighup_and_wait("SIGHUP: plugin process refused its new configuration");
    CHECK(host.stderr_text().find("Operation not permitted") != std::string::npos);
  }
  REQUIRE(host.stop() == 0);
}

TEST_CASE(
    "user switch: security.user and group, the daemon runs as nobody:nogroup with the kept set") {
  Kernel k;
  Programs p;
  int port = free_loopback_port();
  LeafHost host(options(port, "user = \"nobody\"\ngroup = \"nogroup\"\n"));
  host.start();
  CHECK(status_field(host.pid(), "Uid") == "\t65534\t65534\t65534\t65534");
  CHECK(status_field(host.pid(), "Gid") == "\t65534\t65534\t65534\t65534");
  CHECK(status_field(host.pid(), "Groups") == "\t65534 ");
  uint64_t prm = bit(CAP_BPF) | bit(CAP_PERFMON) | bit(CAP_DAC_READ_SEARCH);
  uint64_t eff = bit(CAP_DAC_READ_SEARCH) | (k.bpf_at_runtime() ? bit(CAP_BPF) : 0);
  check_every_thread(host.pid(), prm, eff, prm);
  prove_it_works(host, p, port);
  REQUIRE(host.stop() == 0);
}

TEST_CASE("check: --check prints the capabilities this host and configuration need, per plugin") {
  Kernel k;
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/conf.d");
  std::filesystem::create_directories(dir.path() + "/plugins");
  // bpf_stats (off by default) asked for: its CAP_SYS_ADMIN is listed.
  dir.write("conf.d/leaf.toml",
            "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(free_loopback_port()) +
                "\"\nbpf_stats = true\n");
  for (const char* name : {"process", "network"})
    std::filesystem::create_symlink(built_plugin(name),
                                    dir.path() + "/plugins/leaf_" + std::string(name) + ".so");
  std::string out;
  REQUIRE(run_command({host_binary(), "--config", dir.path() + "/conf.d", "--plugins-dir",
                       dir.path() + "/plugins", "--check"},
                      &out) == 0);
  INFO(out);
  CHECK(out.find("capabilities (security.keep_capabilities = \"reload\"):\n") != std::string::npos);
  CHECK(
      out.find(
          "  process: CAP_BPF to load plugins (start, reload): load its BPF programs and maps\n") !=
      std::string::npos);
  CHECK(
      out.find(
          "  network: CAP_BPF to load plugins (start, reload): load its BPF programs and maps\n") !=
      std::string::npos);
  CHECK(out.find("  process: CAP_PERFMON to load plugins (start, reload): load and attach tracing "
                 "programs (") != std::string::npos);
  CHECK(out.find("  enrich: CAP_DAC_READ_SEARCH while running: cgroup id -> path with "
                 "open_by_handle_at\n") != std::string::npos);
  CHECK(out.find("  host: CAP_SYS_ADMIN at start: metrics.bpf_stats: BPF_ENABLE_STATS\n") !=
        std::string::npos);
  std::string expect_start =
      "  needed at start: CAP_DAC_READ_SEARCH, CAP_SETPCAP, CAP_SYS_ADMIN, " +
      std::string(k.memlock_cap() ? "CAP_SYS_RESOURCE, " : "") + "CAP_PERFMON, CAP_BPF\n";
  CHECK(out.find(expect_start) != std::string::npos);
  CHECK(
      out.find(
          "  kept after start: permitted and bounding CAP_DAC_READ_SEARCH, CAP_PERFMON, CAP_BPF; "
          "effective " +
          std::string(k.bpf_at_runtime() ? "CAP_DAC_READ_SEARCH, CAP_BPF" : "CAP_DAC_READ_SEARCH") +
          "\n") != std::string::npos);
  CHECK(out.find("check passed") != std::string::npos);

  REQUIRE(run_command({host_binary(), "--config", dir.path() + "/conf.d", "--plugins-dir",
                       dir.path() + "/plugins", "--check-json"},
                      &out) == 0);
  auto at = out.find("{\"plugins\":");
  REQUIRE(at != std::string::npos);
  Json j = Json::parse(out.substr(at, out.find('\n', at) - at));
  CHECK(j["capabilities"]["keep_capabilities"] == "reload");
  CHECK(j["capabilities"]["permitted"] ==
        Json::array({"CAP_DAC_READ_SEARCH", "CAP_PERFMON", "CAP_BPF"}));
  CHECK(j["capabilities"]["effective"] == (k.bpf_at_runtime()
                                               ? Json::array({"CAP_DAC_READ_SEARCH", "CAP_BPF"})
                                               : Json::array({"CAP_DAC_READ_SEARCH"})));
  bool enrich_need = false;
  for (const auto& n : j["capabilities"]["needs"])
    if (n["plugin"] == "enrich" && n["capability"] == "CAP_DAC_READ_SEARCH" &&
        n["when"] == "running")
      enrich_need = true;
  CHECK(enrich_need);
}

TEST_CASE("start set: started with nothing but it (as the unit grants it), leaf-host runs, drops") {
  Kernel k;
  Programs p;
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/conf.d");
  std::filesystem::create_directories(dir.path() + "/plugins");
  dir.write("conf.d/leaf.toml",
            "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(free_loopback_port()) + "\"\n");
  for (const char* name : {"process", "network"})
    std::filesystem::create_symlink(built_plugin(name),
                                    dir.path() + "/plugins/leaf_" + std::string(name) + ".so");
  std::string caps = "-all,+dac_read_search,+setpcap,+sys_admin,+perfmon,+bpf";
  if (k.memlock_cap()) caps += ",+sys_resource";
  std::string out;
  // setpriv (util-linux) limits the bounding set: as uid 0, leaf-host starts
  // with exactly it in permitted and effective.
  int rc = run_command(
      {"setpriv", "--bounding-set=" + caps, "--inh-caps=-all", "--", host_binary(), "--config",
       dir.path() + "/conf.d", "--plugins-dir", dir.path() + "/plugins", "--duration", "3"},
      &out);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("capabilities: kept permitted {CAP_DAC_READ_SEARCH, CAP_PERFMON, CAP_BPF}") !=
        std::string::npos);
  CHECK(out.find("leaf-host running: probes [network, process]") != std::string::npos);
  CHECK(out.find("not running") == std::string::npos);  // every probe attached

  // Without CAP_PERFMON (which CAP_SYS_ADMIN implies) no tracing program
  // loads: nothing runs, exit 3.
  dir.write("conf.d/leaf.toml", "[metrics]\nlisten = \"\"\n");
  rc = run_command({"setpriv", "--bounding-set=-all,+dac_read_search,+setpcap,+bpf,+sys_resource",
                    "--inh-caps=-all", "--", host_binary(), "--config", dir.path() + "/conf.d",
                    "--plugins-dir", dir.path() + "/plugins", "--duration", "1"},
                   &out);
  CHECK(rc == 3);
  CHECK(out.find("nothing could be loaded: no probe plugin is running") != std::string::npos);

  // The smallest grant (the systemd unit's and the DaemonSet's): exactly
  // what is kept, so nothing is dropped from the bounding set and CAP_SETPCAP
  // is not needed; without CAP_SYS_ADMIN metrics.bpf_stats is refused, not fatal.
  dir.write("conf.d/leaf.toml",
            "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(free_loopback_port()) + "\"\n");
  rc = run_command({"setpriv",
                    "--bounding-set=-all,+dac_read_search,+perfmon,+bpf" +
                        std::string(k.memlock_cap() ? ",+sys_resource" : ""),
                    "--inh-caps=-all", "--", host_binary(), "--config", dir.path() + "/conf.d",
                    "--plugins-dir", dir.path() + "/plugins", "--duration", "2"},
                   &out);
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("capabilities: kept permitted {CAP_DAC_READ_SEARCH, CAP_PERFMON, CAP_BPF}") !=
        std::string::npos);
  CHECK(out.find("leaf-host running: probes [network, process]") != std::string::npos);
}
