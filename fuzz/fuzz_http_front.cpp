// The HTTP front of /metrics and /healthz: the very HttpServer of leaf-host
// on 127.0.0.1, fed each input as the bytes of one connection. Whatever
// arrives, the server answers with HTTP or closes, and keeps serving: a
// well-formed request after every input must get its 200.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "metrics/http_server.hpp"

using namespace leaf::core::metrics;

namespace {

struct Server {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  HttpServer http{io, [](const std::string& method, const std::string& target) {
                    if (target == "/healthz") return HttpResponse{200, "text/plain", "ok\n"};
                    if (target.rfind("/metrics", 0) == 0)
                      return HttpResponse{200, "text/plain", "leaf_up 1\n"};
                    return HttpResponse{404, "text/plain", method + " " + target + "\n"};
                  }};
  std::thread thread;
  int port = 0;

  Server() {
    http.listen({boost::asio::ip::make_address("127.0.0.1"), 0});
    port = http.local_endpoint().port();
    thread = std::thread([this] { io.run(); });
    thread.detach();  // lives as long as the fuzzer
  }
};

// A connect() interrupted by a signal goes on in the background: wait for
// it and read its outcome.
bool connected_after_eintr(int fd) {
  if (errno != EINTR) return false;
  pollfd p{fd, POLLOUT, 0};
  int r;
  while ((r = poll(&p, 1, 5000)) < 0 && errno == EINTR) {
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (r != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return false;
  errno = err;
  return err == 0;
}

// Sends `bytes`, half-closes, and returns what came back before EOF.
std::string exchange(int port, const uint8_t* bytes, size_t size) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) abort();
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  // Closed with a reset: tens of thousands of connections a run would
  // otherwise leave the client ports in TIME_WAIT until connect() fails.
  linger no_wait{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &no_wait, sizeof(no_wait));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // libFuzzer's timeout alarm (SIGALRM, every second) interrupts blocking
  // calls: an EINTR is retried, never taken for the server's answer.
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 && !connected_after_eintr(fd)) {
    perror("fuzz_http_front: connect to the server");
    abort();
  }
  for (size_t off = 0; off < size;) {
    ssize_t n = send(fd, bytes + off, size - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server may close early on a bad request
    off += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string got;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return got;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Server* server = new Server;
  std::string got = exchange(server->port, data, size);
  if (!got.empty() && got.rfind("HTTP/1.", 0) != 0) __builtin_trap();
  static const std::string kProbe = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  std::string health =
      exchange(server->port, reinterpret_cast<const uint8_t*>(kProbe.data()), kProbe.size());
  if (health.rfind("HTTP/1.1 200", 0) != 0) __builtin_trap();
  return 0;
}
