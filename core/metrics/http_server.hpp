// A minimal HTTP/1.1 server (Boost.Beast) on the dispatcher's io_context:
// GET only, small requests, keep-alive, a few connections at a time. The
// handler runs on the io_context thread, like everything else in the host.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

namespace leaf::core::metrics {

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Parses "host:port" or "[v6 address]:port"; the host must be a numeric
// address. Throws std::invalid_argument naming what is wrong.
boost::asio::ip::tcp::endpoint parse_listen_address(const std::string& text);

class HttpServer {
 public:
  // Called with the request's method and target ("/metrics?x=y").
  using Handler = std::function<HttpResponse(const std::string& method, const std::string& target)>;

  HttpServer(boost::asio::io_context& io, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting. Throws boost::system::system_error.
  void listen(const boost::asio::ip::tcp::endpoint& at);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Stops accepting and closes the open connections.
  void stop();

  // At most this many connections at once. A new one beyond it closes the
  // connection that has waited longest for a request (idle keep-alive or
  // a slow sender) instead of being refused, so idle connections cannot
  // keep /metrics and /healthz away from a scraper or a liveness probe.
  static constexpr int kMaxConnections = 16;

 private:
  class Session;
  void accept();
  // Closes the session waiting longest for a request; false if none waits.
  bool evict_longest_waiting();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Handler handler_;
  std::shared_ptr<int> live_;  // sessions hold a weak_ptr: the server may go first
  std::list<std::weak_ptr<Session>> sessions_;
};

}  // namespace leaf::core::metrics
