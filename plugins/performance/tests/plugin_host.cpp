#include "plugin_host.hpp"

#include <bpf/bpf.h>
#include <dlfcn.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <stdexcept>

namespace leaf::performance::test {

using namespace sdk;

namespace {

std::string str(StringView v) { return std::string(v.data, v.size); }

int64_t parse_scaled(const std::string& text, OptionType type) {
  size_t pos = 0;
  double n = std::stod(text, &pos);
  std::string unit = text.substr(pos);
  double scale = 1;
  if (type == OptionType::Duration) {
    const std::map<std::string, double> units = {{"ns", 1},  {"us", 1e3}, {"ms", 1e6},
                                                 {"s", 1e9}, {"m", 6e10}, {"h", 3.6e12}};
    auto u = units.find(unit);
    if (u == units.end()) throw std::runtime_error("bad duration " + text);
    scale = u->second;
  } else {
    const std::map<std::string, double> units = {
        {"", 1}, {"K", 1024}, {"M", 1024.0 * 1024}, {"G", 1024.0 * 1024 * 1024}};
    auto u = units.find(unit);
    if (u == units.end()) throw std::runtime_error("bad size " + text);
    scale = u->second;
  }
  return static_cast<int64_t>(n * scale);
}

}  // namespace

PluginHost::PluginHost(const std::string& so_path,
                       const std::map<std::string, std::string>& overrides) {
  library_ = dlopen(so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library_) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  void* sym = dlsym(library_, kEntryPointName);
  if (!sym) throw std::runtime_error("no leaf_plugin_descriptor in " + so_path);
  // BOOST_DLL_ALIAS exports a pointer-sized variable holding the function.
  auto entry = reinterpret_cast<EntryPoint*>(*static_cast<void* const*>(sym));
  descriptor_ = entry();
  if (descriptor_->abi_major != kAbiMajor) throw std::runtime_error("ABI major mismatch");

  std::map<std::string, std::string> text = overrides;
  for (uint32_t i = 0; i < descriptor_->option_count; ++i) {
    const ConfigOption& o = descriptor_->options[i];
    std::string value = text.count(o.key) ? text[o.key] : o.default_value;
    text.erase(o.key);
    toml::table t = toml::parse("v = " + value);
    const toml::node& n = *t.get("v");
    Value v;
    v.type = o.type;
    switch (o.type) {
      case OptionType::Bool:
        v.b = n.value<bool>().value();
        break;
      case OptionType::Int:
        v.i = n.value<int64_t>().value();
        break;
      case OptionType::String:
        v.s = n.value<std::string>().value();
        break;
      case OptionType::Size:
      case OptionType::Duration:
        v.i = n.is_integer() ? n.value<int64_t>().value()
                             : parse_scaled(n.value<std::string>().value(), o.type);
        break;
      case OptionType::StringList:
        for (const auto& e : *n.as_array()) v.strings.push_back(e.value<std::string>().value());
        break;
      case OptionType::IntList:
        for (const auto& e : *n.as_array()) v.ints.push_back(e.value<int64_t>().value());
        break;
    }
    config_[o.key] = v;
  }
  if (!text.empty()) throw std::runtime_error("undeclared option " + text.begin()->first);

  char error[512] = {};
  IPluginObject* obj = descriptor_->create(this, error, sizeof(error));
  if (!obj) throw std::runtime_error(std::string("create: ") + error);
  plugin_ = static_cast<IProbePlugin*>(obj);
}

PluginHost::~PluginHost() {
  stop();
  if (plugin_) plugin_->destroy();
  if (ring_) ring_buffer__free(ring_);
  if (library_) dlclose(library_);
}

void PluginHost::open() {
  if (plugin_->open() != Status::Ok)
    throw std::runtime_error(std::string("open: ") + plugin_->last_error());
}

void PluginHost::start() {
  if (plugin_->start() != Status::Ok)
    throw std::runtime_error(std::string("start: ") + plugin_->last_error());
  started_ = true;
}

void PluginHost::stop() {
  if (started_) plugin_->stop();
  started_ = false;
}

std::vector<Json> PluginHost::tick() {
  emitted_.clear();
  if (timer_) timer_->on_timer();
  return emitted_;
}

void PluginHost::drain(const std::function<void(const uint8_t*, uint32_t)>& on_record) {
  if (ringbuf_fd_ < 0) return;
  on_record_ = on_record;
  if (!ring_) {
    ring_ = ring_buffer__new(
        ringbuf_fd_,
        [](void* ctx, void* data, size_t size) {
          auto* self = static_cast<PluginHost*>(ctx);
          if (self->on_record_)
            self->on_record_(static_cast<const uint8_t*>(data), static_cast<uint32_t>(size));
          return 0;
        },
        this, nullptr);
    if (!ring_) throw std::runtime_error("ring_buffer__new failed");
  }
  ring_buffer__consume(ring_);
  on_record_ = nullptr;
}

leaf_type_counters PluginHost::ring_counters(uint32_t type) const {
  int n = libbpf_num_possible_cpus();
  std::vector<leaf_type_counters> values(n);
  leaf_type_counters sum{};
  if (counters_fd_ >= 0 && bpf_map_lookup_elem(counters_fd_, &type, values.data()) == 0) {
    for (const auto& v : values) {
      sum.emitted += v.emitted;
      sum.lost += v.lost;
    }
  }
  return sum;
}

std::map<std::string, uint64_t> PluginHost::plugin_counters() {
  struct Visitor : ICounterVisitor {
    std::map<std::string, uint64_t> values;
    void counter(StringView name, StringView label, uint64_t value) noexcept override {
      values[str(name) + "/" + str(label)] = value;
    }
    void gauge(StringView name, StringView label, int64_t value) noexcept override {
      values[str(name) + "/" + str(label)] = static_cast<uint64_t>(value);
    }
    void histogram(StringView name, StringView label, const HistogramView* h) noexcept override {
      uint64_t n = 0;
      for (uint32_t i = 0; i < h->bucket_count; ++i) n += h->counts[i];
      values[str(name) + "_count/" + str(label)] = n;
    }
  } visitor;
  plugin_->read_counters(&visitor);
  return visitor.values;
}

void PluginHost::log(LogLevel level, StringView message) noexcept {
  if (level >= LogLevel::Info) std::cerr << "[performance] " << str(message) << "\n";
}

const PluginHost::Value* PluginHost::find(StringView key, OptionType type) const {
  auto it = config_.find(str(key));
  if (it == config_.end()) return nullptr;
  bool ints = type == OptionType::Int;
  if (ints && (it->second.type == OptionType::Size || it->second.type == OptionType::Duration))
    return &it->second;
  return it->second.type == type ? &it->second : nullptr;
}

Status PluginHost::config_bool(StringView key, bool* out) const noexcept {
  const Value* v = find(key, OptionType::Bool);
  if (!v) return Status::InvalidArgument;
  *out = v->b;
  return Status::Ok;
}

Status PluginHost::config_int(StringView key, int64_t* out) const noexcept {
  const Value* v = find(key, OptionType::Int);
  if (!v) return Status::InvalidArgument;
  *out = v->i;
  return Status::Ok;
}

Status PluginHost::config_string(StringView key, StringView* out) const noexcept {
  const Value* v = find(key, OptionType::String);
  if (!v) return Status::InvalidArgument;
  *out = StringView{v->s.data(), v->s.size()};
  return Status::Ok;
}

Status PluginHost::config_list_size(StringView key, uint32_t* out) const noexcept {
  const Value* v = find(key, OptionType::StringList);
  if (!v) v = find(key, OptionType::IntList);
  if (!v) return Status::InvalidArgument;
  *out =
      static_cast<uint32_t>(v->type == OptionType::StringList ? v->strings.size() : v->ints.size());
  return Status::Ok;
}

Status PluginHost::config_list_string(StringView key, uint32_t index,
                                      StringView* out) const noexcept {
  const Value* v = find(key, OptionType::StringList);
  if (!v || index >= v->strings.size()) return Status::InvalidArgument;
  *out = StringView{v->strings[index].data(), v->strings[index].size()};
  return Status::Ok;
}

Status PluginHost::config_list_int(StringView key, uint32_t index, int64_t* out) const noexcept {
  const Value* v = find(key, OptionType::IntList);
  if (!v || index >= v->ints.size()) return Status::InvalidArgument;
  *out = v->ints[index];
  return Status::Ok;
}

Status PluginHost::add_ring_buffer(const RingBufferRegistration* reg) noexcept {
  ringbuf_fd_ = reg->ringbuf_map_fd;
  counters_fd_ = reg->counters_map_fd;
  return Status::Ok;
}

Status PluginHost::emit(const EventTypeDesc* type, const uint8_t* record, uint32_t size) noexcept {
  try {
    if (std::string(type->name) != "perf_stats" || size < type->fixed_size || size > type->max_size)
      return Status::InvalidArgument;
    emitted_.push_back(decode_perf_stats(record, size));
    return Status::Ok;
  } catch (const std::exception& e) {
    std::cerr << "emit: " << e.what() << "\n";
    return Status::Error;
  }
}

Status PluginHost::add_timer(uint64_t interval_ns, ITimerHandler* handler) noexcept {
  timer_ = handler;
  timer_ns_ = interval_ns;
  return Status::Ok;
}

StringView PluginHost::hostname() const noexcept { return make_view("test-host"); }
StringView PluginHost::plugin_name() const noexcept { return make_view("performance"); }
LogLevel PluginHost::log_level() const noexcept { return LogLevel::Info; }

Json decode_perf_stats(const uint8_t* record, uint32_t size) {
  leaf_perf_stats_record r;
  std::memcpy(&r, record, sizeof(r));
  auto var = [&](const leaf_var& v) {
    if (v.offset < sizeof(r) || v.offset + v.length > size)
      throw std::runtime_error("perf_stats: a VarJson field points outside the record");
    return Json::parse(std::string(reinterpret_cast<const char*>(record) + v.offset, v.length));
  };
  Json j;
  j["type"] = "perf_stats";
  j["timestamp_mono_ns"] = r.hdr.timestamp_ns;
  j["interval_ns"] = r.interval_ns;
  j["ncpus"] = r.ncpus;
  j["context_switches"] = r.context_switches;
  j["preemptions"] = r.preemptions;
  j["irq_count"] = r.irq_count;
  j["softirq_count"] = r.softirq_count;
  j["truncated"] = r.truncated != 0;
  j["cpus"] = var(r.cpus);
  j["irqs"] = var(r.irqs);
  j["softirqs"] = var(r.softirqs);
  j["runq_latency"] = var(r.runq_latency);
  j["raw_suppressed"] = var(r.raw_suppressed);
  return j;
}

}  // namespace leaf::performance::test
