#include "runtime/plugin_instance.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "plugins/abi_tables.hpp"

namespace leaf::core {

using sdk::Status;
using sdk::StringView;

namespace {
std::string_view sv(StringView v) { return {v.data, static_cast<size_t>(v.size)}; }

spdlog::level::level_enum to_spdlog(sdk::LogLevel l) {
  switch (l) {
    case sdk::LogLevel::Trace:
      return spdlog::level::trace;
    case sdk::LogLevel::Debug:
      return spdlog::level::debug;
    case sdk::LogLevel::Info:
      return spdlog::level::info;
    case sdk::LogLevel::Warn:
      return spdlog::level::warn;
    case sdk::LogLevel::Error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}
}  // namespace

PluginInstance::PluginInstance(PluginLibrary library, ConfigSection config, Dispatcher* dispatcher)
    : PluginInstance(std::make_shared<const PluginLibrary>(std::move(library)), std::move(config),
                     dispatcher) {}

PluginInstance::PluginInstance(std::shared_ptr<const PluginLibrary> library, ConfigSection config,
                               Dispatcher* dispatcher)
    : library_(std::move(library)),
      config_(std::move(config)),
      dispatcher_(dispatcher),
      pipeline_(dispatcher ? &dispatcher->pipeline() : nullptr) {}

PluginInstance::~PluginInstance() { destroy_object(); }

std::unique_ptr<PluginInstance> PluginInstance::sibling(ConfigSection config) const {
  // The constructor is private: no make_unique.
  return std::unique_ptr<PluginInstance>(
      new PluginInstance(library_, std::move(config), dispatcher_));
}

Status PluginInstance::open_probe() {
  if (!probe()) return Status::InvalidArgument;
  in_open_.store(true);
  Status s = probe()->open();
  in_open_.store(false);
  return s;
}

bool PluginInstance::refused_in_open(const char* call) const {
  if (!in_open_.load()) return false;
  try {
    spdlog::error(
        "[{}] {} refused: called from open(), which may run on a loader thread beside the "
        "dispatcher; rings, timers and events belong in start() (sdk/include/leaf/sdk/abi.h, "
        "IProbePlugin::open)",
        name(), call);
  } catch (...) {
  }
  return true;
}

bool PluginInstance::create(std::string* error) {
  char buf[512] = {0};
  object_ = library_->descriptor.create(this, buf, sizeof(buf));
  if (!object_) {
    *error = buf[0] ? buf : "the plugin's factory returned nothing";
    return false;
  }
  // The kind interface, asked for by id (never a cast across the boundary).
  sdk::InterfaceId id = kind() == sdk::PluginKind::Probe       ? sdk::IProbePlugin::kId
                        : kind() == sdk::PluginKind::Processor ? sdk::IProcessor::kId
                                                               : sdk::ISink::kId;
  kind_iface_ = object_->query_interface(id);
  if (!kind_iface_) {
    *error = std::string("the object does not offer the ") + kind_name(kind()) + " interface";
    destroy_object();
    return false;
  }
  if (!register_event_types(error)) {
    destroy_object();
    return false;
  }
  return true;
}

// Every event type the probe declares, registered once per object (a
// restarted plugin registers again; the pipeline keeps its counters by
// plugin and type name).
bool PluginInstance::register_event_types(std::string* error) {
  types_.clear();
  declared_.clear();
  if (!probe() || !pipeline_) return true;
  try {
    for (uint32_t i = 0, n = probe()->event_type_count(); i < n; ++i) {
      const sdk::EventTypeDesc* t = probe()->event_type(i);
      if (!t) throw std::invalid_argument("event_type(" + std::to_string(i) + ") is null");
      types_.push_back(pipeline_->register_types(name(), t, t->struct_size, 1).front());
      declared_.push_back(t);
    }
  } catch (const std::exception& e) {
    *error = std::string("its event types cannot be used: ") + e.what();
    types_.clear();
    declared_.clear();
    return false;
  }
  return true;
}

const TypeInfo* PluginInstance::find_type(const sdk::EventTypeDesc* t) const {
  for (size_t i = 0; i < declared_.size(); ++i)
    if (declared_[i] == t) return &types_[i];
  return t && t->struct_size >= kMinTypeSize && t->name ? find_type(std::string_view(t->name))
                                                        : nullptr;
}

const TypeInfo* PluginInstance::find_type(std::string_view type_name) const {
  for (const auto& info : types_)
    if (type_name == info.desc->name) return &info;
  return nullptr;
}

void PluginInstance::destroy_object() {
  if (object_) {
    if (dispatcher_) dispatcher_->remove_owner(this);
    object_->destroy();
    object_ = nullptr;
    kind_iface_ = nullptr;
  }
}

// kind_iface_ is what query_interface() answered for the kind's id.
sdk::IProbePlugin* PluginInstance::probe() const {
  return kind() == sdk::PluginKind::Probe ? static_cast<sdk::IProbePlugin*>(kind_iface_) : nullptr;
}
sdk::ISink* PluginInstance::sink() const {
  return kind() == sdk::PluginKind::Sink ? static_cast<sdk::ISink*>(kind_iface_) : nullptr;
}
sdk::IProcessor* PluginInstance::processor() const {
  return kind() == sdk::PluginKind::Processor ? static_cast<sdk::IProcessor*>(kind_iface_)
                                              : nullptr;
}

std::string PluginInstance::last_error() const {
  const char* e = object_ ? object_->last_error() : nullptr;
  return e && *e ? e : "no reason given";
}

void PluginInstance::log(sdk::LogLevel level, StringView message) noexcept {
  try {
    spdlog::log(to_spdlog(level), "[{}] {}", name(), sv(message));
  } catch (...) {
  }
}

namespace {
template <class T>
const T* typed(const ConfigSection& c, StringView key) {
  const ConfigValue* v = c.find(sv(key));
  return v ? std::get_if<T>(v) : nullptr;
}
}  // namespace

Status PluginInstance::config_bool(StringView key, bool* out) const noexcept {
  const bool* v = typed<bool>(config_, key);
  if (!v || !out) return Status::InvalidArgument;
  *out = *v;
  return Status::Ok;
}

Status PluginInstance::config_int(StringView key, int64_t* out) const noexcept {
  const int64_t* v = typed<int64_t>(config_, key);
  if (!v || !out) return Status::InvalidArgument;
  *out = *v;
  return Status::Ok;
}

Status PluginInstance::config_string(StringView key, StringView* out) const noexcept {
  const std::string* v = typed<std::string>(config_, key);
  if (!v || !out) return Status::InvalidArgument;
  *out = StringView{v->data(), v->size()};
  return Status::Ok;
}

Status PluginInstance::config_list_size(StringView key, uint32_t* out) const noexcept {
  if (!out) return Status::InvalidArgument;
  if (auto* s = typed<std::vector<std::string>>(config_, key)) {
    *out = static_cast<uint32_t>(s->size());
    return Status::Ok;
  }
  if (auto* i = typed<std::vector<int64_t>>(config_, key)) {
    *out = static_cast<uint32_t>(i->size());
    return Status::Ok;
  }
  return Status::InvalidArgument;
}

Status PluginInstance::config_list_string(StringView key, uint32_t index,
                                          StringView* out) const noexcept {
  auto* s = typed<std::vector<std::string>>(config_, key);
  if (!s || !out || index >= s->size()) return Status::InvalidArgument;
  *out = StringView{(*s)[index].data(), (*s)[index].size()};
  return Status::Ok;
}

Status PluginInstance::config_list_int(StringView key, uint32_t index,
                                       int64_t* out) const noexcept {
  auto* s = typed<std::vector<int64_t>>(config_, key);
  if (!s || !out || index >= s->size()) return Status::InvalidArgument;
  *out = (*s)[index];
  return Status::Ok;
}

// The ring's records carry indexes into reg->types; each of those types must
// be one the plugin declared (registered at create()).
Status PluginInstance::add_ring_buffer(const sdk::RingBufferRegistration* reg) noexcept {
  if (refused_in_open("add_ring_buffer")) return Status::Error;
  if (!dispatcher_ || !reg) return Status::NotSupported;
  try {
    std::vector<TypeInfo> ring_types;
    std::string err;
    if (reg->type_count && reg->type_size < kMinTypeSize)
      err = "event type rows of " + std::to_string(reg->type_size) + " bytes, ABI 2.0 rows have " +
            std::to_string(kMinTypeSize);
    for (uint32_t i = 0; err.empty() && i < reg->type_count; ++i) {
      const sdk::EventTypeDesc* row = type_at(reg->types, reg->type_size, i);
      const TypeInfo* info = row->name ? find_type(std::string_view(row->name)) : nullptr;
      if (!info)
        err = std::string("its event type ") + (row->name ? row->name : "(unnamed)") +
              " is not among the plugin's event types (IProbePlugin::event_type)";
      else
        ring_types.push_back(*info);
    }
    if (err.empty()) err = dispatcher_->add_ring(this, name(), *reg, this, std::move(ring_types));
    if (!err.empty()) {
      spdlog::error("[{}] ring buffer refused: {}", name(), err);
      return Status::InvalidArgument;
    }
    return Status::Ok;
  } catch (const std::exception& e) {
    spdlog::error("[{}] ring buffer refused: {}", name(), e.what());
    return Status::Error;
  }
}

Status PluginInstance::emit(const sdk::EventTypeDesc* type, const uint8_t* record,
                            uint32_t size) noexcept {
  if (refused_in_open("emit")) return Status::Error;
  if (!pipeline_ || !type || !record) return Status::InvalidArgument;
  try {
    const TypeInfo* info = find_type(type);
    if (!info) {
      if (bad_emits_++ == 0)
        spdlog::error(
            "[{}] emit refused: event type {} is not among the plugin's event types "
            "(IProbePlugin::event_type); further ones are not logged",
            name(), type->struct_size >= kMinTypeSize && type->name ? type->name : "?");
      return Status::InvalidArgument;
    }
    return pipeline_->handle_typed(name(), *info, record, size) ? Status::Ok
                                                                : Status::InvalidArgument;
  } catch (const std::exception& e) {
    ++bad_emits_;
    spdlog::error("[{}] emit refused: {}", name(), e.what());
    return Status::InvalidArgument;
  }
}

Status PluginInstance::add_timer(uint64_t interval_ns, sdk::ITimerHandler* handler) noexcept {
  if (refused_in_open("add_timer")) return Status::Error;
  if (!dispatcher_ || !handler || interval_ns < 1'000'000) return Status::InvalidArgument;
  try {
    dispatcher_->add_timer(this, std::chrono::nanoseconds(interval_ns), [this, handler] {
      handler->on_timer();
      pipeline_->end_batch();
    });
    return Status::Ok;
  } catch (...) {
    return Status::Error;
  }
}

StringView PluginInstance::hostname() const noexcept {
  const std::string& h = pipeline_ ? pipeline_->hostname() : name();
  return StringView{h.data(), h.size()};
}

StringView PluginInstance::plugin_name() const noexcept {
  return StringView{name().data(), name().size()};
}

uint64_t PluginInstance::ring_wakeup_delay_ns() const noexcept {
  return dispatcher_ ? static_cast<uint64_t>(dispatcher_->drain_interval().count()) : 0;
}

sdk::LogLevel PluginInstance::log_level() const noexcept {
  switch (spdlog::get_level()) {
    case spdlog::level::trace:
      return sdk::LogLevel::Trace;
    case spdlog::level::debug:
      return sdk::LogLevel::Debug;
    case spdlog::level::info:
      return sdk::LogLevel::Info;
    case spdlog::level::warn:
      return sdk::LogLevel::Warn;
    default:
      return sdk::LogLevel::Error;
  }
}

}  // namespace leaf::core
