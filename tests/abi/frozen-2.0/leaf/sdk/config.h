// Declared configuration options. A plugin lists every key it reads with its
// type, default, bounds and a doc string (as Fluent Bit's config maps do);
// the host parses and validates the plugin's TOML section against the list,
// so errors name the file, the key and the line, and --help-plugin can
// document every key. Part of the Leaf plugin ABI (see abi.h).
#pragma once

#include <cstdint>

namespace leaf::sdk {

enum class OptionType : uint32_t {
  Bool = 1,
  Int = 2,         // integer within [min, max]
  String = 3,      // text; when `choices` is set, one of them
  StringList = 4,  // array of text
  IntList = 5,     // array of integers, each within [min, max]
  Size = 6,        // bytes: an integer or text with a K/M/G suffix ("8M"); within [min, max]
  Duration = 7,    // nanoseconds: text with ns/us/ms/s/m/h suffix ("10s"); within [min, max]
};

// How a changed value takes effect on SIGHUP (ConfigOption::flags).
enum OptionFlags : uint32_t {
  kOptionRestart = 0,     // the host restarts this plugin (the default)
  kOptionLive = 1u << 0,  // the plugin applies it in place (IProbePlugin/IProcessor reload())
};

// One row of a plugin's option table. Rows are read with the descriptor's
// option_size as stride; fields added by a later minor go at the end.
struct ConfigOption {
  const char* key;  // dotted for nested tables: "raw.rate_limit"
  OptionType type;
  const char* default_value;  // in TOML syntax: "true", "512", "\"info\"", "[80, 443]", "\"8M\""
  int64_t min;                // Int, IntList, Size, Duration
  int64_t max;
  const char* choices;              // String: "a|b|c", or nullptr for any text
  const char* doc;                  // one line
  uint32_t flags = kOptionRestart;  // OptionFlags
};

}  // namespace leaf::sdk
