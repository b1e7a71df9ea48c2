#include "metrics/http_server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>

namespace leaf::core::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

tcp::endpoint parse_listen_address(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw std::invalid_argument("\"" + text + "\" is not [address]:port");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon)
      throw std::invalid_argument("\"" + text + "\" is not address:port (IPv6: [address]:port)");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) throw std::invalid_argument("\"" + host + "\" is not a numeric IP address");
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    throw std::invalid_argument("\"" + port + "\" is not a port number (0-65535)");
  return {addr, static_cast<unsigned short>(std::stoul(port))};
}

// One connection: read a request, answer, repeat while keep-alive.
class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer* server)
      : stream_(std::move(socket)), server_(server), live_(server->live_) {}

  void read() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(8 * 1024);
    stream_.expires_after(std::chrono::seconds(30));
    waiting_since_ = std::chrono::steady_clock::now();
    waiting_ = true;
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  // Waiting for (the rest of) a request since when; nullopt while answering.
  std::optional<std::chrono::steady_clock::time_point> waiting_since() const {
    if (!waiting_) return std::nullopt;
    return waiting_since_;
  }

  void close() {
    waiting_ = false;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

 private:
  void on_read(beast::error_code ec) {
    waiting_ = false;
    if (ec || live_.expired()) return close();
    const auto& req = parser_->get();
    HttpResponse r;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      r = {405, "text/plain; charset=utf-8", "only GET is served\n"};
    } else {
      try {
        r = server_->handler_(std::string(req.method_string()), std::string(req.target()));
      } catch (const std::exception& e) {
        r = {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
      }
    }
    res_ = {};
    res_.version(req.version());
    res_.result(r.status);
    res_.set(http::field::server, "leaf-host");
    res_.set(http::field::content_type, r.content_type);
    res_.keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) {
      res_.content_length(r.body.size());
    } else {
      res_.body() = std::move(r.body);
      res_.prepare_payload();
    }
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->res_.keep_alive()) return self->close();
      self->read();
    });
  }

  beast::tcp_stream stream_;
  bool waiting_ = false;
  std::chrono::steady_clock::time_point waiting_since_;
  HttpServer* server_;
  std::weak_ptr<int> live_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
};

HttpServer::HttpServer(asio::io_context& io, Handler handler)
    : io_(io), acceptor_(io), handler_(std::move(handler)), live_(std::make_shared<int>(0)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::listen(const tcp::endpoint& at) {
  acceptor_.open(at.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(at);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  accept();
}

tcp::endpoint HttpServer::local_endpoint() const { return acceptor_.local_endpoint(); }

void HttpServer::stop() {
  beast::error_code ignored;
  if (acceptor_.is_open()) acceptor_.close(ignored);
  live_.reset();  // sessions see it and stop at their next step
}

void HttpServer::accept() {
  acceptor_.async_accept(
      io_, [this, live = std::weak_ptr<int>(live_)](beast::error_code ec, tcp::socket socket) {
        if (live.expired() || ec == asio::error::operation_aborted) return;
        if (!ec) {
          sessions_.remove_if([](const std::weak_ptr<Session>& s) { return s.expired(); });
          if (sessions_.size() >= kMaxConnections && !evict_longest_waiting()) {
            beast::error_code ignored;
            socket.close(ignored);  // all busy answering: the client retries
          } else {
            auto session = std::make_shared<Session>(std::move(socket), this);
            sessions_.push_back(session);
            session->read();
          }
        }
        accept();
      });
}

bool HttpServer::evict_longest_waiting() {
  std::shared_ptr<Session> oldest;
  std::chrono::steady_clock::time_point oldest_since;
  for (const auto& weak : sessions_) {
    auto s = weak.lock();
    if (!s) continue;
    auto since = s->waiting_since();
    if (since && (!oldest || *since < oldest_since)) {
      oldest = s;
      oldest_since = *since;
    }
  }
  if (!oldest) return false;
  oldest->close();  // its pending read ends with an error and drops the session
  sessions_.remove_if([&](const std::weak_ptr<Session>& s) { return s.lock() == oldest; });
  return true;
}

}  // namespace leaf::core::metrics
