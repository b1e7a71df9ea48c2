// The built-in sink: every message as one JSON line, to stdout or a file.
// Lines are gathered in a buffer and written at the end of every dispatcher
// batch (so output is live) or when the buffer passes 64 KiB. Writes block:
// a slow reader slows the host down instead of losing lines.
#pragma once

#include <leaf/sdk/abi.h>

#include <atomic>
#include <string>

namespace leaf::core {

class JsonlSink final : public sdk::ISink {
 public:
  // path "-" is stdout. Throws std::runtime_error when the file cannot be opened.
  explicit JsonlSink(const std::string& path);
  ~JsonlSink();

  const char* last_error() const noexcept override { return error_.c_str(); }
  void destroy() noexcept override { delete this; }
  void* query_interface(sdk::InterfaceId id) noexcept override {
    return id == sdk::ISink::kId ? static_cast<sdk::ISink*>(this) : nullptr;
  }
  sdk::Status open() noexcept override { return sdk::Status::Ok; }
  sdk::Status write(const sdk::SinkMessage* m) noexcept override;
  void poll() noexcept override { flush_buffer(); }
  sdk::Status flush(uint32_t timeout_ms) noexcept override;
  void read_counters(sdk::ICounterVisitor* v) noexcept override;
  void close() noexcept override;
  uint32_t healthy() const noexcept override { return write_errors_.load() == 0 ? 1 : 0; }

  uint64_t lines() const { return lines_.load(); }

 private:
  bool flush_buffer() noexcept;

  std::string path_, buffer_, error_;
  int fd_ = -1;
  bool owns_fd_ = false;
  std::atomic<uint64_t> lines_{0}, bytes_{0}, write_errors_{0};
};

}  // namespace leaf::core
