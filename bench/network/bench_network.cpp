// Loopback connect/close storm, with and without the network plugin loaded.
//
//   bench_network [--connections N] [--rounds R] [--bpf-stats 0|1]
//                 [--leaf-host PATH] [--plugin PATH]
//                 [--network-toml TEXT]   (more keys for network.toml)
//                 [--compare-toml TEXT]   (a second configuration to weigh)
//                 [--floor fentry,traced|none]
//                 [--settle-ms MS]        (pause after each setup and teardown)
//                 [--threads N]           (N clients and N accepting servers at once)
//                 [--keep-output 0|1]     (keep each leaf-host's directory, print its path)
//
// Runs as root. Rounds, in one run: a storm without Leaf, the same storm with
// leaf-host running leaf_network.so, ..., ending without Leaf; each loaded
// storm is compared with the unloaded ones on either side of it and the
// median ratio is reported (background load drifts between phases). With
// --compare-toml, each round also runs a storm with leaf-host given that
// network.toml instead of --network-toml (e.g. `[hooks] skip = ["fentry",
// "kprobe"]`: one hook path against another in the same run), followed by
// its own storm without Leaf; the two loaded storms swap places from round
// to round, and each configuration's ratio is reported on its own. For
// every round: the connections made and the events delivered per type
// against what the storm must produce (N tcp_connect, N tcp_accept, 2N
// tcp_close), and the kernel's drops as leaf-host reports them.
//
// With --bpf-stats 1 (default), each loaded phase ends with a further storm
// of N/4 connections with the kernel's BPF run-time statistics on (not
// timed: the statistics cost a little themselves): per program of leaf-host,
// its runs and ns per run, and the BPF time per connection (per
// configuration). That figure
// survives a noisy machine; the rates do not.
//
// --floor (default "fentry,traced"; a set this kernel refuses is said and
// left out) adds to each round, per set, a storm with empty programs on the
// plugin's TCP hooks (empty_tcp_hooks.bpf.c) and no leaf-host, followed by
// its own storm without: what being attached costs before any work, the
// best any program on those hooks can do.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bpf_prog_stats.hpp"
#include "empty_hooks.hpp"
#include "empty_tcp_hooks.skel.h"
#include "settle.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The pause after every setup and teardown (settle.hpp, --settle-ms).
leaf::bench::Settle settle;

// Empty programs on one set of the plugin's TCP hooks (empty_tcp_hooks.bpf.c).
using EmptyTcpHooks = leaf::bench::EmptyHooks<empty_tcp_hooks_bpf>;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bench_network: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

// `storm_threads` (--threads) clients connect at once, and as many children
// accept on 127.0.0.1 until killed, each closing every connection at once:
// with more than one, the programs run on several CPUs at the same time, and
// what they share (the LRU table's lists, the ring buffer's lock) is
// contended as on a busy server. The children's pids go to *pids; returns
// the port.
int storm_threads = 1;

uint16_t start_servers(std::vector<pid_t>* pids) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(lfd, 4096) != 0)
    fail("listen");
  socklen_t len = sizeof(a);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  for (int i = 0; i < storm_threads; ++i) {
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      prctl(PR_SET_NAME, "storm-server");
      while (true) {
        int fd = accept(lfd, nullptr, nullptr);
        if (fd >= 0) close(fd);
      }
    }
    pids->push_back(pid);
  }
  close(lfd);
  return ntohs(a.sin_port);
}

struct Storm {
  uint64_t made = 0, failed = 0;
  double seconds = 0;
  double rate() const { return seconds > 0 ? made / seconds : 0; }
};

// n connections in a row: connect, wait for the server's close (so that
// every connection was accepted: no listen-queue overflow), close.
Storm storm_one(uint16_t port, uint64_t n) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  Storm s;
  for (uint64_t i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket");
    char c;
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && read(fd, &c, 1) == 0)
      ++s.made;
    else
      ++s.failed;
    close(fd);
  }
  return s;
}

// n connections over storm_threads threads at once; the rate is over the
// wall time of them all.
Storm storm(uint16_t port, uint64_t n) {
  auto t0 = Clock::now();
  Storm s;
  if (storm_threads <= 1) {
    s = storm_one(port, n);
  } else {
    std::vector<Storm> parts(static_cast<size_t>(storm_threads));
    std::vector<std::thread> threads;
    for (int i = 0; i < storm_threads; ++i) {
      uint64_t share = n / storm_threads + (static_cast<uint64_t>(i) < n % storm_threads ? 1 : 0);
      threads.emplace_back([&parts, i, port, share] { parts[i] = storm_one(port, share); });
    }
    for (auto& t : threads) t.join();
    for (const auto& p : parts) {
      s.made += p.made;
      s.failed += p.failed;
    }
  }
  s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return s;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// CPU time (user + system) of a process, in seconds.
double cpu_seconds(pid_t pid) {
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream in(stat.substr(close_paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// --keep-output: every leaf-host's directory (conf.d, out.jsonl, err.log) is
// kept and its path printed, to look into a mismatch of the event counts.
bool keep_output = false;

class LeafHostProcess {
 public:
  LeafHostProcess(const std::string& binary, const std::string& plugin, const std::string& toml) {
    char tmpl[] = "/tmp/leaf-bench-network-XXXXXX";
    if (!mkdtemp(tmpl)) fail("mkdtemp");
    dir_ = tmpl;
    fs::create_directories(dir_ + "/conf.d");
    fs::create_directories(dir_ + "/plugins");
    chmod((dir_ + "/plugins").c_str(), 0755);
    fs::create_symlink(fs::absolute(plugin), dir_ + "/plugins/leaf_network.so");
    // Room for a storm's worth of events between two drains.
    std::ofstream(dir_ + "/conf.d/network.toml") << "ring_buffer_size = \"8M\"\n" << toml << "\n";
    pid_ = fork();
    if (pid_ < 0) fail("fork");
    if (pid_ == 0) {
      int out = open((dir_ + "/out.jsonl").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = open((dir_ + "/err.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(out, 1);
      dup2(err, 2);
      execl(binary.c_str(), binary.c_str(), "--config", (dir_ + "/conf.d").c_str(), "--plugins-dir",
            (dir_ + "/plugins").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    auto deadline = Clock::now() + std::chrono::seconds(60);
    while (slurp(dir_ + "/err.log").find("leaf-host running") == std::string::npos) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_ || Clock::now() > deadline) {
        std::fprintf(stderr, "leaf-host did not start:\n%s\n", slurp(dir_ + "/err.log").c_str());
        std::exit(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~LeafHostProcess() {
    if (pid_ > 0) stop();
    if (keep_output) {
      std::printf("  leaf-host's directory kept: %s\n", dir_.c_str());
      return;
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  int stop() {
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  pid_t pid() const { return pid_; }
  std::string out_path() const { return dir_ + "/out.jsonl"; }
  std::string log() const { return slurp(dir_ + "/err.log"); }

  // Events of one type on a port (either end) so far.
  std::map<std::string, uint64_t> count_on_port(uint16_t port) const {
    std::map<std::string, uint64_t> n;
    std::ifstream in(out_path());
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("data")) continue;
      const auto& d = j["data"];
      if (d.value("src_port", 0) == port || d.value("dst_port", 0) == port)
        n[d.value("type", "")]++;
    }
    return n;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
};

struct Round {
  Storm loaded;
  std::map<std::string, uint64_t> got;  // events on the storm's port, by type
  uint64_t expected_connections = 0;    // timed storm + statistics storm
  std::string log;
  double host_cpu = 0;
};

// leaf-host up, the timed storm, the statistics storm (stats_n > 0), drain,
// leaf-host stopped; its events on `port` counted.
Round loaded_round(const std::string& host, const std::string& plugin, const std::string& toml,
                   uint16_t port, uint64_t n, uint64_t stats_n, leaf::bench::ProgTotals& bpf) {
  Round r;
  LeafHostProcess leaf(host, plugin, toml);
  settle();
  double cpu0 = cpu_seconds(leaf.pid());
  r.loaded = storm(port, n);
  r.expected_connections = r.loaded.made;
  if (stats_n > 0) {
    leaf::bench::BpfStatsOn on;
    if (!on.ok()) fail("BPF_ENABLE_STATS");
    auto ids = leaf::bench::prog_ids_of(leaf.pid());
    auto before = leaf::bench::snapshot(ids);
    Storm s = storm(port, stats_n);
    leaf::bench::add_delta(bpf, before, leaf::bench::snapshot(ids));
    r.expected_connections += s.made;
  }
  // Every connection is closed on both sides (the client's close after the
  // server's FIN completes at once on loopback); give the host time to
  // drain, then stop it so that nothing is left in flight.
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    r.got = leaf.count_on_port(port);
    if (r.got["tcp_close"] >= 2 * r.expected_connections) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  r.host_cpu = cpu_seconds(leaf.pid()) - cpu0;
  if (int rc = leaf.stop(); rc != 0) std::fprintf(stderr, "leaf-host exited with %d\n", rc);
  r.got = leaf.count_on_port(port);
  r.log = leaf.log();
  settle();
  return r;
}

// The hook each TCP probe attached with ("tcp_connect fentry, ..."), from
// leaf-host's log: which path a storm measured.
std::string tcp_hooks(const std::string& log) {
  std::string out;
  for (const char* probe : {"tcp_connect", "tcp_accept", "tcp_close"}) {
    std::string needle = std::string("probe ") + probe + " attached via ";
    auto p = log.find(needle);
    if (p == std::string::npos) continue;
    std::string hook = log.substr(p + needle.size());
    hook = hook.substr(0, hook.find_first_of(" (\n"));
    out += (out.empty() ? "" : ", ") + std::string(probe) + " " + hook;
  }
  return out.empty() ? "none attached" : out;
}

// The events of one loaded round against what its storms must produce (N
// tcp_connect, N tcp_accept, 2N tcp_close), and the kernel's drops as
// leaf-host reports them. False on a mismatch (when all types are reported).
bool report_events(Round& r, bool counting) {
  bool match = true;
  uint64_t c = r.expected_connections;
  for (auto [type, want] : std::vector<std::pair<std::string, uint64_t>>{
           {"tcp_connect", c}, {"tcp_accept", c}, {"tcp_close", 2 * c}}) {
    bool ok = r.got[type] == want;
    std::printf("  %-12s delivered %8llu, expected %8llu %s\n", type.c_str(),
                static_cast<unsigned long long>(r.got[type]), static_cast<unsigned long long>(want),
                !counting ? "(not all types reported)"
                : ok      ? "ok"
                          : "MISMATCH");
    match = match && (!counting || ok);
  }
  // leaf-host's own summary: "<type>: X emitted by the kernel, Y lost in the kernel, ..."
  std::regex summary(R"(\[network\] (tcp_\w+): (\d+) emitted by the kernel, (\d+) lost)");
  for (std::sregex_iterator it(r.log.begin(), r.log.end(), summary), end; it != end; ++it)
    std::printf("  %-12s kernel drops %s (emitted %s, all ports)\n", (*it)[1].str().c_str(),
                (*it)[3].str().c_str(), (*it)[2].str().c_str());
  return match;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t k = v.size();
  return k == 0 ? 0 : k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = 20000;
  int rounds = 3;
  bool bpf_stats = true;
  std::string host = LEAF_BENCH_HOST_BINARY, plugin = LEAF_BENCH_PLUGIN, toml, compare_toml;
  std::string floor_arg = "fentry,traced";
  bool has_compare = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--connections")
      n = std::stoull(argv[i + 1]);
    else if (k == "--rounds")
      rounds = std::max(1, std::stoi(argv[i + 1]));
    else if (k == "--bpf-stats")
      bpf_stats = std::string(argv[i + 1]) != "0";
    else if (k == "--leaf-host")
      host = argv[i + 1];
    else if (k == "--plugin")
      plugin = argv[i + 1];
    else if (k == "--network-toml")
      toml = argv[i + 1];
    else if (k == "--compare-toml") {
      compare_toml = argv[i + 1];
      has_compare = true;
    } else if (k == "--floor") {
      floor_arg = argv[i + 1];
    } else if (k == "--settle-ms") {
      settle.set_ms(argv[i + 1]);
    } else if (k == "--keep-output") {
      keep_output = std::string(argv[i + 1]) != "0";
    } else if (k == "--threads") {
      storm_threads = std::max(1, std::stoi(argv[i + 1]));
    } else {
      std::fprintf(stderr,
                   "usage: bench_network [--connections N] [--rounds R] [--bpf-stats 0|1] "
                   "[--leaf-host PATH] [--plugin PATH] [--network-toml TEXT] "
                   "[--compare-toml TEXT] [--floor fentry,traced|none] [--settle-ms MS] "
                   "[--threads N] [--keep-output 0|1]\n");
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_network: needs root (BPF)\n");
    return 77;
  }

  std::vector<std::string> floors;
  std::string set;
  for (std::istringstream in(floor_arg == "none" ? "" : floor_arg); std::getline(in, set, ',');) {
    if (set != "fentry" && set != "traced") {
      std::fprintf(stderr, "bench_network: --floor: fentry, traced or none, not '%s'\n",
                   set.c_str());
      return 2;
    }
    EmptyTcpHooks probe(set);
    if (probe.ok())
      floors.push_back(set);
    else
      std::printf("floor %s: cannot attach here (%s): left out\n", set.c_str(),
                  probe.why().c_str());
  }

  std::vector<pid_t> servers;
  uint16_t port = start_servers(&servers);
  storm(port, 500);  // warm-up

  std::printf("loopback connect/close storm, %llu connections per phase, %d rounds, %d thread%s\n",
              static_cast<unsigned long long>(n), rounds, storm_threads,
              storm_threads == 1 ? "" : "s");
  std::vector<std::string> tomls = {toml};
  if (has_compare) tomls.push_back(compare_toml);
  size_t nv = tomls.size();
  bool match = true;
  std::vector<leaf::bench::ProgTotals> bpf(nv);
  uint64_t stats_n = bpf_stats ? std::max<uint64_t>(n / 4, 1) : 0;
  std::vector<std::vector<double>> ratios(nv), host_cpu_per_conn(nv), floor_ratios(floors.size());
  Storm without = storm(port, n);
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < nv; ++i) {
      size_t v = (i + static_cast<size_t>(round)) % nv;
      bool counting = tomls[v].find("events") == std::string::npos;  // all events reported
      Round r = loaded_round(host, plugin, tomls[v], port, n, stats_n, bpf[v]);
      Storm next = storm(port, n);
      double base = (without.rate() + next.rate()) / 2;
      double ratio = base > 0 ? r.loaded.rate() / base : 0;
      ratios[v].push_back(ratio);
      host_cpu_per_conn[v].push_back(r.host_cpu * 1e6 /
                                     static_cast<double>(r.expected_connections));
      std::printf(
          "round %d%s: without %.0f conn/s, with %.0f conn/s (%llu made, %llu failed), "
          "without %.0f conn/s: ratio %.3f\n",
          round + 1,
          nv == 1  ? ""
          : v == 0 ? " (network-toml)"
                   : " (compare-toml)",
          without.rate(), r.loaded.rate(), static_cast<unsigned long long>(r.loaded.made),
          static_cast<unsigned long long>(r.loaded.failed), next.rate(), ratio);
      if (round == 0) std::printf("  hooks: %s\n", tcp_hooks(r.log).c_str());
      match = report_events(r, counting) && match;
      without = next;
    }
    for (size_t f = 0; f < floors.size(); ++f) {
      Storm s;
      {
        EmptyTcpHooks floor(floors[f]);
        if (!floor.ok()) fail("floor " + floors[f] + ": " + floor.why());
        settle();
        s = storm(port, n);
      }
      settle();
      Storm next = storm(port, n);
      double base = (without.rate() + next.rate()) / 2;
      floor_ratios[f].push_back(base > 0 ? s.rate() / base : 0);
      std::printf(
          "round %d (floor %s: empty programs, no leaf-host): without %.0f conn/s, with "
          "%.0f conn/s, without %.0f conn/s: ratio %.3f\n",
          round + 1, floors[f].c_str(), without.rate(), s.rate(), next.rate(),
          floor_ratios[f].back());
      without = next;
    }
  }
  for (pid_t server : servers) {
    kill(server, SIGKILL);
    waitpid(server, nullptr, 0);
  }

  for (size_t v = 0; v < nv; ++v) {
    const char* label = nv == 1 ? "" : v == 0 ? " (network-toml)" : " (compare-toml)";
    std::printf(
        "rate with Leaf%s / without (median of %d rounds): %.3f (%.3f..%.3f; goal >= 0.95)\n",
        label, rounds, median(ratios[v]), *std::min_element(ratios[v].begin(), ratios[v].end()),
        *std::max_element(ratios[v].begin(), ratios[v].end()));
    std::printf("leaf-host CPU per connection%s (median): %.1f us\n", label,
                median(host_cpu_per_conn[v]));
    if (bpf_stats) {
      std::printf("BPF run time%s, %llu connections with statistics on (all rounds):\n", label,
                  static_cast<unsigned long long>(stats_n * rounds));
      leaf::bench::print_totals(bpf[v], static_cast<double>(stats_n * rounds), "conn");
    }
  }
  for (size_t f = 0; f < floors.size(); ++f)
    std::printf(
        "rate with empty programs on the %s hooks / without (median of %d rounds): %.3f "
        "(%.3f..%.3f): the floor\n",
        floors[f].c_str(), rounds, median(floor_ratios[f]),
        *std::min_element(floor_ratios[f].begin(), floor_ratios[f].end()),
        *std::max_element(floor_ratios[f].begin(), floor_ratios[f].end()));
  return match ? 0 : 1;
}
