// Finding and opening plugin libraries (Boost.DLL): permission checks, the
// entry point, ABI negotiation. Every refusal is one clear reason naming the
// file; the caller logs it and goes on with the other plugins.
#pragma once

#include <boost/dll/shared_library.hpp>

#include <optional>
#include <string>
#include <vector>

#include <leaf/sdk/abi.h>

namespace leaf::core {

struct PluginLibrary {
  // Declared first so that it is destroyed last: no object, descriptor or
  // string from the library may outlive it.
  boost::dll::shared_library library;
  // The plugin's descriptor and option table, copied into the host's layout
  // (plugins/abi_tables.hpp); the strings point into the library.
  sdk::PluginDescriptor descriptor{};
  std::vector<sdk::ConfigOption> options;
  std::string path;
  std::string name;
};

// Checks a descriptor (ABI version, sizes, name, kind) and copies it into
// `out` (library left empty). Returns false with the reason in *error.
bool accept_descriptor(const sdk::PluginDescriptor* d, PluginLibrary* out, std::string* error);

// A plugin compiled into leaf-host (path "<built-in>"). Throws
// std::logic_error when its descriptor is not acceptable.
PluginLibrary builtin_library(const sdk::PluginDescriptor* d);

// The plugin files (*.so) in `dir`, sorted by name. Throws
// std::runtime_error when the directory cannot be read.
std::vector<std::string> list_plugin_files(const std::string& dir);

// When running as root, a plugin that anyone but root could have written
// must not be loaded: returns the reason, or an empty string when safe.
std::string check_permissions(const std::string& path);

// Opens one library and checks its descriptor. Returns nullopt with the
// reason in *error.
std::optional<PluginLibrary> open_plugin(const std::string& path, std::string* error);

const char* kind_name(sdk::PluginKind kind);

}  // namespace leaf::core
