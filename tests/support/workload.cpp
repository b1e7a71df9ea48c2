#include "workload.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace leaf::test {

AliasDir::AliasDir(const std::string& target, const std::vector<std::string>& names) {
  ::chmod(dir_.path().c_str(), 0755);  // children that switch uid must reach them
  for (const auto& name : names) std::filesystem::create_symlink(target, path(name));
}

std::string self_binary() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

pid_t run_to_exit(const std::string& program) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::execl(program.c_str(), program.c_str(), nullptr);
    ::_exit(122);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return pid;
}

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("free_loopback_port: " + std::string(std::strerror(err)));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string http_get_raw(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  REQUIRE(::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) out.append(buf, n);
  ::close(fd);
  return out;
}

double metric_series(const std::string& metrics, const std::string& name_and_labels) {
  size_t at = metrics.find("\n" + name_and_labels + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + name_and_labels.size() + 2));
}

std::function<bool(const Json&)> event_of(const std::string& type, pid_t pid) {
  return [type, pid](const Json& e) {
    return e.contains("data") && e["data"].value("type", "") == type &&
           e["data"].value("pid", -1) == pid;
  };
}

std::function<bool(const Json&)> exec_by_comm(const std::string& comm) {
  return [comm](const Json& e) {
    return e.contains("data") && e["data"].value("type", "") == "process_exec" &&
           e["data"].value("comm", "") == comm;
  };
}

}  // namespace leaf::test
