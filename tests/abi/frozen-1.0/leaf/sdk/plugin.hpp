// C++ convenience layer for writing Leaf plugins (header-only; compiled into
// the plugin, never part of the ABI).
//
//  - PluginBase<Iface>: last_error()/destroy(), exception-to-Status guards,
//    typed configuration readers that throw ConfigError, logging.
//  - ProbePluginBase: the usual probe plugin shape (hook selection, links,
//    probe reports, event type table); a plugin fills in do_open/do_start.
//  - LEAF_PLUGIN(...): the one exported entry point and its descriptor.
//
// See sdk/examples/ for a complete plugin.
#pragma once

#include <boost/dll/alias.hpp>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <leaf/sdk/abi.h>
#include <leaf/sdk/hooks.hpp>

namespace leaf::sdk {

// Thrown inside plugin code, turned into a Status at the ABI boundary.
struct PluginError : std::runtime_error {
  explicit PluginError(const std::string& m, Status s = Status::Error)
      : std::runtime_error(m), status(s) {}
  Status status;
};

// A ring buffer's size must be a power of two and a multiple of the page
// size: rounds a configured byte count up to the next such size.
inline uint32_t ring_buffer_bytes(int64_t configured) {
  uint64_t size = 4096;
  while (size < static_cast<uint64_t>(configured) && size < (1ull << 31)) size <<= 1;
  return static_cast<uint32_t>(size);
}

inline std::string to_string(StringView v) { return v.data ? std::string(v.data, v.size) : std::string(); }
inline StringView view(const std::string& s) { return StringView{s.data(), s.size()}; }

template <class Iface>
class PluginBase : public Iface {
 public:
  const char* last_error() const noexcept override { return error_.c_str(); }
  void destroy() noexcept override { delete this; }

 protected:
  explicit PluginBase(IHost* host) : host_(host) {}
  virtual ~PluginBase() = default;

  // Runs f, turning exceptions into a Status and last_error().
  template <class F>
  Status guarded(F&& f) noexcept {
    try {
      f();
      return Status::Ok;
    } catch (const PluginError& e) {
      error_ = e.what();
      return e.status;
    } catch (const std::exception& e) {
      error_ = e.what();
      return Status::Error;
    } catch (...) {
      error_ = "unknown exception";
      return Status::Error;
    }
  }

  // Configuration (declared options only; the host has validated values).
  bool cfg_bool(const char* key) const {
    bool v = false;
    check(host_->config_bool(make_view(key), &v), key);
    return v;
  }
  int64_t cfg_int(const char* key) const {
    int64_t v = 0;
    check(host_->config_int(make_view(key), &v), key);
    return v;
  }
  std::string cfg_string(const char* key) const {
    StringView v{};
    check(host_->config_string(make_view(key), &v), key);
    return to_string(v);
  }
  std::vector<std::string> cfg_strings(const char* key) const {
    uint32_t n = 0;
    check(host_->config_list_size(make_view(key), &n), key);
    std::vector<std::string> out;
    for (uint32_t i = 0; i < n; ++i) {
      StringView v{};
      check(host_->config_list_string(make_view(key), i, &v), key);
      out.push_back(to_string(v));
    }
    return out;
  }
  std::vector<int64_t> cfg_ints(const char* key) const {
    uint32_t n = 0;
    check(host_->config_list_size(make_view(key), &n), key);
    std::vector<int64_t> out(n);
    for (uint32_t i = 0; i < n; ++i) check(host_->config_list_int(make_view(key), i, &out[i]), key);
    return out;
  }

  void log(LogLevel level, const std::string& msg) const { host_->log(level, view(msg)); }
  bool log_enabled(LogLevel level) const { return level >= host_->log_level(); }

  IHost* host_;
  std::string error_;

 private:
  static void check(Status s, const char* key) {
    if (s != Status::Ok)
      throw PluginError(std::string("configuration key '") + key + "' is not declared with this type",
                        Status::InvalidArgument);
  }
};

// The common shape of a probe plugin: a BPF object whose programs are chosen
// among hook candidates, attached at start, detached at stop.
class ProbePluginBase : public PluginBase<IProbePlugin> {
 public:
  Status open() noexcept override { return guarded([&] { do_open(); }); }
  Status start() noexcept override {
    return guarded([&] {
      do_start();
      started_ = true;
    });
  }
  void stop() noexcept override {
    if (!started_) return;
    started_ = false;
    detach();
    try {
      do_stop();
    } catch (...) {
    }
  }

  Status reload() noexcept override {
    bool applied = false;
    Status s = guarded([&] { applied = do_reload(); });
    if (s != Status::Ok) return s;
    if (!applied) {
      error_ = "this plugin applies configuration changes at restart only";
      return Status::NotSupported;
    }
    return Status::Ok;
  }

  uint32_t probe_count() const noexcept override { return static_cast<uint32_t>(choices_.size()); }
  Status probe_info(uint32_t i, ProbeInfo* out) const noexcept override {
    if (i >= choices_.size() || !out) return Status::InvalidArgument;
    const auto& c = choices_[i];
    *out = ProbeInfo{sizeof(ProbeInfo),
                     view(c.probe),
                     c.hook,
                     c.programs.empty() ? StringView{"", 0} : view(c.programs.front()),
                     view(c.detail),
                     c.attached ? 1u : 0u};
    return Status::Ok;
  }
  uint32_t event_type_count() const noexcept override { return type_count_; }
  const EventTypeDesc* event_type(uint32_t i) const noexcept override {
    return i < type_count_ ? &types_[i] : nullptr;
  }
  void read_counters(ICounterVisitor*) noexcept override {}

 protected:
  ProbePluginBase(IHost* host, const EventTypeDesc* types, uint32_t type_count)
      : PluginBase(host), types_(types), type_count_(type_count) {}
  ~ProbePluginBase() override { detach(); }

  virtual void do_open() = 0;   // configure, select hooks, load
  virtual void do_start() = 0;  // attach_selected(), register ring buffers
  virtual void do_stop() {}
  // Applies a changed configuration while running; returns false when this
  // plugin cannot (the default). Throw PluginError(..., Status::InvalidConfig)
  // to refuse the new values.
  virtual bool do_reload() { return false; }

  // Tries every probe's hook candidates (see hooks.hpp) and marks only the
  // winners for loading in `obj`. Probes named in `required` must find a
  // hook, or this throws naming them and the reasons.
  void select_hooks(const void* elf, size_t size, bpf_object* obj, uint32_t skip_mask,
                    const std::vector<std::string>& required) {
    hooks::Selector sel(elf, size, skip_mask);
    choices_ = sel.select();
    hooks::Selector::apply(obj, choices_);
    for (const auto& c : choices_) {
      bool needed = false;
      for (const auto& r : required) needed = needed || r == c.probe;
      if (c.hook == HookKind::None && needed)
        throw PluginError("probe '" + c.probe + "' has no usable hook on this kernel: " + c.detail,
                          Status::NotSupported);
      if (c.hook != HookKind::None)
        log(LogLevel::Debug, "probe " + c.probe + " uses " + hooks::hook_name(c.hook) +
                                 (c.detail.empty() ? "" : " (" + c.detail + ")"));
    }
  }

  // Skip mask from a StringList option of hook names ("fentry", "kprobe"...).
  uint32_t skip_mask_from(const std::vector<std::string>& names) const {
    uint32_t mask = 0;
    for (const auto& n : names) {
      uint32_t bit = hooks::hook_bit(n);
      if (!bit) throw PluginError("unknown hook '" + n + "' (fentry, kprobe, tp_btf, raw_tp, tracepoint)",
                                  Status::InvalidConfig);
      mask |= bit;
    }
    return mask;
  }

  void attach_selected(bpf_object* obj) {
    std::string err;
    if (hooks::Selector::attach(obj, choices_, links_, &err) != 0) throw PluginError(err);
  }

  void detach() noexcept {
    for (auto* l : links_) bpf_link__destroy(l);
    links_.clear();
    for (auto& c : choices_) c.attached = false;
  }

  // Writes the host's ring-buffer wakeup policy into a skeleton's .rodata
  // (every object built with bpf/leaf.bpf.h has leaf_wakeup_delay_ns). Call
  // before load.
  template <class Rodata>
  void apply_ring_settings(Rodata* rodata) const {
    rodata->leaf_wakeup_delay_ns = host_->ring_wakeup_delay_ns();
  }

  // Registers a ring buffer with the host's dispatcher.
  void add_ring(bpf_map* ringbuf, bpf_map* counters, IRecordDecoder* decoder = nullptr) {
    RingBufferRegistration reg{sizeof(RingBufferRegistration), bpf_map__fd(ringbuf),
                               counters ? bpf_map__fd(counters) : -1, types_, type_count_,
                               decoder};
    if (host_->add_ring_buffer(&reg) != Status::Ok) throw PluginError("host refused the ring buffer");
  }

  const EventTypeDesc* types_;
  uint32_t type_count_;
  std::vector<hooks::Choice> choices_;
  std::vector<bpf_link*> links_;
  bool started_ = false;
};

template <size_t N>
constexpr uint32_t option_count(const ConfigOption (&)[N]) {
  return static_cast<uint32_t>(N);
}
// For LEAF_PLUGIN_NO_OPTIONS. (A `const ConfigOption*` overload would win
// over the array template and count every table as empty.)
constexpr uint32_t option_count(std::nullptr_t) { return 0; }

}  // namespace leaf::sdk

// Defines the plugin's descriptor and its exported entry point.
//   LEAF_PLUGIN(MyProbe, Probe, "myprobe", "1.0.0", "What it does", kOptions)
// `Class` must be constructible from `leaf::sdk::IHost*`; `options` is an
// array of leaf::sdk::ConfigOption (use LEAF_PLUGIN_NO_OPTIONS for none).
#define LEAF_PLUGIN(Class, Kind, name, version, description, options)                       \
  namespace leaf_plugin_entry {                                                             \
  static ::leaf::sdk::IPluginObject* create(::leaf::sdk::IHost* host, char* error,          \
                                            uint32_t error_size) noexcept {                 \
    try {                                                                                   \
      return new Class(host);                                                               \
    } catch (const std::exception& e) {                                                     \
      if (error && error_size) std::snprintf(error, error_size, "%s", e.what());            \
    } catch (...) {                                                                         \
      if (error && error_size) std::snprintf(error, error_size, "unknown exception");      \
    }                                                                                       \
    return nullptr;                                                                         \
  }                                                                                         \
  static const ::leaf::sdk::PluginDescriptor descriptor = {                                 \
      ::leaf::sdk::kAbiMajor,                                                               \
      ::leaf::sdk::kAbiMinor,                                                               \
      sizeof(::leaf::sdk::PluginDescriptor),                                                \
      ::leaf::sdk::PluginKind::Kind,                                                        \
      name,                                                                                 \
      version,                                                                              \
      description,                                                                          \
      options,                                                                              \
      ::leaf::sdk::option_count(options),                                                   \
      &create};                                                                             \
  const ::leaf::sdk::PluginDescriptor* get_descriptor() { return &descriptor; }            \
  }                                                                                         \
  BOOST_DLL_ALIAS(leaf_plugin_entry::get_descriptor, leaf_plugin_descriptor)

// An empty option table for LEAF_PLUGIN.
#define LEAF_PLUGIN_NO_OPTIONS nullptr
