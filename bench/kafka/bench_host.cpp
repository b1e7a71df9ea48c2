#include "bench_host.hpp"

#include <cstdio>
#include <stdexcept>

namespace leaf::bench {

using sdk::OptionType;
using sdk::Status;

namespace {

std::string unquote(const std::string& s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

// "5ms" -> ns, "256M" -> bytes, "12" -> 12.
int64_t number_with_unit(const std::string& text) {
  std::string t = unquote(text);
  size_t i = 0;
  while (i < t.size() && (isdigit(static_cast<unsigned char>(t[i])) || t[i] == '-')) ++i;
  int64_t n = std::stoll(t.substr(0, i));
  static const std::map<std::string, int64_t> kUnits = {
      {"", 1},      {"K", 1 << 10},  {"M", 1 << 20},    {"G", 1 << 30},     {"ns", 1},
      {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}, {"m", 60000000000}, {"h", 3600000000000}};
  auto it = kUnits.find(t.substr(i));
  if (it == kUnits.end()) throw std::runtime_error("bad value '" + text + "'");
  return n * it->second;
}

}  // namespace

BenchHost::BenchHost(const sdk::PluginDescriptor* desc,
                     const std::map<std::string, std::string>& config) {
  for (uint32_t k = 0; k < desc->option_count; ++k) {
    const auto& o = desc->options[k];
    auto it = config.find(o.key);
    std::string text = it != config.end() ? it->second : o.default_value;
    Value v;
    v.type = o.type;
    switch (o.type) {
      case OptionType::Bool:
        v.b = text == "true";
        break;
      case OptionType::Int:
      case OptionType::Size:
      case OptionType::Duration:
        v.i = number_with_unit(text);
        break;
      case OptionType::String:
        v.s = unquote(text);
        break;
      default:
        for (size_t q = text.find('"'); q != std::string::npos; q = text.find('"', q + 1)) {
          size_t end = text.find('"', q + 1);
          if (end == std::string::npos) break;
          v.list.push_back(text.substr(q + 1, end - q - 1));
          q = end;
        }
    }
    values_[o.key] = v;
  }
}

void BenchHost::log(sdk::LogLevel, sdk::StringView message) noexcept {
  fprintf(stderr, "  sink: %.*s\n", static_cast<int>(message.size), message.data);
}

const BenchHost::Value* BenchHost::find(sdk::StringView key) const {
  auto it = values_.find(std::string(key.data, key.size));
  return it == values_.end() ? nullptr : &it->second;
}

Status BenchHost::config_bool(sdk::StringView key, bool* out) const noexcept {
  const Value* v = find(key);
  if (!v || v->type != OptionType::Bool) return Status::InvalidArgument;
  *out = v->b;
  return Status::Ok;
}

Status BenchHost::config_int(sdk::StringView key, int64_t* out) const noexcept {
  const Value* v = find(key);
  if (!v || !(v->type == OptionType::Int || v->type == OptionType::Size ||
              v->type == OptionType::Duration))
    return Status::InvalidArgument;
  *out = v->i;
  return Status::Ok;
}

Status BenchHost::config_string(sdk::StringView key, sdk::StringView* out) const noexcept {
  const Value* v = find(key);
  if (!v || v->type != OptionType::String) return Status::InvalidArgument;
  *out = {v->s.data(), v->s.size()};
  return Status::Ok;
}

Status BenchHost::config_list_size(sdk::StringView key, uint32_t* out) const noexcept {
  const Value* v = find(key);
  if (!v || v->type != OptionType::StringList) return Status::InvalidArgument;
  *out = static_cast<uint32_t>(v->list.size());
  return Status::Ok;
}

Status BenchHost::config_list_string(sdk::StringView key, uint32_t index,
                                     sdk::StringView* out) const noexcept {
  const Value* v = find(key);
  if (!v || v->type != OptionType::StringList || index >= v->list.size())
    return Status::InvalidArgument;
  *out = {v->list[index].data(), v->list[index].size()};
  return Status::Ok;
}

}  // namespace leaf::bench
