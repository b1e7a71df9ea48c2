// C++ convenience layer for writing Leaf plugins (header-only; compiled into
// the plugin, never part of the ABI).
//
//  - PluginBase<Iface>: last_error()/destroy(), exception-to-Status guards,
//    typed configuration readers that throw ConfigError, logging.
//  - ProbePluginBase (probe.hpp, the only part that needs libbpf): the usual
//    probe plugin shape; sinks and processors include this header alone.
//  - LEAF_PLUGIN(...): the one exported entry point and its descriptor.
//
// See sdk/examples/ for a complete plugin.
#pragma once

#include <leaf/sdk/abi.h>

#include <boost/dll/alias.hpp>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

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

inline std::string to_string(StringView v) {
  return v.data ? std::string(v.data, v.size) : std::string();
}
inline StringView view(const std::string& s) { return StringView{s.data(), s.size()}; }

template <class Iface>
class PluginBase : public Iface {
 public:
  const char* last_error() const noexcept override { return error_.c_str(); }
  void destroy() noexcept override { delete this; }
  // Offers the kind interface; a plugin that offers more overrides this and
  // calls PluginBase::query_interface for the rest.
  void* query_interface(InterfaceId id) noexcept override {
    if (id == Iface::kId) return static_cast<Iface*>(this);
    if (id == IPluginObject::kId) return static_cast<IPluginObject*>(this);
    return nullptr;
  }

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
      throw PluginError(
          std::string("configuration key '") + key + "' is not declared with this type",
          Status::InvalidArgument);
  }
};

template <size_t N>
constexpr uint32_t option_count(const ConfigOption (&)[N]) {
  return static_cast<uint32_t>(N);
}
// For LEAF_PLUGIN_NO_OPTIONS. (A `const ConfigOption*` overload would win
// over the array template and count every table as empty.)
constexpr uint32_t option_count(std::nullptr_t) { return 0; }

}  // namespace leaf::sdk

// The ABI minor a plugin needs. A plugin that uses nothing added after
// minor N may define LEAF_PLUGIN_ABI_MINOR N before including this header,
// so that hosts of minor N load it too.
#ifndef LEAF_PLUGIN_ABI_MINOR
#define LEAF_PLUGIN_ABI_MINOR ::leaf::sdk::kAbiMinor
#endif

// Defines `static const PluginDescriptor var` (no export): used by
// LEAF_PLUGIN and by plugins built into leaf-host.
#define LEAF_PLUGIN_DESCRIPTOR(var, Class, Kind, name, version, description, options)      \
  static ::leaf::sdk::IPluginObject* var##_create(::leaf::sdk::IHost* host, char* error,   \
                                                  uint32_t error_size) noexcept {          \
    try {                                                                                  \
      return new Class(host);                                                              \
    } catch (const std::exception& e) {                                                    \
      if (error && error_size) std::snprintf(error, error_size, "%s", e.what());           \
    } catch (...) {                                                                        \
      if (error && error_size) std::snprintf(error, error_size, "unknown exception");      \
    }                                                                                      \
    return nullptr;                                                                        \
  }                                                                                        \
  static const ::leaf::sdk::PluginDescriptor var = {::leaf::sdk::kAbiMajor,                \
                                                    LEAF_PLUGIN_ABI_MINOR,                 \
                                                    sizeof(::leaf::sdk::PluginDescriptor), \
                                                    ::leaf::sdk::PluginKind::Kind,         \
                                                    name,                                  \
                                                    version,                               \
                                                    description,                           \
                                                    options,                               \
                                                    ::leaf::sdk::option_count(options),    \
                                                    sizeof(::leaf::sdk::ConfigOption),     \
                                                    &var##_create}

// Defines the plugin's descriptor and its exported entry point.
//   LEAF_PLUGIN(MyProbe, Probe, "myprobe", "1.0.0", "What it does", kOptions)
// `Class` must be constructible from `leaf::sdk::IHost*`; `options` is an
// array of leaf::sdk::ConfigOption (use LEAF_PLUGIN_NO_OPTIONS for none).
#define LEAF_PLUGIN(Class, Kind, name, version, description, options)                   \
  namespace leaf_plugin_entry {                                                         \
  LEAF_PLUGIN_DESCRIPTOR(descriptor, Class, Kind, name, version, description, options); \
  const ::leaf::sdk::PluginDescriptor* get_descriptor() { return &descriptor; }         \
  }                                                                                     \
  BOOST_DLL_ALIAS(leaf_plugin_entry::get_descriptor, leaf_plugin_descriptor)

// An empty option table for LEAF_PLUGIN.
#define LEAF_PLUGIN_NO_OPTIONS nullptr
