// One loaded plugin: its library, its validated configuration, the object
// it created and the IHost it sees. It holds the pipeline its events go to;
// a probe's event types (IProbePlugin::event_type) are registered with it
// as soon as the object exists: rings and IHost::emit use those, nothing is
// registered later.
#pragma once

#include <leaf/sdk/abi.h>

#include <atomic>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/config_section.hpp"
#include "pipeline/pipeline.hpp"
#include "plugins/plugin_loader.hpp"
#include "runtime/dispatcher.hpp"

namespace leaf::core {

class PluginInstance final : public sdk::IHost {
 public:
  PluginInstance(PluginLibrary library, ConfigSection config, Dispatcher* dispatcher);
  ~PluginInstance();  // destroys the object, then the library (when no sibling holds it)
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  // Another instance of the same library (loaded once, shared) with its own
  // configuration, IHost and object: a SIGHUP restart opens it beside the
  // running one and swaps it in once it is open.
  std::unique_ptr<PluginInstance> sibling(ConfigSection config) const;
  bool same_library(const PluginInstance& other) const { return library_ == other.library_; }

  // Calls the descriptor's factory, then registers a probe's event types
  // with the pipeline. Returns false with the reason in *error.
  bool create(std::string* error);
  void destroy_object();
  // Calls the probe's open(). Meanwhile add_ring_buffer, add_timer and emit
  // are refused (logged, Status::Error): open() may run on a loader thread
  // beside the dispatcher, which owns rings, timers and the pipeline (sdk
  // abi.h: open() calls only config_*, log, log_level, hostname,
  // plugin_name and ring_wakeup_delay_ns). The same at startup, so that a
  // plugin behaves alike whether it starts with the host or later.
  sdk::Status open_probe();

  const std::string& name() const { return library_->name; }
  const std::string& path() const { return library_->path; }
  sdk::PluginKind kind() const { return library_->descriptor.kind; }
  const sdk::PluginDescriptor& descriptor() const { return library_->descriptor; }
  // The declared options in the host's layout (descriptor().options is unset).
  std::span<const sdk::ConfigOption> options() const { return library_->options; }
  const ConfigSection& config() const { return config_; }
  // SIGHUP: swaps in a new configuration and returns the previous one.
  ConfigSection replace_config(ConfigSection next) {
    std::swap(config_, next);
    return next;
  }

  sdk::IProbePlugin* probe() const;
  sdk::ISink* sink() const;
  sdk::IProcessor* processor() const;
  // The plugin's last_error(), never null.
  std::string last_error() const;

  // IHost
  void log(sdk::LogLevel level, sdk::StringView message) noexcept override;
  sdk::Status config_bool(sdk::StringView key, bool* out) const noexcept override;
  sdk::Status config_int(sdk::StringView key, int64_t* out) const noexcept override;
  sdk::Status config_string(sdk::StringView key, sdk::StringView* out) const noexcept override;
  sdk::Status config_list_size(sdk::StringView key, uint32_t* out) const noexcept override;
  sdk::Status config_list_string(sdk::StringView key, uint32_t index,
                                 sdk::StringView* out) const noexcept override;
  sdk::Status config_list_int(sdk::StringView key, uint32_t index,
                              int64_t* out) const noexcept override;
  sdk::Status add_ring_buffer(const sdk::RingBufferRegistration* reg) noexcept override;
  sdk::Status emit(const sdk::EventTypeDesc* type, const uint8_t* record,
                   uint32_t size) noexcept override;
  sdk::Status add_timer(uint64_t interval_ns, sdk::ITimerHandler* handler) noexcept override;
  sdk::StringView hostname() const noexcept override;
  sdk::StringView plugin_name() const noexcept override;
  sdk::LogLevel log_level() const noexcept override;
  uint64_t ring_wakeup_delay_ns() const noexcept override;

  // Without a dispatcher (--check, --list-plugins) rings, timers and events
  // are refused.
  void set_dispatcher(Dispatcher* d) {
    dispatcher_ = d;
    pipeline_ = d ? &d->pipeline() : nullptr;
  }
  // The registered event types, indexed like IProbePlugin::event_type.
  const std::vector<TypeInfo>& event_types() const { return types_; }
  uint64_t unregistered_emits() const { return bad_emits_; }

 private:
  bool register_event_types(std::string* error);
  // The registered type `t` points to (a row of the plugin's table), or the
  // one of the same name; nullptr when the plugin did not declare it.
  const TypeInfo* find_type(const sdk::EventTypeDesc* t) const;
  const TypeInfo* find_type(std::string_view name) const;
  // True (logged) when `call` comes from inside open_probe().
  bool refused_in_open(const char* call) const;

  PluginInstance(std::shared_ptr<const PluginLibrary> library, ConfigSection config,
                 Dispatcher* dispatcher);

  // First member: released last. Shared with siblings (SIGHUP restarts).
  std::shared_ptr<const PluginLibrary> library_;
  ConfigSection config_;
  Dispatcher* dispatcher_;
  Pipeline* pipeline_;  // where events go; null without a dispatcher
  sdk::IPluginObject* object_ = nullptr;
  void* kind_iface_ = nullptr;  // object_->query_interface(<kind's id>)
  std::vector<TypeInfo> types_;
  std::vector<const sdk::EventTypeDesc*> declared_;  // the plugin's rows, like types_
  uint64_t bad_emits_ = 0;
  std::atomic<bool> in_open_{false};  // inside open_probe() (read by the plugin's threads too)
};

}  // namespace leaf::core
