#include "tcp_peers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace leaf::network::test {
namespace {

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "peer %d: %s: %s\n", getpid(), what, std::strerror(errno));
  _exit(2);
}

void enter_netns(const std::string& name) {
  if (name.empty()) return;
  int fd = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) die("setns");
  close(fd);
}

// Fills a sockaddr for family 4 or 6.
socklen_t make_addr(int family, const std::string& address, uint16_t port, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof(*ss));
  if (family == 4) {
    auto* a = reinterpret_cast<sockaddr_in*>(ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, address.c_str(), &a->sin_addr) != 1) die("inet_pton");
    return sizeof(*a);
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  if (inet_pton(AF_INET6, address.c_str(), &a->sin6_addr) != 1) die("inet_pton");
  return sizeof(*a);
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) die("getsockname");
  return ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                 : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

void write_all(int fd, uint64_t n) {
  std::vector<char> buf(8192, 'x');
  while (n > 0) {
    ssize_t w = write(fd, buf.data(), n < buf.size() ? n : buf.size());
    if (w <= 0) die("write");
    n -= static_cast<uint64_t>(w);
  }
}

void read_exactly(int fd, uint64_t n) {
  std::vector<char> buf(8192);
  while (n > 0) {
    ssize_t r = read(fd, buf.data(), n < buf.size() ? n : buf.size());
    if (r <= 0) die("read");
    n -= static_cast<uint64_t>(r);
  }
}

void read_until_eof(int fd) {
  char buf[4096];
  while (true) {
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r == 0) return;
    if (r < 0) die("read (waiting for EOF)");
  }
}

}  // namespace

ChildProcess::ChildProcess(std::function<void(ChildProcess&)> body) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  std::fflush(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    close(p[0]);
    fd_ = p[1];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    body(*this);
    _exit(0);
  }
  close(p[1]);
  fd_ = p[0];
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && status_ < 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) close(fd_);
}

void ChildProcess::send(const PeerReport& r) {
  if (write(fd_, &r, sizeof(r)) != static_cast<ssize_t>(sizeof(r))) die("report");
}

PeerReport ChildProcess::receive() {
  PeerReport r;
  size_t got = 0;
  while (got < sizeof(r)) {
    ssize_t n = read(fd_, reinterpret_cast<char*>(&r) + got, sizeof(r) - got);
    if (n <= 0)
      throw std::runtime_error("peer " + std::to_string(pid_) + " exited without reporting");
    got += static_cast<size_t>(n);
  }
  return r;
}

int ChildProcess::wait() {
  if (status_ >= 0) return status_;
  int st = 0;
  if (waitpid(pid_, &st, 0) != pid_) return -1;
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return status_;
}

void run_server(ChildProcess& self, const ServerSpec& spec) {
  prctl(PR_SET_NAME, "leafnet-server");
  enter_netns(spec.netns);
  int lfd = socket(spec.family == 4 ? AF_INET : AF_INET6, SOCK_STREAM, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage ss;
  socklen_t len = make_addr(spec.family, spec.address, 0, &ss);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&ss), len) != 0) die("bind");
  if (listen(lfd, 1024) != 0) die("listen");
  if (spec.spin_accept && fcntl(lfd, F_SETFL, O_NONBLOCK) != 0) die("fcntl");
  uint16_t port = local_port(lfd);
  self.send({port, 0, 0});
  for (int i = 0; i < spec.connections; ++i) {
    int fd;
    // The accepted socket is blocking: accept() does not pass O_NONBLOCK on.
    while ((fd = accept(lfd, nullptr, nullptr)) < 0 && spec.spin_accept && errno == EAGAIN) {
    }
    if (fd < 0) die("accept");
    uint64_t accepted = now_ns();
    read_exactly(fd, spec.expect_bytes);
    write_all(fd, spec.reply_bytes);
    read_until_eof(fd);
    uint64_t held = now_ns() - accepted;
    close(fd);
    self.send({port, held, 0});
  }
  close(lfd);
}

void run_client(ChildProcess& self, const ClientSpec& spec) {
  prctl(PR_SET_NAME, "leafnet-client");
  enter_netns(spec.netns);
  for (int i = 0; i < spec.connections; ++i) {
    int fd = socket(spec.family == 4 ? AF_INET : AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    sockaddr_storage ss;
    socklen_t len = make_addr(spec.family, spec.address, spec.port, &ss);
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      uint64_t err = static_cast<uint64_t>(errno);
      self.send({local_port(fd), 0, err});
      close(fd);
      continue;
    }
    uint64_t connected = now_ns();
    uint16_t port = local_port(fd);
    write_all(fd, spec.send_bytes);
    read_exactly(fd, spec.expect_bytes);
    if (spec.report_exchanged) self.send({port, 0, 0});
    if (spec.hold_ms) std::this_thread::sleep_for(std::chrono::milliseconds(spec.hold_ms));
    uint64_t held = now_ns() - connected;
    close(fd);
    self.send({port, held, 0});
  }
}

void shell(const std::string& command) {
  std::string cmd = command + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen: " + command);
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  int st = pclose(p);
  if (st != 0) throw std::runtime_error("'" + command + "' failed: " + out);
}

uint64_t tcp_retrans_segs(const std::string& netns) {
  // Read on a thread of its own: setns(CLONE_NEWNET) moves only the calling
  // thread, and /proc/thread-self/net is that thread's namespace.
  std::string header, values, error;
  std::thread reader([&] {
    if (!netns.empty()) {
      int fd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) error = std::strerror(errno);
      if (fd >= 0) close(fd);
      if (!error.empty()) return;
    }
    std::ifstream in("/proc/thread-self/net/snmp");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("Tcp: ", 0) != 0) continue;
      (header.empty() ? header : values) = line;
    }
  });
  reader.join();
  if (!error.empty()) throw std::runtime_error("setns into " + netns + ": " + error);
  std::istringstream names(header), counts(values);
  for (std::string name, count; names >> name && counts >> count;)
    if (name == "RetransSegs") return std::stoull(count);
  throw std::runtime_error("no Tcp RetransSegs in /proc/net/snmp of netns '" + netns + "'");
}

}  // namespace leaf::network::test
