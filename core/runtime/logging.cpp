#include "runtime/logging.hpp"

#include <bpf/libbpf.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "config/secrets.hpp"

namespace leaf::core {

namespace {
int libbpf_to_spdlog(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !spdlog::should_log(spdlog::level::trace)) return 0;
  if (!spdlog::should_log(spdlog::level::debug)) return 0;
  // Most messages fit the stack buffer; a verifier log (printed whole by
  // libbpf when a program is refused, its last lines naming the reason) does
  // not, and is formatted again at its full length.
  char buf[1024];
  va_list again;
  va_copy(again, args);
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  std::string big;
  const char* text = buf;
  if (n >= static_cast<int>(sizeof(buf))) {
    big.resize(static_cast<size_t>(n) + 1);
    vsnprintf(big.data(), big.size(), fmt, again);
    text = big.data();
  }
  va_end(again);
  if (n > 0) {
    size_t len = static_cast<size_t>(n);
    while (len && (text[len - 1] == '\n')) --len;
    spdlog::log(level == LIBBPF_DEBUG ? spdlog::level::trace : spdlog::level::debug, "[libbpf] {}",
                std::string_view(text, len));
  }
  return n;
}
// Every log line passes through redact() (config/secrets.hpp) before it is
// written: a plugin or a library (librdkafka) that prints a value read from a
// secret file does not put it in the log.
class RedactingSink : public spdlog::sinks::sink {
 public:
  explicit RedactingSink(spdlog::sink_ptr inner) : inner_(std::move(inner)) {}
  void log(const spdlog::details::log_msg& msg) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    if (!holds_secret(payload)) return inner_->log(msg);
    std::string text = redact(payload);
    spdlog::details::log_msg copy(msg);
    copy.payload = spdlog::string_view_t(text.data(), text.size());
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override {
    inner_->set_formatter(std::move(f));
  }

 private:
  spdlog::sink_ptr inner_;
};
}  // namespace

bool valid_log_level(const std::string& level) {
  return level == "trace" || level == "debug" || level == "info" || level == "warn" ||
         level == "error";
}

void setup_logging(const std::string& level, const std::string& file, int64_t max_size,
                   int max_files) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(
      std::make_shared<RedactingSink>(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  if (!file.empty()) {
    // spdlog creates missing parent directories; a typo in log.file must not
    // grow a directory tree (nor write somewhere nobody looks).
    std::filesystem::path parent = std::filesystem::path(file).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
      throw std::runtime_error("cannot open log file " + file + ": directory " + parent.string() +
                               " does not exist");
    try {
      sinks.push_back(
          std::make_shared<RedactingSink>(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
              file, static_cast<size_t>(max_size), static_cast<size_t>(max_files))));
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("cannot open log file " + file + ": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("leaf", sinks.begin(), sinks.end());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  logger->set_level(spdlog::level::from_str(level == "warn" ? "warning" : level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  libbpf_set_print(libbpf_to_spdlog);
}

}  // namespace leaf::core
