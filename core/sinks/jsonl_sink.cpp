#include "sinks/jsonl_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace leaf::core {

namespace {
constexpr size_t kFlushAt = 64 * 1024;
}

JsonlSink::JsonlSink(const std::string& path) : path_(path) {
  if (path == "-") {
    fd_ = STDOUT_FILENO;
  } else {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    owns_fd_ = true;
  }
  buffer_.reserve(kFlushAt + 4096);
}

JsonlSink::~JsonlSink() { close(); }

sdk::Status JsonlSink::write(const sdk::SinkMessage* m) noexcept {
  try {
    buffer_.append(m->json.data, m->json.size);
    buffer_.push_back('\n');
  } catch (...) {
    error_ = "out of memory";
    return sdk::Status::Error;
  }
  lines_.store(lines_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (buffer_.size() >= kFlushAt) flush_buffer();
  return sdk::Status::Ok;
}

bool JsonlSink::flush_buffer() noexcept {
  size_t done = 0;
  while (done < buffer_.size() && fd_ >= 0) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = "write to " + (path_ == "-" ? std::string("stdout") : path_) + ": " +
               std::strerror(errno);
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      buffer_.clear();
      return false;
    }
    done += static_cast<size_t>(n);
  }
  bytes_.fetch_add(done, std::memory_order_relaxed);
  buffer_.clear();
  return true;
}

sdk::Status JsonlSink::flush(uint32_t) noexcept {
  return flush_buffer() ? sdk::Status::Ok : sdk::Status::Error;
}

void JsonlSink::read_counters(sdk::ICounterVisitor* v) noexcept {
  v->counter(sdk::make_view("jsonl_lines_total"), sdk::make_view(""), lines_.load());
  v->counter(sdk::make_view("jsonl_bytes_total"), sdk::make_view(""), bytes_.load());
  v->counter(sdk::make_view("jsonl_write_errors_total"), sdk::make_view(""), write_errors_.load());
}

void JsonlSink::close() noexcept {
  flush_buffer();
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace leaf::core
