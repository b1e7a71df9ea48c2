#include "prometheus_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace leaf::test::metrics {

std::string promtool_binary() { return LEAF_TEST_PROMTOOL; }
std::string prometheus_binary() { return LEAF_TEST_PROMETHEUS; }

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Whether nothing listens on 127.0.0.1:port now (a bind succeeds).
bool port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  return fd;
}

}  // namespace

int promtool(const std::vector<std::string>& args, const std::string& stdin_file,
             std::string* output) {
  if (promtool_binary().empty())
    throw std::runtime_error(
        "promtool not found: install Debian's prometheus package "
        "(scripts/install-deps.sh)");
  std::vector<std::string> argv = {promtool_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (stdin_file.empty()) return run_command(argv, output);
  // run_command gives the child our stdin: a shell redirects it.
  std::string line = "exec";
  for (const auto& a : argv) line += " '" + a + "'";
  line += " < '" + stdin_file + "'";
  return run_command({"/bin/sh", "-c", line}, output);
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

HttpReply http10_get(int port, const std::string& path_and_query) {
  int fd = connect_loopback(port);
  std::string req = "GET " + path_and_query + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    throw std::runtime_error("write failed");
  }
  std::string all;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) all.append(buf, static_cast<size_t>(n));
  close(fd);
  auto head_end = all.find("\r\n\r\n");
  if (head_end == std::string::npos || all.find(' ') == std::string::npos)
    throw std::runtime_error("no HTTP response: " + all);
  HttpReply r;
  r.status = std::stoi(all.substr(all.find(' ') + 1, 3));
  r.body = all.substr(head_end + 4);
  return r;
}

PrometheusServer::PrometheusServer(const std::string& config_yaml) {
  if (prometheus_binary().empty())
    throw std::runtime_error(
        "prometheus not found: install Debian's prometheus package "
        "(scripts/install-deps.sh)");
  config_path_ = dir_.write("prometheus.yml", config_yaml);
  log_path_ = dir_.path() + "/prometheus.log";
  for (int port = 19090; port < 19990; ++port) {
    if (!port_free(port)) continue;
    if (try_start(port)) return;
  }
  throw std::runtime_error("prometheus: no free port in 19090..19989");
}

PrometheusServer::~PrometheusServer() { stop(); }

bool PrometheusServer::try_start(int port) {
  std::vector<std::string> args = {prometheus_binary(), "--config.file=" + config_path_,
                                   "--storage.tsdb.path=" + dir_.path() + "/data",
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port),
                                   "--log.level=info"};
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the test, whatever kills it
    int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = open("/dev/null", O_RDONLY);
    if (log < 0 || null < 0) _exit(127);
    dup2(null, 0);
    dup2(log, 1);
    dup2(log, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  port_ = port;
  auto deadline = std::chrono::steady_clock::now() + scaled(std::chrono::seconds(60));
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      std::string text = log();
      if (text.find("address already in use") != std::string::npos) return false;
      throw std::runtime_error("prometheus exited at start (status " + std::to_string(st) + "):\n" +
                               text);
    }
    try {
      if (http10_get(port, "/-/ready").status == 200) return true;
    } catch (const std::exception&) {
      // not listening yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string text = log();
  stop();
  throw std::runtime_error("prometheus not ready within 60 s:\n" + text);
}

void PrometheusServer::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string PrometheusServer::log() const { return read_file(log_path_); }

nlohmann::json PrometheusServer::api(const std::string& path_and_query) const {
  HttpReply r = http10_get(port_, path_and_query);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded())
    throw std::runtime_error("prometheus " + path_and_query + ": HTTP " + std::to_string(r.status) +
                             ", not JSON: " + r.body);
  return j;
}

nlohmann::json PrometheusServer::query(const std::string& promql) const {
  return api("/api/v1/query?query=" + url_encode(promql));
}

}  // namespace leaf::test::metrics
