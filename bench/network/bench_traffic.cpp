// Traffic workloads with and without the network plugin, in one run:
//
//   bench_traffic [--seconds S] [--connections N] [--leaf-host PATH] [--plugin PATH]
//
// Runs as root. Three parts:
//   stream  one loopback TCP connection at full speed (64 KiB writes) for S
//           seconds: bytes/s without Leaf, with leaf-host running the network
//           plugin (default configuration: tcp_stats and udp_flow on), and
//           without again;
//   udp     a UDP flood over loopback (512-byte datagrams, unconnected
//           sendto/recvfrom) for S seconds, the same three phases: datagrams
//           the receiver got per second;
//   idle10k N (default 10,000) open loopback connections, each moving a byte
//           every few seconds, under leaf-host at the default interval (30 s)
//           for 65 s: leaf-host's CPU (two tcp_stats rounds of N * 2 sockets,
//           each connection end reporting in both).
// Absolute figures are noisy on small machines: compare the ratios.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

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
  LeafHostProcess(const std::string& binary, const std::string& plugin, const std::string& toml) {
    char tmpl[] = "/tmp/leaf-bench-traffic-XXXXXX";
    if (!mkdtemp(tmpl)) fail("mkdtemp");
    dir_ = tmpl;
    fs::create_directories(dir_ + "/conf.d");
    fs::create_directories(dir_ + "/plugins");
    chmod((dir_ + "/plugins").c_str(), 0755);
    fs::create_symlink(fs::absolute(plugin), dir_ + "/plugins/leaf_network.so");
    std::ofstream(dir_ + "/conf.d/network.toml") << toml << "\n";
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
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  pid_t pid() const { return pid_; }
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

// Bytes per second through one loopback TCP connection for `seconds`.
double stream(double seconds) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(0);
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(l, 1) != 0) fail("listen");
  a = loopback(port_of(l));
  pid_t reader = fork();
  if (reader == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = accept(l, nullptr, nullptr);
    std::vector<char> buf(1 << 16);
    while (read(fd, buf.data(), buf.size()) > 0) {
    }
    _exit(0);
  }
  close(l);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) fail("connect");
  std::vector<char> buf(1 << 16, 'x');
  uint64_t bytes = 0;
  auto t0 = Clock::now();
  auto end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    ssize_t n = write(fd, buf.data(), buf.size());
    if (n <= 0) fail("write");
    bytes += static_cast<uint64_t>(n);
  }
  double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  close(fd);
  waitpid(reader, nullptr, 0);
  return static_cast<double>(bytes) / dt;
}

// Datagrams per second a receiver got from a sendto() flood.
double udp_flood(double seconds) {
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
    close(pipefd[0]);
    timeval tv{0, 200000};
    setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[2048];
    uint64_t got = 0;
    sockaddr_in from{};
    socklen_t flen = sizeof(from);
    while (recvfrom(r, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen) > 0) ++got;
    if (write(pipefd[1], &got, sizeof(got)) != sizeof(got)) _exit(1);
    _exit(0);
  }
  close(pipefd[1]);
  close(r);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  char buf[512] = {};
  auto t0 = Clock::now();
  auto end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end)
    sendto(s, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  close(s);
  uint64_t got = 0;
  if (read(pipefd[0], &got, sizeof(got)) != sizeof(got)) fail("receiver");
  close(pipefd[0]);
  waitpid(receiver, nullptr, 0);
  return static_cast<double>(got) / dt;
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

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  uint64_t conns = 10000;
  std::string host = LEAF_BENCH_HOST_BINARY, plugin = LEAF_BENCH_PLUGIN, toml, only;
  int rounds = 1;
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
    else if (k == "--only")
      only = argv[i + 1];
    else if (k == "--rounds")
      rounds = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr,
                   "usage: bench_traffic [--seconds S] [--connections N] [--leaf-host PATH] "
                   "[--plugin PATH] [--network-toml TEXT] [--only stream|udp|idle] [--rounds R]\n");
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_traffic: needs root (BPF)\n");
    return 77;
  }

  // Phases alternate without / with Leaf, `rounds` times, then a last
  // phase without: the baseline is the mean of the phases without.
  for (const char* part : {"stream", "udp"}) {
    if (!only.empty() && only != part) continue;
    bool is_stream = std::string(part) == "stream";
    auto measure = [&] { return is_stream ? stream(seconds) : udp_flood(seconds); };
    double without = 0, with = 0;
    std::string trace;
    for (int r = 0; r < rounds; ++r) {
      double w0 = measure();
      double w1;
      {
        LeafHostProcess leaf(host, plugin, toml);
        w1 = measure();
      }
      without += w0;
      with += w1;
      trace += " " + std::to_string(static_cast<long long>(w0)) + "/" +
               std::to_string(static_cast<long long>(w1));
    }
    double last = measure();
    double base = (without + last) / (rounds + 1), loaded = with / rounds;
    if (is_stream)
      std::printf(
          "loopback TCP stream (64 KiB writes), %d x %.0f s: without %.0f MB/s, with "
          "%.0f MB/s, ratio %.3f\n",
          rounds, seconds, base / 1e6, loaded / 1e6, loaded / base);
    else
      std::printf(
          "UDP flood over loopback (512-byte sendto/recvfrom), %d x %.0f s: without %.0f "
          "datagrams/s, with %.0f, ratio %.3f\n",
          rounds, seconds, base, loaded, loaded / base);
    std::printf("  phases without/with:%s, last without %.0f\n", trace.c_str(), last);
  }
  if (!only.empty() && only != "idle") return 0;

  pid_t echo = -1;
  std::vector<int> fds = open_connections(conns, &echo);
  {
    LeafHostProcess leaf(host, plugin, toml);
    double cpu0 = cpu_seconds(leaf.pid());
    auto t0 = Clock::now(), end = t0 + std::chrono::seconds(65);
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
