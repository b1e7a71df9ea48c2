// TestHost: see sdk/include/leaf/sdk/testing/test_host.hpp. Built on
// leaf-host's own code where it decides something a plugin sees: the option
// table read by row size (core/plugins/abi_tables), configuration defaults
// and validation (core/config/config_section). Records come out of the
// kernel's ring buffers through libbpf's ring_buffer, as in the dispatcher.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <toml++/toml.h>

#include <cstring>
#include <iostream>
#include <leaf/sdk/testing/test_host.hpp>
#include <stdexcept>
#include <utility>
#include <variant>

#include "config/config_section.hpp"
#include "pipeline/json_check.hpp"
#include "plugins/abi_tables.hpp"

namespace leaf::sdk::testing {

namespace {

std::string str(StringView v) { return v.data ? std::string(v.data, v.size) : std::string(); }

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::Trace:
      return "trace";
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "?";
}

// The checks leaf-host makes on a descriptor before it uses it.
void check_descriptor(const PluginDescriptor* d) {
  if (!d) throw std::runtime_error("entry point returned no descriptor");
  std::string host_abi = std::to_string(kAbiMajor) + "." + std::to_string(kAbiMinor);
  std::string plugin_abi = std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor);
  if (d->abi_major != kAbiMajor || d->abi_minor > kAbiMinor)
    throw std::runtime_error("incompatible ABI: plugin needs ABI " + plugin_abi +
                             ", this test host speaks ABI " + host_abi);
  if (d->struct_size < core::kMinDescriptorSize || !d->create || !d->name)
    throw std::runtime_error("malformed descriptor (ABI " + plugin_abi + ")");
}

class MapVisitor final : public ICounterVisitor {
 public:
  explicit MapVisitor(std::map<std::string, int64_t>* out) : out_(out) {}
  void counter(StringView name, StringView label, uint64_t value) noexcept override {
    put(str(name), label, static_cast<int64_t>(value));
  }
  void gauge(StringView name, StringView label, int64_t value) noexcept override {
    put(str(name), label, value);
  }
  void histogram(StringView name, StringView label, const HistogramView* h) noexcept override {
    if (!h) return;
    uint64_t n = 0;
    for (uint32_t i = 0; i < h->bucket_count; ++i) n += h->counts[i];
    put(str(name) + "_count", label, static_cast<int64_t>(n));
    put(str(name) + "_sum", label, static_cast<int64_t>(h->sum));
  }

 private:
  void put(const std::string& name, StringView label, int64_t v) noexcept {
    try {
      (*out_)[label.size ? name + "{" + str(label) + "}" : name] = v;
    } catch (...) {
    }
  }
  std::map<std::string, int64_t>* out_;
};

// Records a processor's edits; get_string reads Chars and VarChars fields
// of the record as the host's editor does, after any replacement.
class RecordingEditor final : public IEventEditor {
 public:
  RecordingEditor(const EventTypeDesc& type, const uint8_t* record, uint32_t size,
                  ProcessedEvent* out)
      : type_(type), record_(record), size_(size), out_(out) {}

  Status add_string(StringView name, StringView value) noexcept override {
    return add(name, quote(str(value)));
  }
  Status add_int(StringView name, int64_t value) noexcept override {
    return add(name, std::to_string(value));
  }
  Status add_uint(StringView name, uint64_t value) noexcept override {
    return add(name, std::to_string(value));
  }
  Status add_json(StringView name, StringView json) noexcept override {
    return add(name, str(json));
  }
  // Recorded as add_json would record each member: name (unescaped) ->
  // value text. A fragment that is not `"name":value` members is refused.
  Status add_members(StringView members) noexcept override {
    try {
      std::string m = str(members);
      std::vector<std::pair<std::string, std::string>> parsed;
      if (m.empty() || !split_members(m, &parsed)) return Status::InvalidArgument;
      for (auto& [name, value] : parsed) out_->added[name] = std::move(value);
      return Status::Ok;
    } catch (...) {
      return Status::Error;
    }
  }
  Status replace_string(uint32_t field_index, StringView value) noexcept override {
    if (!is_string(field_index)) return Status::InvalidArgument;
    try {
      out_->replaced[field_index] = str(value);
      return Status::Ok;
    } catch (...) {
      return Status::Error;
    }
  }
  Status get_string(uint32_t field_index, StringView* out) const noexcept override {
    if (!out || !is_string(field_index)) return Status::InvalidArgument;
    auto r = out_->replaced.find(field_index);
    if (r != out_->replaced.end()) {
      *out = StringView{r->second.data(), r->second.size()};
      return Status::Ok;
    }
    const FieldDesc& f = field_at(type_, field_index);
    if (f.offset + f.size > size_) return Status::InvalidArgument;
    const char* p = reinterpret_cast<const char*>(record_) + f.offset;
    if (f.type == FieldType::Chars) {
      *out = StringView{p, static_cast<uint32_t>(strnlen(p, f.size))};
      return Status::Ok;
    }
    uint16_t off = 0, len = 0;  // struct leaf_var
    std::memcpy(&off, p, sizeof(off));
    std::memcpy(&len, p + sizeof(off), sizeof(len));
    if (uint32_t(off) + len > size_) return Status::InvalidArgument;
    *out = StringView{reinterpret_cast<const char*>(record_) + off, len};
    return Status::Ok;
  }

 private:
  bool is_string(uint32_t i) const {
    if (i >= type_.field_count) return false;
    FieldType t = field_at(type_, i).type;
    return t == FieldType::Chars || t == FieldType::VarChars;
  }
  Status add(StringView name, std::string json) noexcept {
    try {
      out_->added[str(name)] = std::move(json);
      return Status::Ok;
    } catch (...) {
      return Status::Error;
    }
  }
  // `"a":1,"b":{"c":[2,","]}` -> (a, 1), (b, {"c":[2,","]}): commas split
  // members only outside strings and brackets; every value must be one JSON
  // value (core's checker).
  static bool split_members(const std::string& m,
                            std::vector<std::pair<std::string, std::string>>* out) {
    size_t i = 0;
    while (i < m.size()) {
      if (m[i] != '"') return false;
      std::string name;
      for (++i; i < m.size() && m[i] != '"'; ++i) {
        if (m[i] == '\\' && i + 1 < m.size()) ++i;
        name += m[i];
      }
      if (i + 1 >= m.size() || m[i + 1] != ':') return false;
      size_t start = i += 2;
      int depth = 0;
      bool in_string = false;
      for (; i < m.size(); ++i) {
        char c = m[i];
        if (in_string) {
          if (c == '\\')
            ++i;
          else if (c == '"')
            in_string = false;
        } else if (c == '"') {
          in_string = true;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if (c == '}' || c == ']') {
          --depth;
        } else if (c == ',' && depth == 0) {
          break;
        }
      }
      std::string value = m.substr(start, i - start);
      if (!core::is_one_json_value(value)) return false;
      out->emplace_back(std::move(name), std::move(value));
      if (i < m.size()) ++i;  // the comma
      if (i == m.size() && m.back() == ',') return false;
    }
    return !out->empty();
  }
  static std::string quote(const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  }

  const EventTypeDesc& type_;
  const uint8_t* record_;
  uint32_t size_;
  ProcessedEvent* out_;
};

}  // namespace

struct TestHost::Impl {
  std::vector<ConfigOption> options;  // in this SDK's layout
  core::ConfigSection config;
  struct Ring {
    int ring_fd, counters_fd;
  };
  std::vector<Ring> rings;
  ring_buffer* reader = nullptr;
  const std::function<void(const uint8_t*, uint32_t)>* on_record = nullptr;
  size_t drained = 0;

  ~Impl() {
    if (reader) ring_buffer__free(reader);
  }

  template <class T>
  const T* typed(StringView key) const {
    const core::ConfigValue* v = config.find(std::string_view(key.data, key.size));
    return v ? std::get_if<T>(v) : nullptr;
  }

  static int on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    ++self->drained;
    if (self->on_record && *self->on_record)
      (*self->on_record)(static_cast<const uint8_t*>(data), static_cast<uint32_t>(size));
    return 0;
  }
};

TestHost::TestHost(const std::string& path, const Overrides& config) {
  int mode = RTLD_NOW | RTLD_LOCAL;
#ifdef LEAF_KEEP_PLUGINS_MAPPED
  // Sanitizer builds: keep the library mapped after dlclose() so that
  // LeakSanitizer still sees its globals (core/plugins/plugin_loader.hpp).
  mode |= RTLD_NODELETE;
#endif
  library_ = dlopen(path.c_str(), mode);
  if (!library_) throw std::runtime_error("loading " + path + ": " + dlerror());
  // BOOST_DLL_ALIAS exports a variable holding the entry point's address.
  void* alias = dlsym(library_, kEntryPointName);
  if (!alias) {
    dlclose(library_);
    throw std::runtime_error(path + " exports no " + kEntryPointName + ": not a Leaf plugin");
  }
  auto* entry = reinterpret_cast<EntryPoint*>(*static_cast<void* const*>(alias));
  try {
    create(entry(), config);
  } catch (...) {
    impl_.reset();
    dlclose(library_);
    throw;
  }
}

TestHost::TestHost(const PluginDescriptor* descriptor, const Overrides& config) {
  create(descriptor, config);
}

void TestHost::create(const PluginDescriptor* d, const Overrides& config) {
  check_descriptor(d);
  impl_ = std::make_unique<Impl>();
  impl_->options = core::read_options(*d);
  kind_ = d->kind;
  name_ = d->name;
  // The overrides as one TOML document ("raw.rate_limit = 10" is a dotted
  // key), validated by leaf-host's code, as conf.d/<name>.toml would be.
  std::string text;
  for (const auto& [key, value] : config) text += key + " = " + value + "\n";
  toml::table table;
  try {
    table = toml::parse(text);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error("test configuration of " + name_ + ": " +
                             std::string(e.description()) + " in:\n" + text);
  }
  impl_->config = core::ConfigSection::validate(&table, impl_->options, "<test " + name_ + ">");

  char error[512] = "";
  object_ = d->create(this, error, sizeof(error));
  if (!object_)
    throw std::runtime_error("creating " + name_ + ": " + (error[0] ? error : "no reason given"));
  InterfaceId id = kind_ == PluginKind::Probe       ? IProbePlugin::kId
                   : kind_ == PluginKind::Processor ? IProcessor::kId
                                                    : ISink::kId;
  iface_ = object_->query_interface(id);
  if (!iface_) {
    object_->destroy();
    object_ = nullptr;
    throw std::runtime_error(name_ + ": the object does not offer its kind's interface");
  }
}

TestHost::~TestHost() {
  stop();
  close();
  if (object_) object_->destroy();
  impl_.reset();  // the ring reader; nothing of the library is used after this
  if (library_) dlclose(library_);
}

PluginKind TestHost::kind() const { return kind_; }
IProbePlugin* TestHost::probe() const {
  return kind_ == PluginKind::Probe ? static_cast<IProbePlugin*>(iface_) : nullptr;
}
ISink* TestHost::sink() const {
  return kind_ == PluginKind::Sink ? static_cast<ISink*>(iface_) : nullptr;
}
IProcessor* TestHost::processor() const {
  return kind_ == PluginKind::Processor ? static_cast<IProcessor*>(iface_) : nullptr;
}

namespace {
void check(Status s, const char* what, const std::string& name, const IPluginObject* o) {
  if (s != Status::Ok)
    throw std::runtime_error(name + " " + what + ": " +
                             (o->last_error() && *o->last_error() ? o->last_error() : "failed"));
}
}  // namespace

void TestHost::open() {
  // As leaf-host: a probe's open() may not add rings or timers or emit
  // (it may run beside the dispatcher there).
  in_probe_open_ = probe() != nullptr;
  Status s = probe() ? probe()->open() : sink() ? sink()->open() : processor()->open();
  in_probe_open_ = false;
  check(s, "open", name_, object_);
  opened_ = true;
}

void TestHost::start() {
  if (!probe()) throw std::logic_error("start(): " + name_ + " is not a probe");
  check(probe()->start(), "start", name_, object_);
  started_ = true;
}

void TestHost::stop() {
  if (started_ && probe()) probe()->stop();
  started_ = false;
}

void TestHost::close() {
  if (!opened_) return;
  opened_ = false;
  if (sink()) sink()->close();
  if (processor()) processor()->close();
}

size_t TestHost::drain(const std::function<void(const uint8_t*, uint32_t)>& on_record) {
  if (!impl_->reader) return 0;
  impl_->on_record = &on_record;
  impl_->drained = 0;
  int err = ring_buffer__consume(impl_->reader);
  impl_->on_record = nullptr;
  if (err < 0) throw std::runtime_error("reading the ring buffers: " + std::string(strerror(-err)));
  return impl_->drained;
}

RingCounts TestHost::ring_counts(uint32_t type) const {
  RingCounts sum;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return sum;
  struct PerCpu {
    uint64_t emitted, lost;  // struct leaf_type_counters
  };
  std::vector<PerCpu> values(static_cast<size_t>(cpus));
  for (const auto& r : impl_->rings) {
    if (r.counters_fd < 0 || bpf_map_lookup_elem(r.counters_fd, &type, values.data()) != 0)
      continue;
    for (const auto& v : values) {
      sum.emitted += v.emitted;
      sum.lost += v.lost;
    }
  }
  return sum;
}

void TestHost::fire_timers() {
  for (const auto& t : timers_) t.handler->on_timer();
}

uint64_t TestHost::timer_interval_ns(size_t i) const {
  return i < timers_.size() ? timers_[i].interval_ns : 0;
}

std::vector<EmittedRecord> TestHost::take_emitted() { return std::exchange(emitted_, {}); }

ProcessedEvent TestHost::process(const EventTypeDesc& type, const void* record, uint32_t size,
                                 const std::string& from_plugin) {
  if (!processor()) throw std::logic_error("process(): " + name_ + " is not a processor");
  ProcessedEvent result;
  const auto* bytes = static_cast<const uint8_t*>(record);
  RecordingEditor editor(type, bytes, size, &result);
  EventView view{
      sizeof(EventView), &type, bytes, size, 0, StringView{from_plugin.data(), from_plugin.size()}};
  result.verdict = processor()->process(&view, &editor);
  return result;
}

std::map<std::string, int64_t> TestHost::counters() {
  std::map<std::string, int64_t> out;
  MapVisitor v(&out);
  if (probe()) probe()->read_counters(&v);
  if (sink()) sink()->read_counters(&v);
  if (processor()) processor()->read_counters(&v);
  return out;
}

std::vector<std::string> TestHost::logs() const {
  std::lock_guard<std::mutex> lock(log_mu_);
  return logs_;
}

bool TestHost::logged(const std::string& needle) const {
  std::lock_guard<std::mutex> lock(log_mu_);
  for (const auto& l : logs_)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

void TestHost::log(LogLevel level, StringView message) noexcept {
  try {
    std::string line = str(message);
    if (level >= echo_level_)
      std::cerr << "[" << name_ << "] " << level_name(level) << ": " << line << "\n";
    std::lock_guard<std::mutex> lock(log_mu_);
    logs_.push_back(std::move(line));
  } catch (...) {
  }
}

Status TestHost::config_bool(StringView key, bool* out) const noexcept {
  const bool* v = impl_->typed<bool>(key);
  if (!v || !out) return Status::InvalidArgument;
  *out = *v;
  return Status::Ok;
}

Status TestHost::config_int(StringView key, int64_t* out) const noexcept {
  const int64_t* v = impl_->typed<int64_t>(key);
  if (!v || !out) return Status::InvalidArgument;
  *out = *v;
  return Status::Ok;
}

Status TestHost::config_string(StringView key, StringView* out) const noexcept {
  const std::string* v = impl_->typed<std::string>(key);
  if (!v || !out) return Status::InvalidArgument;
  *out = StringView{v->data(), v->size()};
  return Status::Ok;
}

Status TestHost::config_list_size(StringView key, uint32_t* out) const noexcept {
  if (!out) return Status::InvalidArgument;
  if (auto* s = impl_->typed<std::vector<std::string>>(key)) {
    *out = static_cast<uint32_t>(s->size());
    return Status::Ok;
  }
  if (auto* i = impl_->typed<std::vector<int64_t>>(key)) {
    *out = static_cast<uint32_t>(i->size());
    return Status::Ok;
  }
  return Status::InvalidArgument;
}

Status TestHost::config_list_string(StringView key, uint32_t index,
                                    StringView* out) const noexcept {
  auto* s = impl_->typed<std::vector<std::string>>(key);
  if (!s || !out || index >= s->size()) return Status::InvalidArgument;
  *out = StringView{(*s)[index].data(), (*s)[index].size()};
  return Status::Ok;
}

Status TestHost::config_list_int(StringView key, uint32_t index, int64_t* out) const noexcept {
  auto* s = impl_->typed<std::vector<int64_t>>(key);
  if (!s || !out || index >= s->size()) return Status::InvalidArgument;
  *out = (*s)[index];
  return Status::Ok;
}

// As leaf-host (core/runtime/plugin_instance.cpp): refused inside a probe's open().
bool TestHost::refused_in_open(const char* call) noexcept {
  if (!in_probe_open_) return false;
  try {
    std::string line = std::string(call) +
                       " refused: called from open(); rings, timers and events belong in start() "
                       "(sdk abi.h, IProbePlugin::open)";
    log(LogLevel::Error, StringView{line.data(), line.size()});
  } catch (...) {
  }
  return true;
}

Status TestHost::add_ring_buffer(const RingBufferRegistration* reg) noexcept {
  if (refused_in_open("add_ring_buffer")) return Status::Error;
  if (!reg || reg->ringbuf_map_fd < 0) return Status::InvalidArgument;
  if (reg->decoder) {
    log(LogLevel::Error, make_view("TestHost: rings with a record decoder are not supported"));
    return Status::NotSupported;
  }
  int err = impl_->reader ? ring_buffer__add(impl_->reader, reg->ringbuf_map_fd, &Impl::on_sample,
                                             impl_.get())
                          : 0;
  if (!impl_->reader) {
    impl_->reader = ring_buffer__new(reg->ringbuf_map_fd, &Impl::on_sample, impl_.get(), nullptr);
    err = impl_->reader ? 0 : -errno;
  }
  if (err) return Status::Error;
  impl_->rings.push_back({reg->ringbuf_map_fd, reg->counters_map_fd});
  return Status::Ok;
}

// As leaf-host: a record outside the type's fixed..max size is refused.
Status TestHost::emit(const EventTypeDesc* type, const uint8_t* record, uint32_t size) noexcept {
  if (refused_in_open("emit")) return Status::Error;
  if (!type || !record || !type->name) return Status::InvalidArgument;
  try {
    auto owned = core::read_type(type);
    if (size < owned->desc.fixed_size || size > owned->desc.max_size)
      return Status::InvalidArgument;
    emitted_.push_back({type->name, std::vector<uint8_t>(record, record + size)});
    return Status::Ok;
  } catch (...) {
    return Status::InvalidArgument;
  }
}

Status TestHost::add_timer(uint64_t interval_ns, ITimerHandler* handler) noexcept {
  if (refused_in_open("add_timer")) return Status::Error;
  if (!handler || interval_ns < 1'000'000) return Status::InvalidArgument;  // as leaf-host
  try {
    timers_.push_back({interval_ns, handler});
    return Status::Ok;
  } catch (...) {
    return Status::Error;
  }
}

StringView TestHost::hostname() const noexcept {
  return StringView{hostname_.data(), hostname_.size()};
}
StringView TestHost::plugin_name() const noexcept { return StringView{name_.data(), name_.size()}; }

}  // namespace leaf::sdk::testing
