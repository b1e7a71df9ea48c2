// A validated configuration section: the TOML table of one plugin (or of
// the host) checked against the options it declares (sdk::ConfigOption).
// Unknown keys, wrong types and out-of-range values are ConfigErrors that
// name the file, the key and the line.
#pragma once

#include <leaf/sdk/config.h>
#include <toml++/toml.h>

#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace leaf::core {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& file, int line, const std::string& key, const std::string& what);
  const std::string file, key;
  const int line;
};

using ConfigValue =
    std::variant<bool, int64_t, std::string, std::vector<std::string>, std::vector<int64_t>>;

class ConfigSection {
 public:
  ConfigSection() = default;
  // Checks `table` (nullptr: nothing configured) against `options` and
  // fills in defaults. `file` names the source in errors.
  static ConfigSection validate(const toml::table* table,
                                std::span<const sdk::ConfigOption> options,
                                const std::string& file);

  const ConfigValue* find(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  int64_t get_int(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  const std::vector<std::string>& get_strings(std::string_view key) const;
  const std::vector<int64_t>& get_ints(std::string_view key) const;
  // Keys the file set explicitly (others have their defaults).
  bool is_set(std::string_view key) const;
  bool operator==(const ConfigSection& other) const { return values_ == other.values_; }

 private:
  std::map<std::string, ConfigValue, std::less<>> values_;
  std::map<std::string, bool, std::less<>> explicit_;
};

// "8M" -> 8388608; "512" / 512 -> 512. Returns false on bad text.
bool parse_size(std::string_view text, int64_t* bytes);
// "10s" -> 10e9; "250ms", "5m", "1h", "100us", "10ns". Returns false on bad text.
bool parse_duration(std::string_view text, int64_t* ns);

}  // namespace leaf::core
