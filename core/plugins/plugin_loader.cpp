#include "plugins/plugin_loader.hpp"

#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/dll/shared_library_load_mode.hpp>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include "plugins/abi_tables.hpp"
#include "plugins/plugin_file.hpp"
#include "plugins/trial_load.hpp"

namespace fs = std::filesystem;

namespace leaf::core {

const char* kind_name(sdk::PluginKind kind) {
  switch (kind) {
    case sdk::PluginKind::Probe:
      return "probe";
    case sdk::PluginKind::Processor:
      return "processor";
    case sdk::PluginKind::Sink:
      return "sink";
  }
  return "unknown";
}

std::vector<std::string> list_plugin_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw std::runtime_error("plugins directory " + dir + " does not exist");
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".so") out.push_back(e.path().string());
  }
  if (ec) throw std::runtime_error("cannot read plugins directory " + dir + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

boost::dll::load_mode::type plugin_load_mode() {
  auto mode = boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local;
#ifdef LEAF_KEEP_PLUGINS_MAPPED
  // Boost.DLL hands the mode bits to dlopen() as they are on POSIX.
  mode = mode | static_cast<boost::dll::load_mode::type>(RTLD_NODELETE);
#endif
  return mode;
}

LibraryFd::~LibraryFd() {
  if (fd_ < 0) return;
  // A library that could not be unloaded (unique symbols, a thread still
  // in it) keeps its name: keep the descriptor number taken with it.
  std::string name = "/proc/self/fd/" + std::to_string(fd_);
  if (void* h = dlopen(name.c_str(), RTLD_LAZY | RTLD_NOLOAD)) {
    dlclose(h);
    return;
  }
  close(fd_);
}

LibraryFd& LibraryFd::operator=(LibraryFd&& o) noexcept {
  if (this != &o) {
    LibraryFd gone(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

bool accept_descriptor(const sdk::PluginDescriptor* d, PluginLibrary* p, std::string* error) {
  if (!d) {
    *error = "entry point returned no descriptor";
    return false;
  }
  std::string host_abi = std::to_string(sdk::kAbiMajor) + "." + std::to_string(sdk::kAbiMinor);
  std::string plugin_abi = std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor);
  if (d->abi_major != sdk::kAbiMajor) {
    *error = "incompatible ABI: plugin is built for ABI " + plugin_abi + ", this host speaks ABI " +
             host_abi + " (the major version must match)";
    return false;
  }
  if (d->abi_minor > sdk::kAbiMinor) {
    *error = "incompatible ABI: plugin needs ABI " + plugin_abi + ", this host speaks ABI " +
             host_abi + " (upgrade leaf-host)";
    return false;
  }
  if (d->struct_size < kMinDescriptorSize || !d->create || !d->name) {
    *error = "malformed descriptor (ABI " + plugin_abi + ")";
    return false;
  }
  static const std::regex kName("[a-z0-9_]{1,64}");
  if (!std::regex_match(d->name, kName)) {
    *error = std::string("invalid plugin name '") + d->name + "' (want [a-z0-9_]+)";
    return false;
  }
  auto kind = static_cast<uint32_t>(d->kind);
  if (kind < 1 || kind > 3) {
    *error = "unknown plugin kind " + std::to_string(kind);
    return false;
  }
  if (d->option_count && !d->options) {
    *error = "descriptor declares options but no option table";
    return false;
  }
  try {
    p->options = read_options(*d);
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
  p->descriptor = read_row<sdk::PluginDescriptor>(d, d->struct_size, 0);
  p->descriptor.options = nullptr;  // read p->options instead
  p->descriptor.option_size = sizeof(sdk::ConfigOption);
  p->name = d->name;
  return true;
}

PluginLibrary builtin_library(const sdk::PluginDescriptor* d) {
  PluginLibrary lib;
  lib.path = "<built-in>";
  std::string error;
  if (!accept_descriptor(d, &lib, &error))
    throw std::logic_error(std::string("built-in plugin ") + (d && d->name ? d->name : "?") + ": " +
                           error);
  return lib;
}

std::optional<PluginLibrary> open_plugin(const std::string& path, std::string* error,
                                         const LoadOptions& options) {
  PluginFile file;
  if (std::string why = open_plugin_file(path, &file); !why.empty()) {
    *error = why;
    return std::nullopt;
  }
  if (options.trial_timeout.count() > 0) {
    spdlog::debug("plugin {}: trial load in a child process", path);
    if (std::string why = trial_load(file.fd(), options.trial_timeout, options.trial_exe);
        !why.empty()) {
      *error = why;
      return std::nullopt;
    }
  }
  spdlog::debug("plugin {}: loading", path);
  std::string load_path = file.proc_path();
  PluginLibrary p;
  p.fd = LibraryFd(file.release());
  p.path = path;
  try {
    p.library.load(load_path, plugin_load_mode());
  } catch (const std::exception& e) {
    const char* dl = dlerror();
    *error = std::string("not a loadable library: ") + (dl ? dl : e.what());
    return std::nullopt;
  }
  if (!p.library.has(sdk::kEntryPointName)) {
    *error = std::string("not a Leaf plugin: no entry point '") + sdk::kEntryPointName + "'";
    return std::nullopt;
  }
  const sdk::PluginDescriptor* d = nullptr;
  try {
    auto& entry = p.library.get_alias<sdk::EntryPoint>(sdk::kEntryPointName);
    d = entry();
  } catch (const std::exception& e) {
    *error = std::string("entry point failed: ") + e.what();
    return std::nullopt;
  }
  if (!accept_descriptor(d, &p, error)) return std::nullopt;
  return p;
}

}  // namespace leaf::core
