// Traffic workloads with and without the network plugin, in one run:
//
//   bench_traffic [--seconds S] [--rounds R] [--only stream|udp|idle]
//                 [--connections N] [--idle-seconds S] [--leaf-host PATH]
//                 [--plugin PATH] [--compare PATH] [--network-toml TEXT]
//                 [--compare-toml TEXT] [--compare-leaf-toml TEXT]
//                 [--bpf-stats 0|1] [--cpus A,B|none]
//                 [--floor fentry,traced,traced_sock|none]
//
// Runs as root. Three parts:
//   stream  one loopback TCP connection at full speed (64 KiB writes) for S
//           seconds: bytes/s;
//   udp     a UDP flood over loopback (512-byte datagrams, unconnected
//           sendto/recvfrom) for S seconds: datagrams the receiver got per
//           second; then, in the same phase, one thread sending and reading
//           its own datagrams (sendto + recvfrom, no wakeups, no second
//           process): its CPU per pair, the steadiest figure of what the
//           BPF programs cost a datagram;
//   idle    N (default 10,000) open loopback connections, each moving a byte
//           every 5 s, under leaf-host at the default interval (30 s) for
//           --idle-seconds (default 65: two tcp_stats rounds of N * 2
//           sockets, each connection end reporting in each): leaf-host's CPU.
// stream and udp run R rounds (default 10); each round measures the workload
// without Leaf (twice) and with leaf-host running the plugin (default
// configuration: tcp_stats and udp_flow on, plus --network-toml), and with
// the --compare plugin when given (the same plugin when only --compare-toml
// is: its network.toml then replaces --network-toml, e.g. `[hooks] skip =
// ["fentry", "kprobe"]` to weigh one hook path against another in the same
// run; --compare-leaf-toml gives it a leaf.toml, e.g. `[metrics] bpf_stats =
// false`), in an order that rotates from round to round (slow drifts of
// a shared machine hit each variant alike). A round's ratio is its phase
// with Leaf over its first phase without; the median ratio is the figure,
// and the spread (min..max) says how far to trust it. The second phase
// without Leaf over the first ("A/A") is what the method reads when
// nothing changes: a median away from 1 or a wide A/A spread says the
// with/without figure is noise of that size. With --bpf-stats 1 (default),
// one more phase with Leaf per variant, not in the ratios, runs with the
// kernel's BPF run-time statistics on: each program's runs and ns per
// datagram (udp) or per MiB (stream). --floor adds, to the udp part, one
// phase per named set of empty programs on the plugin's UDP hooks
// (empty_udp_hooks.bpf.c; default "fentry,traced", a set that cannot attach
// here is said and left out; traced_sock: the tracepoint path without the
// syscall exits): what being attached costs before any
// accounting, the best any per-datagram program on those hooks can do.
// The two ends of stream and udp are pinned (--cpus A,B;
// default: the last two CPUs on machines with 4 or more, else none): the
// sender/writer and the one-thread pairs on A, the receiver/reader on B,
// leaf-host on any CPU. Unpinned, a phase's CPU per unit moved by a third
// on a 16-vCPU VM with the CPUs the scheduler happened to pick (one-thread
// pairs without Leaf: 1,899..2,900 ns).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bpf_prog_stats.hpp"
#include "empty_hooks.hpp"
#include "empty_udp_hooks.skel.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The CPUs the workload's two ends run on (-1: not pinned), and the
// affinity bench_traffic started with (leaf-host and the idle part get it).
int g_cpu_a = -1, g_cpu_b = -1;
cpu_set_t g_all_cpus;

void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bench_traffic: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double cpu_seconds(pid_t pid) {
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto p = stat.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream in(stat.substr(p + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

class LeafHostProcess {
 public:
  // `leaf_toml`: leaf-host's own leaf.toml (empty: none, every default).
  LeafHostProcess(const std::string& binary, const std::string& plugin, const std::string& toml,
                  const std::string& leaf_toml = "") {
    char tmpl[] = "/tmp/leaf-bench-traffic-XXXXXX";
    if (!mkdtemp(tmpl)) fail("mkdtemp");
    dir_ = tmpl;
    fs::create_directories(dir_ + "/conf.d");
    fs::create_directories(dir_ + "/plugins");
    chmod((dir_ + "/plugins").c_str(), 0755);
    fs::create_symlink(fs::absolute(plugin), dir_ + "/plugins/leaf_network.so");
    std::ofstream(dir_ + "/conf.d/network.toml") << toml << "\n";
    if (!leaf_toml.empty()) std::ofstream(dir_ + "/conf.d/leaf.toml") << leaf_toml << "\n";
    pid_ = fork();
    if (pid_ < 0) fail("fork");
    if (pid_ == 0) {
      sched_setaffinity(0, sizeof(g_all_cpus), &g_all_cpus);
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
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  pid_t pid() const { return pid_; }
  // Exits (with leaf-host's log) when leaf-host is gone: a phase "with
  // Leaf" that ran without it would read as free.
  void check_alive() const {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      std::fprintf(stderr, "leaf-host exited during a phase (status %d):\n%s\n", st,
                   slurp(dir_ + "/err.log").c_str());
      std::exit(1);
    }
  }
  // The hook each UDP probe attached with ("udp_send fentry, udp_recv
  // fentry"), from leaf-host's log: which path the figures measured.
  std::string udp_hooks() const {
    std::istringstream in(slurp(dir_ + "/err.log"));
    std::string line, out;
    for (const char* probe : {"udp_send", "udp_recv", "udp_addr"}) {
      in.clear();
      in.seekg(0);
      std::string needle = std::string("probe ") + probe + " attached via ";
      while (std::getline(in, line)) {
        auto p = line.find(needle);
        if (p == std::string::npos) continue;
        std::string hook = line.substr(p + needle.size());
        hook = hook.substr(0, hook.find_first_of(" ("));
        out += (out.empty() ? "" : ", ") + std::string(probe) + " " + hook;
        break;
      }
    }
    return out.empty() ? "none attached" : out;
  }
  // Lines of one event type written so far.
  uint64_t count(const std::string& type) const {
    std::ifstream in(dir_ + "/out.jsonl");
    std::string line, needle = "\"type\":\"" + type + "\"";
    uint64_t n = 0;
    while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
    return n;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// CPU time (user + system, ns) of the calling thread or process so far.
uint64_t cpu_ns(int who) {
  rusage u{};
  getrusage(who, &u);
  auto ns = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull +
           static_cast<uint64_t>(t.tv_usec) * 1000ull;
  };
  return ns(u.ru_utime) + ns(u.ru_stime);
}

// A workload's figures: units (bytes, datagrams) per second of wall time,
// and the CPU time both ends spent per unit (the BPF programs run in their
// syscalls: they are in it). The CPU figure is what the plugin costs the
// workload; other processes on a shared machine move it much less than
// the rate, which they slow down by taking the CPUs.
struct Rate {
  double per_s = 0, cpu_ns_per_unit = 0;
  double pair_cpu_ns = 0;  // udp: one thread's CPU per sendto + recvfrom pair
  uint64_t units = 0;      // datagrams read, bytes read
};

// The reader's CPU time (ns) and units, written to a pipe at its end.
struct ReaderReport {
  uint64_t units, cpu_ns;
};

// Bytes per second through one loopback TCP connection for `seconds`.
Rate stream(double seconds) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(0);
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(l, 1) != 0) fail("listen");
  a = loopback(port_of(l));
  int pipefd[2];
  if (pipe(pipefd) != 0) fail("pipe");
  pid_t reader = fork();
  if (reader == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pin(g_cpu_b);
    close(pipefd[0]);
    int fd = accept(l, nullptr, nullptr);
    std::vector<char> buf(1 << 16);
    uint64_t c0 = cpu_ns(RUSAGE_SELF), got = 0;
    ssize_t n;
    while ((n = read(fd, buf.data(), buf.size())) > 0) got += static_cast<uint64_t>(n);
    ReaderReport rep{got, cpu_ns(RUSAGE_SELF) - c0};
    if (write(pipefd[1], &rep, sizeof(rep)) != sizeof(rep)) _exit(1);
    _exit(0);
  }
  close(pipefd[1]);
  close(l);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) fail("connect");
  std::vector<char> buf(1 << 16, 'x');
  uint64_t bytes = 0, c0 = cpu_ns(RUSAGE_THREAD);
  auto t0 = Clock::now();
  auto end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    ssize_t n = write(fd, buf.data(), buf.size());
    if (n <= 0) fail("write");
    bytes += static_cast<uint64_t>(n);
  }
  double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  uint64_t writer_cpu = cpu_ns(RUSAGE_THREAD) - c0;
  close(fd);
  ReaderReport rep{};
  if (read(pipefd[0], &rep, sizeof(rep)) != sizeof(rep)) fail("reader");
  close(pipefd[0]);
  waitpid(reader, nullptr, 0);
  return {static_cast<double>(bytes) / dt,
          static_cast<double>(writer_cpu + rep.cpu_ns) / static_cast<double>(bytes), 0, bytes};
}

// Datagrams per second a receiver got from a sendto() flood.
Rate udp_flood(double seconds) {
  int r = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a = loopback(0);
  int big = 8 << 20;
  setsockopt(r, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  if (bind(r, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) fail("bind");
  a = loopback(port_of(r));
  int pipefd[2];
  if (pipe(pipefd) != 0) fail("pipe");
  pid_t receiver = fork();
  if (receiver == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pin(g_cpu_b);
    close(pipefd[0]);
    timeval tv{0, 200000};
    setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[2048];
    uint64_t got = 0, c0 = cpu_ns(RUSAGE_SELF);
    sockaddr_in from{};
    socklen_t flen = sizeof(from);
    while (recvfrom(r, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen) > 0) ++got;
    // Less the last read's 200 ms wait (a sleep: no CPU).
    ReaderReport rep{got, cpu_ns(RUSAGE_SELF) - c0};
    if (write(pipefd[1], &rep, sizeof(rep)) != sizeof(rep)) _exit(1);
    _exit(0);
  }
  close(pipefd[1]);
  close(r);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  char buf[512] = {};
  uint64_t sent = 0, c0 = cpu_ns(RUSAGE_THREAD);
  auto t0 = Clock::now();
  auto end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end)
    sent += sendto(s, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) > 0;
  double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  uint64_t sender_cpu = cpu_ns(RUSAGE_THREAD) - c0;
  close(s);
  ReaderReport rep{};
  if (read(pipefd[0], &rep, sizeof(rep)) != sizeof(rep)) fail("receiver");
  close(pipefd[0]);
  waitpid(receiver, nullptr, 0);
  // Per datagram sent and received: the sender's CPU per datagram sent
  // plus the receiver's per datagram read (a full receive buffer drops
  // some: they cost the sender only).
  double cpu = (sent ? static_cast<double>(sender_cpu) / static_cast<double>(sent) : 0) +
               (rep.units ? static_cast<double>(rep.cpu_ns) / static_cast<double>(rep.units) : 0);
  return {static_cast<double>(rep.units) / dt, cpu, 0, rep.units};
}

// One thread sends 512-byte datagrams to itself over loopback (unconnected
// sendto, recvfrom with the source), `n` pairs in each of `reps` runs: its
// CPU ns per pair, the least of the runs (other processes only ever add to
// a run's CPU: cache and frequency effects, interrupts on its CPU).
double udp_pair_cpu(uint64_t n, int reps) {
  int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a = loopback(0);
  if (bind(r, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) fail("bind");
  a = loopback(port_of(r));
  char buf[2048] = {};
  double best = 0;
  for (int k = 0; k < reps; ++k) {
    uint64_t c0 = cpu_ns(RUSAGE_THREAD);
    for (uint64_t i = 0; i < n; ++i) {
      if (sendto(s, buf, 512, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 512) fail("sendto");
      sockaddr_in from{};
      socklen_t flen = sizeof(from);
      if (recvfrom(r, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen) != 512)
        fail("recvfrom");
    }
    double per = static_cast<double>(cpu_ns(RUSAGE_THREAD) - c0) / static_cast<double>(n);
    best = k == 0 ? per : std::min(best, per);
  }
  close(r);
  close(s);
  return best;
}

// n loopback connections, open until the returned fds close: the client
// ends here, the server ends in a child (one process could not hold both:
// RLIMIT_NOFILE). The child echoes every byte it reads.
std::vector<int> open_connections(uint64_t n, pid_t* child) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  if (rl.rlim_cur < n + 64 || setrlimit(RLIMIT_NOFILE, &rl) != 0) fail("RLIMIT_NOFILE too low");
  int l = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(0);
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(l, 4096) != 0)
    fail("listen");
  a = loopback(port_of(l));
  *child = fork();
  if (*child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::vector<int> fds;
    for (uint64_t i = 0; i < n; ++i) {
      int s = accept(l, nullptr, nullptr);
      if (s < 0) fail("accept");
      fds.push_back(s);
    }
    char c;
    while (true)
      for (int fd : fds)
        if (read(fd, &c, 1) != 1 || write(fd, &c, 1) != 1) _exit(0);
  }
  close(l);
  std::vector<int> fds;
  for (uint64_t i = 0; i < n; ++i) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) fail("connect");
    fds.push_back(c);
  }
  return fds;
}

// What a phase "with Leaf" runs: the plugin, its network.toml and leaf-host's
// leaf.toml (empty: the defaults); or, with `floor` set, no leaf-host but
// that set of empty programs (EmptyUdpHooks).
struct Variant {
  std::string plugin, toml, floor, leaf_toml;
};

// Empty programs on one set of the plugin's UDP hooks (empty_udp_hooks.bpf.c).
using EmptyUdpHooks = leaf::bench::EmptyHooks<empty_udp_hooks_bpf>;

// The median and the extremes of `v` (not empty).
struct Spread {
  double median, min, max;
};
Spread spread(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {med, v.front(), v.back()};
}

// One-thread pairs per udp phase: 3 runs of 40,000 (~0.4 s on a 2-core VM).
constexpr uint64_t kPairs = 40000;
constexpr int kPairRuns = 3;

// One phase: the workload for `seconds` (udp: then the one-thread pairs).
Rate measure(bool is_stream, double seconds) {
  if (is_stream) return stream(seconds);
  Rate r = udp_flood(seconds);
  r.pair_cpu_ns = udp_pair_cpu(kPairs, kPairRuns);
  return r;
}

void print_spread(const char* what, const std::vector<double>& v) {
  Spread q = spread(v);
  std::printf("%s median %.3f (%.3f..%.3f)", what, q.median, q.min, q.max);
}

// One phase with leaf-host running `plugin` and the kernel's BPF run-time
// statistics on: what each of leaf-host's programs cost per datagram (udp)
// or per MiB (stream). Not in the ratios (the statistics cost a little).
void bpf_stats_phase(bool is_stream, double seconds, const std::string& host,
                     const Variant& variant, const char* label) {
  LeafHostProcess leaf(host, variant.plugin, variant.toml, variant.leaf_toml);
  leaf::bench::BpfStatsOn on;
  if (!on.ok()) {
    std::printf("  BPF run-time statistics: not available (%s)\n", std::strerror(errno));
    return;
  }
  auto ids = leaf::bench::prog_ids_of(leaf.pid());
  auto before = leaf::bench::snapshot(ids);
  Rate r = is_stream ? stream(seconds) : udp_flood(seconds);
  auto after = leaf::bench::snapshot(ids);
  leaf.check_alive();
  leaf::bench::ProgTotals totals;
  leaf::bench::add_delta(totals, before, after);
  double units =
      is_stream ? static_cast<double>(r.units) / (1 << 20) : static_cast<double>(r.units);
  std::printf("  BPF run time with statistics on (%s: one more phase, %s):\n", label,
              is_stream ? "per MiB read" : "per datagram read; udp_send runs per datagram sent");
  leaf::bench::print_totals(totals, units, is_stream ? "MiB" : "dgram");
}

// One part (stream or udp): `rounds` rounds of a phase without Leaf, one
// per plugin in `variants` and a second one without Leaf, in an order
// rotating from round to round. Per round and variant: the rate with over
// the rate without, and the CPU per unit without over with (1 = free; the
// same scale: 0.95 means the workload spends 1/0.95 as much CPU per unit
// with the plugin); udp adds the one-thread pair's CPU ratio.
void run_part(bool is_stream, double seconds, int rounds, const std::string& host,
              const std::vector<Variant>& variants, bool bpf_stats) {
  size_t nv = variants.size(), phases = nv + 2;  // 0: without, 1..nv: variants, nv+1: without
  std::vector<std::vector<double>> ratios(nv), cpu_ratios(nv), pair_ratios(nv);
  std::vector<double> without_rates, without_cpu, without_pair, aa, aa_cpu, aa_pair;
  double scale = is_stream ? 1e6 : 1;
  const char* unit = is_stream ? "MB/s" : "datagrams/s";
  const char* per = is_stream ? "ns/KiB" : "ns/datagram";
  double per_scale = is_stream ? 1024 : 1;
  std::printf("%s, %d rounds x %zu phases x %.1f s (%s; CPU of both ends in %s%s):\n",
              is_stream ? "loopback TCP stream (64 KiB writes)"
                        : "UDP flood over loopback (512-byte sendto/recvfrom)",
              rounds, phases, seconds, unit, per,
              is_stream ? "" : "; one thread's sendto+recvfrom pair in ns CPU");
  if (g_cpu_a >= 0)
    std::printf(
        "  pinned: sender/writer and one-thread pairs on CPU %d, receiver/reader on CPU %d\n",
        g_cpu_a, g_cpu_b);
  auto label = [&](size_t v) {  // of variant v (0-based)
    return !variants[v].floor.empty() ? "floor-" + variants[v].floor
           : v == 0                   ? std::string("plugin")
                                      : std::string("compare");
  };
  auto name = [&](size_t v) {  // of phase v
    return v == 0 || v == nv + 1 ? std::string("without")
           : v == 1              ? std::string("with")
                                 : label(v - 1);
  };
  for (int r = 0; r < rounds; ++r) {
    std::vector<Rate> rate(phases);
    for (size_t i = 0; i < phases; ++i) {
      size_t v = (i + static_cast<size_t>(r)) % phases;
      if (v == 0 || v == nv + 1) {
        rate[v] = measure(is_stream, seconds);
      } else if (!variants[v - 1].floor.empty()) {
        EmptyUdpHooks floor(variants[v - 1].floor);
        if (!floor.ok()) {
          std::fprintf(stderr, "bench_traffic: floor %s: %s\n", variants[v - 1].floor.c_str(),
                       floor.why().c_str());
          std::exit(1);
        }
        rate[v] = measure(is_stream, seconds);
      } else {
        LeafHostProcess leaf(host, variants[v - 1].plugin, variants[v - 1].toml,
                             variants[v - 1].leaf_toml);
        rate[v] = measure(is_stream, seconds);
        leaf.check_alive();
        if (r == 0 && !is_stream)
          std::printf("  hooks (%s): %s\n", label(v - 1).c_str(), leaf.udp_hooks().c_str());
      }
    }
    const Rate& w = rate[0];
    without_rates.push_back(w.per_s);
    without_cpu.push_back(w.cpu_ns_per_unit);
    without_pair.push_back(w.pair_cpu_ns);
    std::printf("  round %d:", r + 1);
    for (size_t v = 0; v < phases; ++v) {
      std::printf("%s %s %.0f (%.0f", v ? "," : "", name(v).c_str(), rate[v].per_s / scale,
                  rate[v].cpu_ns_per_unit * per_scale);
      if (!is_stream) std::printf("; %.0f", rate[v].pair_cpu_ns);
      std::printf(")");
    }
    std::printf("\n");
    for (size_t v = 1; v <= nv; ++v) {
      ratios[v - 1].push_back(rate[v].per_s / w.per_s);
      cpu_ratios[v - 1].push_back(w.cpu_ns_per_unit / rate[v].cpu_ns_per_unit);
      if (!is_stream) pair_ratios[v - 1].push_back(w.pair_cpu_ns / rate[v].pair_cpu_ns);
    }
    const Rate& w2 = rate[nv + 1];
    aa.push_back(w2.per_s / w.per_s);
    aa_cpu.push_back(w.cpu_ns_per_unit / w2.cpu_ns_per_unit);
    if (!is_stream) aa_pair.push_back(w.pair_cpu_ns / w2.pair_cpu_ns);
  }
  Spread base = spread(without_rates), base_cpu = spread(without_cpu);
  std::printf("  without Leaf: median %.0f %s (%.0f..%.0f), %.0f %s", base.median / scale, unit,
              base.min / scale, base.max / scale, base_cpu.median * per_scale, per);
  if (!is_stream) std::printf(", one-thread pair %.0f ns", spread(without_pair).median);
  std::printf("\n");
  const char* part = is_stream ? "stream" : "udp";
  for (size_t v = 0; v <= nv; ++v) {
    bool is_aa = v == nv;
    std::printf("  %s %s:", part, is_aa ? "A/A (without / without, the noise)" : label(v).c_str());
    print_spread(" throughput ratio", is_aa ? aa : ratios[v]);
    print_spread("; CPU-cost ratio", is_aa ? aa_cpu : cpu_ratios[v]);
    if (!is_stream)
      print_spread("; one-thread pair CPU-cost ratio", is_aa ? aa_pair : pair_ratios[v]);
    std::printf("\n");
  }
  if (bpf_stats)
    for (size_t v = 0; v < nv; ++v)
      if (variants[v].floor.empty())
        bpf_stats_phase(is_stream, seconds, host, variants[v], label(v).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  uint64_t conns = 10000;
  std::string host = LEAF_BENCH_HOST_BINARY, plugin = LEAF_BENCH_PLUGIN, compare, toml, only;
  std::string compare_toml, compare_leaf_toml;
  bool has_compare_toml = false;
  int rounds = 10;
  double idle_seconds = 65;
  bool bpf_stats = true;
  std::string cpus, floors = "fentry,traced";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--seconds")
      seconds = std::stod(argv[i + 1]);
    else if (k == "--connections")
      conns = std::stoull(argv[i + 1]);
    else if (k == "--leaf-host")
      host = argv[i + 1];
    else if (k == "--plugin")
      plugin = argv[i + 1];
    else if (k == "--network-toml")
      toml = argv[i + 1];
    else if (k == "--compare-toml") {
      compare_toml = argv[i + 1];
      has_compare_toml = true;
    } else if (k == "--compare-leaf-toml") {
      compare_leaf_toml = argv[i + 1];
    } else if (k == "--only")
      only = argv[i + 1];
    else if (k == "--rounds")
      rounds = std::max(1, std::stoi(argv[i + 1]));
    else if (k == "--compare")
      compare = argv[i + 1];
    else if (k == "--idle-seconds")
      idle_seconds = std::stod(argv[i + 1]);
    else if (k == "--bpf-stats")
      bpf_stats = std::string(argv[i + 1]) != "0";
    else if (k == "--cpus")
      cpus = argv[i + 1];
    else if (k == "--floor")
      floors = argv[i + 1];
    else {
      std::fprintf(
          stderr,
          "usage: bench_traffic [--seconds S] [--rounds R] [--only stream|udp|idle] "
          "[--connections N] [--idle-seconds S] [--leaf-host PATH] [--plugin PATH] "
          "[--compare PATH] [--network-toml TEXT] [--compare-toml TEXT] [--compare-leaf-toml TEXT] "
          "[--bpf-stats 0|1] [--cpus A,B|none] [--floor fentry,traced,traced_sock|none]\n");
      return 2;
    }
  }
  std::vector<Variant> variants = {{plugin, toml, "", ""}};
  if (!compare.empty() || has_compare_toml || !compare_leaf_toml.empty())
    variants.push_back({compare.empty() ? plugin : compare, has_compare_toml ? compare_toml : toml,
                        "", compare_leaf_toml});
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_traffic: needs root (BPF)\n");
    return 77;
  }
  std::vector<Variant> udp_variants = variants;
  std::string set;
  for (std::istringstream in(floors == "none" ? "" : floors); std::getline(in, set, ',');) {
    if (set != "fentry" && set != "traced" && set != "traced_sock") {
      std::fprintf(stderr,
                   "bench_traffic: --floor: fentry, traced, traced_sock or none, not '%s'\n",
                   set.c_str());
      return 2;
    }
    EmptyUdpHooks probe(set);
    if (probe.ok())
      udp_variants.push_back({"", "", set, ""});
    else
      std::printf("floor %s: cannot attach here (%s): left out\n", set.c_str(),
                  probe.why().c_str());
  }

  sched_getaffinity(0, sizeof(g_all_cpus), &g_all_cpus);
  if (cpus != "none") {
    int n = CPU_COUNT(&g_all_cpus);
    std::vector<int> allowed;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &g_all_cpus)) allowed.push_back(c);
    if (!cpus.empty()) {
      if (std::sscanf(cpus.c_str(), "%d,%d", &g_cpu_a, &g_cpu_b) != 2 || g_cpu_a == g_cpu_b) {
        std::fprintf(stderr, "bench_traffic: --cpus A,B (two different CPUs) or none\n");
        return 2;
      }
    } else if (n >= 4) {  // on 2-3 CPUs shared with other work, pinning cannot dodge it
      g_cpu_a = allowed[allowed.size() - 2];
      g_cpu_b = allowed.back();
    }
  }
  for (const char* part : {"stream", "udp"}) {
    if (!only.empty() && only != part) continue;
    bool is_stream = std::string(part) == "stream";
    pin(g_cpu_a);
    run_part(is_stream, seconds, rounds, host, is_stream ? variants : udp_variants, bpf_stats);
    sched_setaffinity(0, sizeof(g_all_cpus), &g_all_cpus);
  }
  if (!only.empty() && only != "idle") return 0;

  pid_t echo = -1;
  std::vector<int> fds = open_connections(conns, &echo);
  {
    LeafHostProcess leaf(host, plugin, toml);
    double cpu0 = cpu_seconds(leaf.pid());
    auto t0 = Clock::now(), end = t0 + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(idle_seconds));
    char c = 'x';
    // Every connection moves a byte each way in every interval: each round
    // reports every end (the worst case for tcp_stats).
    while (Clock::now() < end) {
      for (int fd : fds)
        if (write(fd, &c, 1) != 1) fail("write");
      for (int fd : fds)
        if (read(fd, &c, 1) != 1) fail("read");
      std::this_thread::sleep_for(std::chrono::seconds(5));
    }
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    double cpu = cpu_seconds(leaf.pid()) - cpu0;
    std::printf("tcp_stats with %llu open connections (%llu sockets), interval 30 s, %.0f s:\n",
                static_cast<unsigned long long>(conns), static_cast<unsigned long long>(2 * conns),
                wall);
    std::printf("  tcp_stats events: %llu; leaf-host CPU %.2f s = %.2f%% of one core\n",
                static_cast<unsigned long long>(leaf.count("tcp_stats")), cpu, 100 * cpu / wall);
  }
  for (int fd : fds) close(fd);
  waitpid(echo, nullptr, 0);
  return 0;
}
