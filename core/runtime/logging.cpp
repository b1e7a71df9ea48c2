#include "runtime/logging.hpp"

#include <bpf/libbpf.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace leaf::core {

namespace {
int libbpf_to_spdlog(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !spdlog::should_log(spdlog::level::trace)) return 0;
  if (!spdlog::should_log(spdlog::level::debug)) return 0;
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (n > 0) {
    size_t len = std::min<size_t>(n, sizeof(buf) - 1);
    while (len && (buf[len - 1] == '\n')) --len;
    spdlog::log(level == LIBBPF_DEBUG ? spdlog::level::trace : spdlog::level::debug, "[libbpf] {}",
                std::string_view(buf, len));
  }
  return n;
}
}  // namespace

bool valid_log_level(const std::string& level) {
  return level == "trace" || level == "debug" || level == "info" || level == "warn" ||
         level == "error";
}

void setup_logging(const std::string& level, const std::string& file, int64_t max_size,
                   int max_files) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!file.empty()) {
    // spdlog creates missing parent directories; a typo in log.file must not
    // grow a directory tree (nor write somewhere nobody looks).
    std::filesystem::path parent = std::filesystem::path(file).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
      throw std::runtime_error("cannot open log file " + file + ": directory " + parent.string() +
                               " does not exist");
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          file, static_cast<size_t>(max_size), static_cast<size_t>(max_files)));
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
