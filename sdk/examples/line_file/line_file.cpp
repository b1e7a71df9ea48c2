// Example Leaf sink plugin, built against the installed SDK only: appends
// every message to a file, one JSON document per line, written through a
// buffer and flushed by poll() at most every `flush_interval`. A write that
// fails is counted and makes the sink unhealthy (GET /healthz) until a
// later write succeeds; nothing is dropped silently.
//
//   # conf.d/line_file.toml
//   path = "/var/log/leaf/events.jsonl"
//   flush_interval = "1s"
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <leaf/sdk/plugin.hpp>
#include <string>

namespace {

using namespace leaf::sdk;

const ConfigOption kOptions[] = {
    {"path", OptionType::String, "\"\"", 0, 0, nullptr, "file the messages are appended to"},
    {"flush_interval", OptionType::Duration, "\"1s\"", 0, 3'600'000'000'000, nullptr,
     "longest time a written message waits in the buffer (0: flush at every poll)"},
};

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

class LineFile final : public PluginBase<ISink> {
 public:
  explicit LineFile(IHost* host) : PluginBase(host) {}
  ~LineFile() override { close(); }

  Status open() noexcept override {
    return guarded([&] {
      path_ = cfg_string("path");
      if (path_.empty()) throw PluginError("path: no file named", Status::InvalidConfig);
      interval_ns_ = static_cast<uint64_t>(cfg_int("flush_interval"));
      file_ = std::fopen(path_.c_str(), "ae");
      if (!file_) throw PluginError(path_ + ": " + std::strerror(errno));
      last_flush_ns_ = now_ns();
    });
  }

  Status write(const SinkMessage* m) noexcept override {
    if (!file_ || !m) return Status::InvalidArgument;
    if (std::fwrite(m->json.data, 1, m->json.size, file_) != m->json.size ||
        std::fputc('\n', file_) == EOF) {
      failed(errno);
      return Status::Error;
    }
    ++lines_;
    bytes_ += m->json.size + 1;
    healthy_ = true;
    return Status::Ok;
  }

  void poll() noexcept override {
    if (file_ && now_ns() - last_flush_ns_ >= interval_ns_) flush(0);
  }

  Status flush(uint32_t) noexcept override {
    if (!file_) return Status::Ok;
    last_flush_ns_ = now_ns();
    if (std::fflush(file_) != 0) {
      failed(errno);
      return Status::Error;
    }
    return Status::Ok;
  }

  void read_counters(ICounterVisitor* v) noexcept override {
    v->counter(make_view("line_file_lines_total"), make_view(""), lines_);
    v->counter(make_view("line_file_bytes_total"), make_view(""), bytes_);
    v->counter(make_view("line_file_write_errors_total"), make_view(""), errors_);
  }

  void close() noexcept override {
    if (!file_) return;
    flush(0);
    std::fclose(file_);
    file_ = nullptr;
  }

  uint32_t healthy() const noexcept override { return file_ && healthy_ ? 1 : 0; }

 private:
  // One log line per failure streak, every failure counted.
  void failed(int err) {
    ++errors_;
    if (healthy_) log(LogLevel::Error, path_ + ": " + std::strerror(err));
    healthy_ = false;
  }

  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t interval_ns_ = 0, last_flush_ns_ = 0;
  uint64_t lines_ = 0, bytes_ = 0, errors_ = 0;
  bool healthy_ = true;
};

}  // namespace

LEAF_PLUGIN(LineFile, Sink, "line_file", "1.0.0",
            "Example sink: every message appended to a file, one JSON document per line", kOptions)
