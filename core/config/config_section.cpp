#include "config/config_section.hpp"

#include <toml++/toml.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

#include "config/secrets.hpp"

namespace leaf::core {

namespace {

using sdk::ConfigOption;
using sdk::OptionType;

std::string type_word(OptionType t) {
  switch (t) {
    case OptionType::Bool:
      return "a boolean";
    case OptionType::Int:
      return "an integer";
    case OptionType::String:
      return "a string";
    case OptionType::StringList:
      return "an array of strings";
    case OptionType::IntList:
      return "an array of integers";
    case OptionType::Size:
      return "a size (bytes, or text such as \"8M\")";
    case OptionType::Duration:
      return "a duration (text such as \"10s\" or \"250ms\")";
  }
  return "?";
}

int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

struct Ctx {
  const std::string& file;
  const ConfigOption& opt;
  [[noreturn]] void fail(const toml::node& n, const std::string& what) const {
    throw ConfigError(file, line_of(n), opt.key, what);
  }
};

void check_range(const Ctx& c, const toml::node& n, int64_t v) {
  if (c.opt.min == 0 && c.opt.max == 0) return;  // unbounded
  if (v < c.opt.min || v > c.opt.max)
    c.fail(n, "value " + std::to_string(v) + " is out of range [" + std::to_string(c.opt.min) +
                  ", " + std::to_string(c.opt.max) + "]");
}

int64_t int_of(const Ctx& c, const toml::node& n) {
  auto v = n.value<int64_t>();
  if (!n.is_integer() || !v) c.fail(n, "expected " + type_word(OptionType::Int));
  check_range(c, n, *v);
  return *v;
}

ConfigValue convert(const Ctx& c, const toml::node& n) {
  switch (c.opt.type) {
    case OptionType::Bool:
      if (!n.is_boolean()) c.fail(n, "expected " + type_word(c.opt.type));
      return *n.value<bool>();
    case OptionType::Int:
      return int_of(c, n);
    case OptionType::String: {
      if (!n.is_string()) c.fail(n, "expected " + type_word(c.opt.type));
      std::string s = *n.value<std::string>();
      if (c.opt.choices) {
        std::string choices = c.opt.choices;
        std::set<std::string> allowed;
        size_t start = 0;
        while (start <= choices.size()) {
          size_t bar = choices.find('|', start);
          if (bar == std::string::npos) bar = choices.size();
          allowed.insert(choices.substr(start, bar - start));
          start = bar + 1;
        }
        if (!allowed.count(s))
          c.fail(n, "\"" + s + "\" is not one of " + std::string(c.opt.choices));
      }
      return s;
    }
    case OptionType::StringList: {
      const toml::array* a = n.as_array();
      if (!a) c.fail(n, "expected " + type_word(c.opt.type));
      std::vector<std::string> out;
      for (const auto& item : *a) {
        if (!item.is_string()) c.fail(item, "expected " + type_word(c.opt.type));
        out.push_back(*item.value<std::string>());
      }
      return out;
    }
    case OptionType::IntList: {
      const toml::array* a = n.as_array();
      if (!a) c.fail(n, "expected " + type_word(c.opt.type));
      std::vector<int64_t> out;
      for (const auto& item : *a) out.push_back(int_of(c, item));
      return out;
    }
    case OptionType::Size: {
      int64_t v = 0;
      if (n.is_integer()) {
        v = *n.value<int64_t>();
      } else if (!n.is_string() || !parse_size(*n.value<std::string>(), &v)) {
        c.fail(n, "expected " + type_word(c.opt.type));
      }
      check_range(c, n, v);
      return v;
    }
    case OptionType::Duration: {
      int64_t v = 0;
      if (!n.is_string() || !parse_duration(*n.value<std::string>(), &v))
        c.fail(n, "expected " + type_word(c.opt.type));
      check_range(c, n, v);
      return v;
    }
  }
  c.fail(n, "unsupported option type");
}

// Flattens nested tables into dotted keys; arrays and scalars are leaves.
void flatten(const toml::table& t, const std::string& prefix,
             std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (const auto& [k, v] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = v.as_table())
      flatten(*sub, key, out);
    else
      out.emplace_back(key, &v);
  }
}

}  // namespace

namespace {
// A key as it may be printed in one log line: control characters (a quoted
// TOML key may hold a newline and forge a line of its own) and quotes escaped.
std::string printable_key(const std::string& k) {
  std::string out;
  for (unsigned char c : k) {
    if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'') {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}
}  // namespace

ConfigError::ConfigError(const std::string& f, int l, const std::string& k, const std::string& w)
    : std::runtime_error(f + (l > 0 ? ":" + std::to_string(l) : "") +
                         (k.empty() ? "" : ": key '" + printable_key(k) + "'") + ": " + redact(w)),
      file(f),
      key(k),
      line(l) {}

ConfigSection ConfigSection::validate(const toml::table* table,
                                      std::span<const sdk::ConfigOption> options,
                                      const std::string& file) {
  ConfigSection s;
  for (const auto& opt : options) {
    // Defaults are TOML text in the declaration; a bad one is the plugin's bug.
    toml::table parsed;
    try {
      parsed = toml::parse(std::string("v = ") + (opt.default_value ? opt.default_value : "\"\""));
    } catch (const toml::parse_error& e) {
      throw ConfigError(
          file, 0, opt.key,
          std::string("declared default is not valid TOML: ") + std::string(e.description()));
    }
    Ctx c{file, opt};
    try {
      s.values_[opt.key] = convert(c, *parsed.get("v"));
    } catch (const ConfigError& e) {
      throw ConfigError(file, 0, opt.key, std::string("declared default is invalid: ") + e.what());
    }
  }
  if (!table) return s;

  std::vector<std::pair<std::string, const toml::node*>> leaves;
  flatten(*table, "", leaves);
  for (const auto& [key, node] : leaves) {
    const ConfigOption* opt = nullptr;
    for (const auto& o : options)
      if (key == o.key) opt = &o;
    if (!opt) {
      std::string known;
      for (const auto& o : options) known += (known.empty() ? "" : ", ") + std::string(o.key);
      throw ConfigError(file, line_of(*node), key,
                        "unknown key (known keys: " + (known.empty() ? "none" : known) + ")");
    }
    s.values_[key] = convert(Ctx{file, *opt}, *node);
    s.explicit_[key] = true;
  }
  return s;
}

const ConfigValue* ConfigSection::find(std::string_view key) const {
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

bool ConfigSection::is_set(std::string_view key) const {
  return explicit_.find(key) != explicit_.end();
}

namespace {
template <class T>
const T& get_as(const ConfigSection& s, std::string_view key) {
  const ConfigValue* v = s.find(key);
  if (!v || !std::holds_alternative<T>(*v))
    throw std::logic_error("configuration key '" + std::string(key) +
                           "' is not declared with this type");
  return std::get<T>(*v);
}
}  // namespace

bool ConfigSection::get_bool(std::string_view key) const { return get_as<bool>(*this, key); }
int64_t ConfigSection::get_int(std::string_view key) const { return get_as<int64_t>(*this, key); }
const std::string& ConfigSection::get_string(std::string_view key) const {
  return get_as<std::string>(*this, key);
}
const std::vector<std::string>& ConfigSection::get_strings(std::string_view key) const {
  return get_as<std::vector<std::string>>(*this, key);
}
const std::vector<int64_t>& ConfigSection::get_ints(std::string_view key) const {
  return get_as<std::vector<int64_t>>(*this, key);
}

namespace {
bool parse_number_with_unit(std::string_view text, double* number, std::string_view* unit) {
  size_t i = 0;
  while (i < text.size() && text[i] == ' ') ++i;
  size_t start = i;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == start) return false;
  double v = 0;
  auto [p, ec] = std::from_chars(text.data() + start, text.data() + i, v);
  if (ec != std::errc() || p != text.data() + i) return false;
  while (i < text.size() && text[i] == ' ') ++i;
  *number = v;
  *unit = text.substr(i);
  return true;
}

// False when v does not fit an int64_t ("99999999999999999999G" used to
// wrap around through llround).
bool to_int64(double v, int64_t* out) {
  if (!std::isfinite(v) || v < -9.2e18 || v > 9.2e18) return false;
  *out = static_cast<int64_t>(std::llround(v));
  return true;
}
}  // namespace

bool parse_size(std::string_view text, int64_t* bytes) {
  double v;
  std::string_view unit;
  if (!parse_number_with_unit(text, &v, &unit)) return false;
  double mult;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "K" || unit == "KB" || unit == "KiB" || unit == "k")
    mult = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MiB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GB" || unit == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else
    return false;
  return to_int64(v * mult, bytes);
}

bool parse_duration(std::string_view text, int64_t* ns) {
  double v;
  std::string_view unit;
  if (!parse_number_with_unit(text, &v, &unit)) return false;
  double mult;
  if (unit == "ns")
    mult = 1;
  else if (unit == "us")
    mult = 1e3;
  else if (unit == "ms")
    mult = 1e6;
  else if (unit == "s")
    mult = 1e9;
  else if (unit == "m" || unit == "min")
    mult = 60e9;
  else if (unit == "h")
    mult = 3600e9;
  else
    return false;
  return to_int64(v * mult, ns);
}

}  // namespace leaf::core
