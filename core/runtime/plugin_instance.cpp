#include "runtime/plugin_instance.hpp"

#include <spdlog/spdlog.h>

namespace leaf::core {

using sdk::Status;
using sdk::StringView;

namespace {
std::string_view sv(StringView v) { return {v.data, static_cast<size_t>(v.size)}; }

spdlog::level::level_enum to_spdlog(sdk::LogLevel l) {
  switch (l) {
    case sdk::LogLevel::Trace: return spdlog::level::trace;
    case sdk::LogLevel::Debug: return spdlog::level::debug;
    case sdk::LogLevel::Info: return spdlog::level::info;
    case sdk::LogLevel::Warn: return spdlog::level::warn;
    case sdk::LogLevel::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}
}  // namespace

PluginInstance::PluginInstance(PluginLibrary library, ConfigSection config, Dispatcher* dispatcher)
    : library_(std::move(library)), config_(std::move(config)), dispatcher_(dispatcher) {}

PluginInstance::~PluginInstance() { destroy_object(); }

bool PluginInstance::create(std::string* error) {
  char buf[512] = {0};
  object_ = library_.descriptor.create(this, buf, sizeof(buf));
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
  return true;
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

Status PluginInstance::config_list_int(StringView key, uint32_t index, int64_t* out) const noexcept {
  auto* s = typed<std::vector<int64_t>>(config_, key);
  if (!s || !out || index >= s->size()) return Status::InvalidArgument;
  *out = (*s)[index];
  return Status::Ok;
}

Status PluginInstance::add_ring_buffer(const sdk::RingBufferRegistration* reg) noexcept {
  if (!dispatcher_ || !reg) return Status::NotSupported;
  try {
    std::string err = dispatcher_->add_ring(this, name(), *reg, this);
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
  if (!dispatcher_ || !type || !record) return Status::InvalidArgument;
  try {
    auto it = emitted_types_.find(type);
    if (it == emitted_types_.end()) {
      auto infos = dispatcher_->pipeline().register_types(name(), type, type->struct_size, 1);
      it = emitted_types_.emplace(type, infos.front()).first;
    }
    return dispatcher_->pipeline().handle_typed(name(), it->second, record, size)
               ? Status::Ok
               : Status::InvalidArgument;
  } catch (const std::exception& e) {
    ++bad_emits_;
    spdlog::error("[{}] emit refused: {}", name(), e.what());
    return Status::InvalidArgument;
  }
}

Status PluginInstance::add_timer(uint64_t interval_ns, sdk::ITimerHandler* handler) noexcept {
  if (!dispatcher_ || !handler || interval_ns < 1'000'000) return Status::InvalidArgument;
  try {
    dispatcher_->add_timer(this, std::chrono::nanoseconds(interval_ns), [this, handler] {
      handler->on_timer();
      dispatcher_->pipeline().end_batch();
    });
    return Status::Ok;
  } catch (...) {
    return Status::Error;
  }
}

StringView PluginInstance::hostname() const noexcept {
  const std::string& h = dispatcher_ ? dispatcher_->pipeline().hostname() : name();
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
    case spdlog::level::trace: return sdk::LogLevel::Trace;
    case spdlog::level::debug: return sdk::LogLevel::Debug;
    case spdlog::level::info: return sdk::LogLevel::Info;
    case spdlog::level::warn: return sdk::LogLevel::Warn;
    default: return sdk::LogLevel::Error;
  }
}

}  // namespace leaf::core
