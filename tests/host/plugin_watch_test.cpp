// Plugins that come and go (issue 14, item 4), with the real leaf-host, the
// real process plugin and this kernel: leaf-host starts with an empty
// plugins directory and watches it (inotify). A copied-in leaf_process.so
// starts and its exec events flow; removed, its BPF programs and links are
// gone from the kernel (enumerated by id) and no event of it follows; copied
// in again, slowly in chunks, it is not touched before the file is complete,
// then works again. Bad files are refused with one line each while the
// process plugin runs on.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>

#include "harness.hpp"
#include "workload.hpp"

using namespace leaf::test;
namespace fs = std::filesystem;

namespace {

// The programs the test runs are this binary under other names (their comm):
// started as leafwatch_*, it exits at once.
const bool kHelper = [] {
  if (std::string_view(program_invocation_short_name).rfind("leafwatch_", 0) == 0) ::_exit(0);
  return false;
}();

// Other engineers' leaf-hosts serve the default metrics port.
const char* const kNoMetrics = "[metrics]\nlisten = \"\"\n";

struct Programs : AliasDir {
  Programs()
      : AliasDir(self_binary(), {"leafwatch_one", "leafwatch_off", "leafwatch_two", "leafwatch_bad",
                                 "leafwatch_storm"}) {}
};

// Waits until leaf-host's log holds `line` (after byte `from`); returns where.
size_t wait_log(const LeafHost& host, const std::string& line, size_t from = 0,
                std::chrono::milliseconds timeout = 20s) {
  auto until = std::chrono::steady_clock::now() + scaled(timeout);
  for (;;) {
    size_t at = host.stderr_text().find(line, from);
    if (at != std::string::npos) return at;
    if (std::chrono::steady_clock::now() > until) {
      FAIL("leaf-host did not log \"" << line << "\"; its log:\n" << host.stderr_text());
    }
    std::this_thread::sleep_for(20ms);
  }
}

// Lines of `text` that hold `what`.
size_t lines_with(const std::string& text, const std::string& what) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(what) != std::string::npos;
  return n;
}

// The BPF program and link ids a process holds descriptors of (fdinfo).
struct BpfIds {
  std::set<uint32_t> progs, links;
};
BpfIds bpf_ids_of(pid_t pid) {
  BpfIds ids;
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path());
    std::string key;
    uint64_t link = 0, prog = 0;
    bool is_link = false, has_prog = false;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("link_id:", 0) == 0) {
        is_link = true;
        link = std::stoull(line.substr(8));
      } else if (line.rfind("prog_id:", 0) == 0) {
        has_prog = true;
        prog = std::stoull(line.substr(8));
      }
    }
    if (is_link)
      ids.links.insert(static_cast<uint32_t>(link));
    else if (has_prog)
      ids.progs.insert(static_cast<uint32_t>(prog));
  }
  return ids;
}

// The kernel's programs, by id (bpf_prog_get_next_id), with their names.
std::map<uint32_t, std::string> kernel_programs() {
  std::map<uint32_t, std::string> out;
  for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;  // gone meanwhile
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) out[id] = info.name;
    ::close(fd);
  }
  return out;
}

std::set<uint32_t> kernel_links() {
  std::set<uint32_t> out;
  for (uint32_t id = 0; bpf_link_get_next_id(id, &id) == 0;) out.insert(id);
  return out;
}

// Copies `from` to `to` in `chunks` writes with `pause` between them, through
// one descriptor (one close_write at the end), mode 0644.
void copy_slowly(const std::string& from, const std::string& to, int chunks,
                 std::chrono::milliseconds pause, const std::function<void()>& between = {}) {
  std::ifstream in(from, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(!data.empty());
  int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  size_t step = data.size() / chunks + 1;
  for (size_t off = 0; off < data.size(); off += step) {
    size_t n = std::min(step, data.size() - off);
    REQUIRE(::write(fd, data.data() + off, n) == static_cast<ssize_t>(n));
    if (off + n < data.size()) {
      std::this_thread::sleep_for(pause);
      if (between) between();
    }
  }
  ::fchmod(fd, 0644);
  REQUIRE(::close(fd) == 0);
}

// Written in place (one close_write).
void copy_in(const std::string& from, const std::string& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// Written under a name that is not a plugin's, given its mode, then renamed
// in (moved_to): the file has its mode when the host first sees it.
void rename_in(const std::string& from, const std::string& to, mode_t mode) {
  std::string tmp = fs::path(to).parent_path().string() + "/.incoming";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  REQUIRE(::chmod(tmp.c_str(), mode) == 0);
  REQUIRE(::rename(tmp.c_str(), to.c_str()) == 0);
}

}  // namespace

TEST_CASE(
    "a probe copied into the watched directory starts; removed, it is gone; copied again, it "
    "works") {
  Programs progs;
  HostOptions o;                   // no plugin: an empty plugins directory
  const int metrics_port = 24516;  // this test's range (issue 14: 24500-24999)
  o.config["leaf.toml"] =
      "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n";
  LeafHost host(o);
  host.start();
  wait_log(host,
           "no probe plugin is running yet: waiting for one to appear in " + host.plugins_dir());
  std::string so = host.plugins_dir() + "/leaf_process.so";

  // In: started, and its exec events flow.
  copy_in(built_plugin("process"), so);
  size_t at = wait_log(host, "plugin process ");
  wait_log(host, "(probe) started from " + so, at);
  pid_t one = run_to_exit(progs.path("leafwatch_one"));
  auto ev = host.wait_for(event_of("process_exec", one), scaled(10s));
  CHECK(ev["data"]["comm"] == "leafwatch_one");

  BpfIds held = bpf_ids_of(host.pid());
  REQUIRE(!held.progs.empty());
  auto progs_now = kernel_programs();
  for (uint32_t id : held.progs) {
    REQUIRE(progs_now.count(id) == 1);
    CHECK(progs_now[id].rfind("process_", 0) == 0);  // the process plugin's programs, by name
  }
  auto links_now = kernel_links();
  for (uint32_t id : held.links) CHECK(links_now.count(id) == 1);

  // Out: stopped, drained and unloaded; its programs and links are gone from
  // the kernel, and no exec event comes any more.
  const std::string kernel_execs =
      "leaf_kernel_events_total{plugin=\"process\",type=\"process_exec\"}";
  const std::string kPluginUp = "leaf_plugin_up{plugin=\"process\",kind=\"probe\"}";
  std::string running = http_get_raw(metrics_port, "/metrics");
  REQUIRE(metric_series(running, kernel_execs) >= 1);
  REQUIRE(metric_series(running, kPluginUp) == 1);
  size_t before = host.stderr_text().size();
  REQUIRE(::unlink(so.c_str()) == 0);
  wait_log(host, "plugin process removed (" + so + "): stopped, rings drained, library unloaded",
           before);
  // leaf-host holds none of them any more; the kernel frees a program once
  // its last reference is gone, after an RCU grace period: a bounded wait.
  CHECK(bpf_ids_of(host.pid()).progs.empty());
  CHECK(bpf_ids_of(host.pid()).links.empty());
  auto still_there = [&] {
    auto progs_left = kernel_programs();
    auto links_left = kernel_links();
    std::string left;
    for (uint32_t id : held.progs)
      if (progs_left.count(id))
        left += " program " + std::to_string(id) + " (" + progs_left[id] + ")";
    for (uint32_t id : held.links)
      if (links_left.count(id)) left += " link " + std::to_string(id);
    return left;
  };
  std::string left = still_there();
  for (auto until = std::chrono::steady_clock::now() + scaled(10s);
       !left.empty() && std::chrono::steady_clock::now() < until; left = still_there())
    std::this_thread::sleep_for(20ms);
  CHECK_MESSAGE(left.empty(), "still in the kernel:" << left);
  pid_t off = run_to_exit(progs.path("leafwatch_off"));
  std::this_thread::sleep_for(500ms);
  CHECK(host.matching(event_of("process_exec", off)).empty());
  // Its counters stay, frozen (the kernel's count read when it stopped);
  // it is no longer reported as a running plugin.
  std::string m = http_get_raw(metrics_port, "/metrics");
  double frozen = metric_series(m, kernel_execs);
  CHECK(frozen >= 1);
  CHECK(metric_series(m, kPluginUp) == -1);
  CHECK(metric_series(http_get_raw(metrics_port, "/metrics"), kernel_execs) == frozen);

  // In again, written slowly: nothing happens before the file is complete.
  before = host.stderr_text().size();
  copy_slowly(built_plugin("process"), so, 4, 300ms, [&] {
    CHECK(host.stderr_text().find(so, before) == std::string::npos);  // not even a refusal
  });
  wait_log(host, "(probe) started from " + so, before);
  pid_t two = run_to_exit(progs.path("leafwatch_two"));
  host.wait_for(event_of("process_exec", two), scaled(10s));
  // The new instance's count is added to the frozen one: never backwards.
  CHECK(metric_series(http_get_raw(metrics_port, "/metrics"), kernel_execs) >= frozen + 1);
  CHECK(host.stop() == 0);
}

TEST_CASE("bad plugins dropped in are refused with one line each; the running probe runs on") {
  Programs progs;
  HostOptions o;
  o.plugins = {"process"};
  o.config["leaf.toml"] = "plugin_trial_timeout = \"15s\"\n" + std::string(kNoMetrics);
  LeafHost host(o);
  host.start();
  std::string dir = host.plugins_dir();
  std::string fake_dir = LEAF_TEST_FAKE_PLUGIN_DIR;
  struct Bad {
    std::string file, from;
    mode_t mode;
    std::string line;
  };
  std::vector<Bad> bad = {
      {"leaf_ticker.so", fake_dir + "/leaf_ticker.so", 0666, "is writable by everyone; not loaded"},
      {"ticker.so", fake_dir + "/leaf_ticker.so", 0644, "not named leaf_<name>.so"},
      {"leaf_major3.so", fake_dir + "/leaf_ticker_major3.so", 0644,
       "plugin is built for ABI 3.1, this host speaks ABI 2.1"},
      {"leaf_ctor_abort.so", fake_dir + "/leaf_ctor_abort.so", 0644, "killed by SIGABRT"},
      {"leaf_failopen.so", fake_dir + "/leaf_ticker_failopen.so", 0644,
       "could not start: ticker was built to fail in open()"},
  };
  for (const auto& b : bad) {
    size_t before = host.stderr_text().size();
    rename_in(b.from, dir + "/" + b.file, b.mode);
    size_t at = wait_log(host, b.line, before);
    // One line, naming the file (or, for a failed start, the plugin and file).
    std::string text = host.stderr_text().substr(before);
    size_t bol = host.stderr_text().rfind('\n', at);
    size_t eol = host.stderr_text().find('\n', at);
    std::string line = host.stderr_text().substr(bol + 1, eol - bol - 1);
    CHECK_MESSAGE(line.find(b.file) != std::string::npos, line);
    CHECK_MESSAGE(line.find("error") != std::string::npos, line);
    CHECK_MESSAGE(lines_with(text, b.file) == 1, text);
    // The process plugin runs on.
    pid_t pid = run_to_exit(progs.path("leafwatch_bad"));
    host.wait_for(event_of("process_exec", pid), scaled(10s));
  }
  // A constructor that hangs: the file is checked on a thread of its own,
  // so the running probe's events flow while its trial load waits out
  // plugin_trial_timeout (15 s here), and then it is refused in one line.
  size_t before = host.stderr_text().size();
  rename_in(fake_dir + "/leaf_ctor_hang.so", dir + "/leaf_ctor_hang.so", 0644);
  std::this_thread::sleep_for(200ms);  // the trial has begun
  pid_t during = run_to_exit(progs.path("leafwatch_bad"));
  host.wait_for(event_of("process_exec", during), scaled(10s));
  CHECK(host.stderr_text().find("leaf_ctor_hang.so", before) == std::string::npos);
  wait_log(host, "did not finish loading within 15000 ms", before, 60s);
  CHECK(lines_with(host.stderr_text().substr(before), "leaf_ctor_hang.so") == 1);
  CHECK(host.stop() == 0);
}

namespace {

using Clock = std::chrono::steady_clock;

// This test's listening port (issue 14's range, 24500-24999).
constexpr uint16_t kStormPort = 24514;

struct Conn {
  uint16_t port = 0;  // the client's local port
  Clock::time_point begin, end;
};

// Connects to 127.0.0.1:port and closes, again and again, until `stop`.
std::vector<Conn> connect_storm(uint16_t port, const std::atomic<bool>& stop) {
  std::vector<Conn> out;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  while (!stop) {
    Conn c;
    c.begin = Clock::now();
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    // Bound first: bind() never picks a port still in TIME_WAIT (connect()
    // may reuse one on loopback, net.ipv4.tcp_tw_reuse = 2), so every
    // connection of the storm has a port of its own.
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0) {
      ::close(fd);
      continue;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) {
      sockaddr_in me{};
      socklen_t len = sizeof(me);
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len);
      c.port = ntohs(me.sin_port);
    }
    ::close(fd);
    c.end = Clock::now();
    if (c.port) out.push_back(c);
    std::this_thread::sleep_for(1ms);
  }
  return out;
}

}  // namespace

TEST_CASE(
    "the network plugin replaced by a rename under a connection storm; the process plugin loses "
    "nothing") {
  Programs progs;
  HostOptions o;
  o.plugins = {"process", "network"};
  o.config["leaf.toml"] = kNoMetrics;
  LeafHost host(o);
  host.start();

  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(lfd >= 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(kStormPort);
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 0);
  REQUIRE(::listen(lfd, 1024) == 0);
  std::atomic<bool> stop{false};
  // The server closes after the client (reads to EOF).
  std::thread server([&] {
    while (!stop) {
      int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      char b;
      while (::recv(c, &b, 1, 0) > 0) {
      }
      ::close(c);
    }
  });
  std::vector<Conn> conns;
  std::thread client([&] { conns = connect_storm(kStormPort, stop); });
  std::vector<std::pair<pid_t, Clock::time_point>> execs;
  std::thread execer([&] {
    while (!stop) {
      execs.emplace_back(run_to_exit(progs.path("leafwatch_storm")), Clock::now());
      std::this_thread::sleep_for(5ms);
    }
  });

  // The storm's connections: from this process, not from its main thread
  // (which made the last one, to wake the server).
  auto ours = [](const Json& e) {
    return e.contains("data") && e["data"].value("type", "") == "tcp_connect" &&
           e["data"].value("dst_port", 0) == kStormPort &&
           e["data"].value("tgid", 0) == ::getpid() && e["data"].value("pid", 0) != ::getpid();
  };
  // Before the rename, the network plugin has reported two of the storm's
  // connections: the storm is sequential, so the first one ended before the
  // rename (not left to a fixed sleep on a loaded machine).
  host.wait_for_count(ours, 2, scaled(20s));
  std::string so = host.plugins_dir() + "/leaf_network.so";
  std::string tmp = host.plugins_dir() + "/.leaf_network.so.new";  // not a plugin name: ignored
  copy_in(built_plugin("network"), tmp);
  size_t before = host.stderr_text().size();
  Clock::time_point renamed = Clock::now();
  REQUIRE(::rename(tmp.c_str(), so.c_str()) == 0);
  size_t up = wait_log(host, "plugin network ", before);
  wait_log(host, "(probe) upgraded from " + so, up);
  Clock::time_point upgraded = Clock::now();
  // Two of the storm's connections reported with a time after the upgrade:
  // the second began after it (the storm is sequential), so after_n > 0.
  auto wall_upgraded = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  host.wait_for_count(
      [&](const Json& e) { return ours(e) && e.value("timestamp", int64_t{0}) > wall_upgraded; }, 2,
      scaled(20s));
  stop = true;
  client.join();
  // Wake the server's accept() for the last time.
  {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof(at));
    ::close(fd);
  }
  server.join();
  execer.join();
  ::close(lfd);
  REQUIRE(!conns.empty());

  // The last connection of the storm, after the upgrade, arrives.
  uint16_t last = conns.back().port;
  host.wait_for([&](const Json& e) { return ours(e) && e["data"].value("src_port", 0) == last; },
                scaled(10s));
  host.wait_for(event_of("process_exec", execs.back().first), scaled(10s));
  CHECK(host.stop() == 0);

  // Per client port (loopback reuses ports in TIME_WAIT, so a port may carry
  // more than one connection of the storm): never more events than
  // connections (nothing doubled), and at least one per connection made
  // wholly before the rename or begun after the upgrade (nothing lost there).
  struct PortUse {
    int conns = 0, outside_gap = 0, events = 0;
    std::string events_text;
  };
  std::map<int, PortUse> ports;
  size_t before_n = 0, after_n = 0, between_n = 0;
  for (const auto& c : conns) {
    auto& u = ports[c.port];
    ++u.conns;
    if (c.end < renamed)
      ++before_n, ++u.outside_gap;
    else if (c.begin > upgraded)
      ++after_n, ++u.outside_gap;
    else
      ++between_n;
  }
  for (const auto& e : host.matching(ours)) {
    auto& u = ports[e["data"].value("src_port", 0)];
    ++u.events;
    u.events_text += e.dump() + "\n";
  }
  size_t seen_n = 0;
  for (const auto& [port, u] : ports) {
    CHECK_MESSAGE(u.events <= u.conns, "port " << port << ": " << u.conns << " connections, "
                                               << u.events << " events:\n"
                                               << u.events_text);
    CHECK_MESSAGE(u.events >= u.outside_gap, "port " << port << ": " << u.outside_gap
                                                     << " connections outside the replacement, "
                                                     << u.events << " events");
    seen_n += static_cast<size_t>(u.events);
  }
  size_t between_missing = conns.size() - seen_n;
  CHECK(before_n > 0);
  CHECK(after_n > 0);
  // The process plugin was not touched: every exec, exactly once.
  std::map<int, int> exec_seen;
  for (const auto& e : host.matching(event_type("process_exec")))
    ++exec_seen[e["data"].value("pid", 0)];
  for (const auto& [pid, when] : execs) CHECK_MESSAGE(exec_seen[pid] == 1, "exec of pid " << pid);
  std::string log = host.stderr_text();
  size_t gap = log.find("no probe of it attached for", up);
  MESSAGE("connections: " << before_n << " before the rename, " << between_n
                          << " while it was replaced (" << between_missing << " not seen), "
                          << after_n << " after; " << execs.size() << " execs; "
                          << log.substr(gap, log.find('\n', gap) - gap));
}

namespace {
// The ids of the BPF programs leaf-host holds whose kernel name starts with `prefix`.
std::set<uint32_t> programs_named(pid_t host, const std::string& prefix) {
  auto names = kernel_programs();
  std::set<uint32_t> out;
  for (uint32_t id : bpf_ids_of(host).progs)
    if (names.count(id) && names[id].rfind(prefix, 0) == 0) out.insert(id);
  return out;
}

void sighup_until(LeafHost& host, const std::string& file, const std::string& text,
                  const std::string& line) {
  size_t before = host.stderr_text().size();
  std::ofstream(host.config_dir() + "/" + file) << text;
  REQUIRE(::kill(host.pid(), SIGHUP) == 0);
  wait_log(host, line, before);
}
}  // namespace

// Issue 14, item 3, on real BPF probes: from the option flags a live option
// is applied in place (same programs), a restart-only one restarts that
// plugin alone (new programs, the other plugin's untouched), enabled = false
// detaches its programs and enabled = true loads them again.
TEST_CASE(
    "SIGHUP on BPF probes: live in place, restart-only restarts one plugin, enabled off and on") {
  Programs progs;
  HostOptions o;
  o.plugins = {"process", "network"};
  o.config["leaf.toml"] = kNoMetrics;
  LeafHost host(o);
  host.start();
  pid_t first = run_to_exit(progs.path("leafwatch_one"));
  host.wait_for(event_of("process_exec", first), scaled(10s));
  auto process_progs = programs_named(host.pid(), "process_");
  std::set<uint32_t> other_progs;
  for (uint32_t id : bpf_ids_of(host.pid()).progs)
    if (!process_progs.count(id)) other_progs.insert(id);
  REQUIRE(!process_progs.empty());
  REQUIRE(!other_progs.empty());
  auto others_untouched = [&] {
    auto now = bpf_ids_of(host.pid()).progs;
    for (uint32_t id : other_progs) CHECK_MESSAGE(now.count(id) == 1, "network program " << id);
  };

  // Live (filter.drop_comms is flagged kOptionLive): same programs, new filter.
  const std::string filter = "[filter]\ndrop_comms = [\"leafwatch_off\"]\n";
  sighup_until(host, "process.toml", filter, "SIGHUP: configuration reloaded from");
  CHECK(host.stderr_text().find("SIGHUP: plugin process applied its new configuration") !=
        std::string::npos);
  CHECK(programs_named(host.pid(), "process_") == process_progs);
  pid_t dropped = run_to_exit(progs.path("leafwatch_off"));
  pid_t kept = run_to_exit(progs.path("leafwatch_two"));
  host.wait_for(event_of("process_exec", kept), scaled(10s));
  CHECK(host.matching(event_of("process_exec", dropped)).empty());

  // Restart-only (ring_buffer_size): new programs for process, network untouched.
  sighup_until(host, "process.toml", "ring_buffer_size = \"8M\"\n" + filter,
               "SIGHUP: plugin process restarted (restart-only options changed: ring_buffer_size): "
               "rings drained, running its new configuration after ");
  CHECK(host.stderr_text().find("opened beside the running one, no probe of it attached for") !=
        std::string::npos);
  auto restarted = programs_named(host.pid(), "process_");
  REQUIRE(!restarted.empty());
  for (uint32_t id : restarted) CHECK(process_progs.count(id) == 0);
  others_untouched();
  CHECK(host.stderr_text().find("SIGHUP: plugin network") == std::string::npos);
  pid_t after_restart = run_to_exit(progs.path("leafwatch_one"));
  host.wait_for(event_of("process_exec", after_restart), scaled(10s));

  // enabled = false: its programs detached and released; no events.
  sighup_until(host, "process.toml", "enabled = false\n",
               "SIGHUP: plugin process stopped (enabled = false): programs detached");
  CHECK(programs_named(host.pid(), "process_").empty());
  others_untouched();
  pid_t while_off = run_to_exit(progs.path("leafwatch_two"));
  std::this_thread::sleep_for(500ms);
  CHECK(host.matching(event_of("process_exec", while_off)).empty());

  // enabled = true: loaded and attached again (after the capability drop).
  sighup_until(host, "process.toml", "", "SIGHUP: plugin process started (enabled = true)");
  CHECK(!programs_named(host.pid(), "process_").empty());
  pid_t back = run_to_exit(progs.path("leafwatch_one"));
  host.wait_for(event_of("process_exec", back), scaled(10s));
  others_untouched();
  CHECK(host.stop() == 0);
}

// A processor that comes and goes: the SDK's team_tag example dropped into a
// running leaf-host tags the exec events of our program; removed, it no
// longer does, and the probe runs on throughout.
TEST_CASE("a processor dropped in joins the pipeline; removed, it leaves it") {
  Programs progs;
  HostOptions o;
  o.plugins = {"process"};
  o.config["leaf.toml"] = kNoMetrics;
  o.config["team_tag.toml"] = "teams = [\"leafwatch_one=watchers\"]\n";
  LeafHost host(o);
  host.start();
  std::string so = host.plugins_dir() + "/leaf_team_tag.so";
  size_t before = host.stderr_text().size();
  rename_in(std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_team_tag.so", so, 0644);
  wait_log(host, "(processor) started from " + so, before);
  pid_t tagged = run_to_exit(progs.path("leafwatch_one"));
  auto e = host.wait_for(event_of("process_exec", tagged), scaled(10s));
  CHECK(e["data"].value("team", "") == "watchers");

  before = host.stderr_text().size();
  REQUIRE(::unlink(so.c_str()) == 0);
  wait_log(host, "plugin team_tag removed (" + so + ")", before);
  pid_t plain = run_to_exit(progs.path("leafwatch_one"));
  auto f = host.wait_for(event_of("process_exec", plain), scaled(10s));
  CHECK_FALSE(f["data"].contains("team"));
  CHECK(host.stop() == 0);
}

// A probe's open() (its BPF objects loaded and verified: most of a second
// for the network plugin) runs beside the dispatcher: while a dropped-in
// probe opens, the running probe's events flow. leaf_ticker_gated's open()
// waits until the test, having seen the running ticker tick on, opens its
// gate.
TEST_CASE("while a dropped-in probe opens, the running probe's events flow") {
  TempDir gates;
  std::string gate = gates.path() + "/gate";
  HostOptions o;
  o.plugins = {std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_ticker.so"};
  o.config["leaf.toml"] = kNoMetrics;
  o.config["ticker.toml"] = "interval = \"5ms\"\n";
  o.config["gated.toml"] = "interval = \"5ms\"\nlabel = \"" + gate + "\"\n";
  LeafHost host(o);
  host.start();
  auto running = [](const Json& e) {
    return event_type("tick")(e) && e["data"]["label"] == "tick";
  };
  host.wait_for(running);
  std::string so = host.plugins_dir() + "/leaf_ticker_gated.so";
  size_t before = host.stderr_text().size();
  rename_in(std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_ticker_gated.so", so, 0644);
  auto until = std::chrono::steady_clock::now() + scaled(20s);
  while (::access((gate + ".waiting").c_str(), F_OK) != 0) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, host.stderr_text());
    std::this_thread::sleep_for(10ms);
  }
  // The gated probe's open() is waiting: the running ticker ticks on.
  size_t seen = host.matching(running).size();
  host.wait_for_count(running, seen + 20);
  CHECK(host.stderr_text().find("plugin gated", before) == std::string::npos);
  std::ofstream{gate};
  wait_log(host, "plugin gated 1.0.0 (probe) started from " + so, before);
  host.wait_for(
      [](const Json& e) { return event_type("tick")(e) && e["data"]["label"] != "tick"; });
  CHECK(host.stop() == 0);
}

// A SIGHUP restart opens the new instance beside the dispatcher: while the
// gated ticker's new instance waits at its gate in open(), the process
// plugin's exec events flow (on the old host the dispatcher waited there).
TEST_CASE("while a SIGHUP restart opens a probe, the BPF probe's events flow") {
  Programs progs;
  TempDir gates;
  std::string g1 = gates.path() + "/g1", g2 = gates.path() + "/g2";
  std::ofstream{g1};  // the startup open passes at once
  HostOptions o;
  o.plugins = {"process", std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_ticker_gated.so"};
  o.config["leaf.toml"] = kNoMetrics;
  o.config["gated.toml"] = "interval = \"5ms\"\nlabel = \"" + g1 + "\"\n";
  LeafHost host(o);
  host.start();
  pid_t first = run_to_exit(progs.path("leafwatch_one"));
  host.wait_for(event_of("process_exec", first), scaled(10s));
  size_t before = host.stderr_text().size();
  std::ofstream(host.config_dir() + "/gated.toml")
      << "interval = \"4ms\"\nlabel = \"" + g2 + "\"\n";
  REQUIRE(::kill(host.pid(), SIGHUP) == 0);
  auto until = std::chrono::steady_clock::now() + scaled(20s);
  while (::access((g2 + ".waiting").c_str(), F_OK) != 0) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, host.stderr_text());
    std::this_thread::sleep_for(10ms);
  }
  // The new instance's open() waits at g2: execs are reported meanwhile.
  for (const char* name : {"leafwatch_two", "leafwatch_one"}) {
    pid_t pid = run_to_exit(progs.path(name));
    host.wait_for(event_of("process_exec", pid), scaled(10s));
  }
  CHECK(host.stderr_text().find("restarted", before) == std::string::npos);
  std::ofstream{g2};
  wait_log(host, "SIGHUP: plugin gated restarted (restart-only options changed: interval)", before);
  pid_t after = run_to_exit(progs.path("leafwatch_two"));
  host.wait_for(event_of("process_exec", after), scaled(10s));
  CHECK(host.stop() == 0);
}

// sdk abi.h: open() may run beside the dispatcher (a dropped-in probe is
// opened on a loader thread), so the host refuses rings, timers and events
// from it: one line per call naming it, the plugin does not start, the
// running probe runs on.
TEST_CASE("a dropped-in probe whose open() adds a timer, emits or adds a ring is refused") {
  HostOptions o;
  o.plugins = {std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_ticker.so"};
  o.config["leaf.toml"] = kNoMetrics;
  o.config["ticker.toml"] = "interval = \"5ms\"\n";
  o.config["open_calls.toml"] = "interval = \"5ms\"\nlabel = \"calls\"\n";
  LeafHost host(o);
  host.start();
  auto running = [](const Json& e) {
    return event_type("tick")(e) && e["data"]["label"] == "tick";
  };
  host.wait_for(running);
  std::string so = host.plugins_dir() + "/leaf_ticker_open_calls.so";
  size_t before = host.stderr_text().size();
  rename_in(std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_ticker_open_calls.so", so, 0644);
  size_t at = wait_log(host,
                       "plugin open_calls (" + so +
                           "): could not start: the host refused in open(): add_timer (status 1), "
                           "emit (status 1), add_ring_buffer (status 1); the other plugins run on",
                       before);
  for (const char* call : {"add_timer", "emit", "add_ring_buffer"}) {
    std::string line = std::string("[open_calls] ") + call + " refused: called from open()";
    CHECK_MESSAGE(host.stderr_text().find(line, before) < at, call);
  }
  host.wait_for_count(running, host.matching(running).size() + 20);
  CHECK(host.stop() == 0);
  CHECK(
      host.matching([](const Json& e) { return e["data"].value("label", "") == "calls"; }).empty());
}

// Lines of a file (each one JSON document), read whole.
std::vector<Json> json_lines(const std::string& path) {
  std::vector<Json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(Json::parse(line));
  return out;
}

// A sink that comes and goes: the SDK's line_file example dropped into a
// running leaf-host receives the events from then on; removed, it is flushed
// (its interval is an hour: only the removal writes its buffer out), closed
// and unloaded, and the other sink and the probe run on.
TEST_CASE("a sink dropped in receives events; removed, it is flushed and leaves the pipeline") {
  Programs progs;
  TempDir out;
  const std::string file = out.path() + "/events.jsonl";
  HostOptions o;
  o.plugins = {"process"};
  o.config["leaf.toml"] = kNoMetrics;
  o.config["line_file.toml"] = "path = \"" + file + "\"\nflush_interval = \"1h\"\n";
  LeafHost host(o);
  host.start();
  std::string so = host.plugins_dir() + "/leaf_line_file.so";
  size_t before = host.stderr_text().size();
  rename_in(std::string(LEAF_TEST_FAKE_PLUGIN_DIR) + "/leaf_line_file.so", so, 0644);
  wait_log(host, "(sink) started from " + so, before);
  pid_t seen = run_to_exit(progs.path("leafwatch_one"));
  host.wait_for(event_of("process_exec", seen), scaled(10s));

  before = host.stderr_text().size();
  REQUIRE(::unlink(so.c_str()) == 0);
  size_t at = wait_log(host, "plugin line_file removed (" + so + ")", before);
  // What the host handed the sink is what the file holds, to the line.
  std::string log = host.stderr_text().substr(before, at - before);
  const std::string accepted = "sink line_file: ";
  size_t n_at = log.find(accepted);
  REQUIRE(n_at != std::string::npos);
  uint64_t handed = std::stoull(log.substr(n_at + accepted.size()));
  CHECK(log.find(std::to_string(handed) + " events accepted, 0 refused") != std::string::npos);
  std::vector<Json> lines = json_lines(file);
  CHECK(lines.size() == handed);
  size_t ours = 0;
  for (const auto& e : lines) ours += event_of("process_exec", seen)(e);
  CHECK(ours == 1);

  const auto size_after_removal = fs::file_size(file);
  pid_t later = run_to_exit(progs.path("leafwatch_two"));
  host.wait_for(event_of("process_exec", later), scaled(10s));  // the JSON-lines sink runs on
  CHECK(host.stop() == 0);
  CHECK(fs::file_size(file) == size_after_removal);
}
