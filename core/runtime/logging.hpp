// spdlog setup: the console (stderr) and, when configured, a size-rotated
// file. libbpf's own messages are routed through it at debug level (its
// warnings are mostly the expected failures of hook feature tests).
#pragma once

#include <cstdint>
#include <string>

namespace leaf::core {

// Throws std::runtime_error when the log file cannot be opened.
void setup_logging(const std::string& level, const std::string& file, int64_t max_size,
                   int max_files);
bool valid_log_level(const std::string& level);

}  // namespace leaf::core
