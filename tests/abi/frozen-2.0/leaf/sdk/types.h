// Basic ABI types: status codes, string views, log levels, event categories.
// Part of the Leaf plugin ABI (see abi.h for the versioning rule).
#pragma once

#include <cstdint>

namespace leaf::sdk {

enum class Status : int32_t {
  Ok = 0,
  Error = 1,            // failure; see last_error()
  InvalidArgument = 2,  // the caller asked for something that does not exist
  InvalidConfig = 3,    // a configuration value the plugin cannot use
  NotSupported = 4,     // this kernel or host cannot do it
  Again = 5,            // temporarily full; try later
};

// A non-owning string: `data` need not be NUL-terminated.
struct StringView {
  const char* data;
  uint64_t size;
};

constexpr StringView make_view(const char* s, uint64_t n) noexcept { return StringView{s, n}; }

// NUL-terminated literal or C string to a view.
constexpr StringView make_view(const char* s) noexcept {
  uint64_t n = 0;
  if (s != nullptr) {
    while (s[n] != '\0') ++n;
  }
  return StringView{s, n};
}

enum class LogLevel : uint32_t { Trace = 0, Debug = 1, Info = 2, Warn = 3, Error = 4 };

// The message's top-level "type" (SPEC.md §2), which also picks the Kafka topic.
enum class Category : uint32_t { Network = 1, Process = 2, Performance = 3, Metrics = 4 };

constexpr const char* category_name(Category c) noexcept {
  switch (c) {
    case Category::Network:
      return "network";
    case Category::Process:
      return "process";
    case Category::Performance:
      return "performance";
    case Category::Metrics:
      return "metrics";
  }
  return "unknown";
}

}  // namespace leaf::sdk
