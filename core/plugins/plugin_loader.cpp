#include "plugins/plugin_loader.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/dll/shared_library_load_mode.hpp>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include "plugins/abi_tables.hpp"

namespace fs = std::filesystem;

namespace leaf::core {

const char* kind_name(sdk::PluginKind kind) {
  switch (kind) {
    case sdk::PluginKind::Probe: return "probe";
    case sdk::PluginKind::Processor: return "processor";
    case sdk::PluginKind::Sink: return "sink";
  }
  return "unknown";
}

std::vector<std::string> list_plugin_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error("plugins directory " + dir + " does not exist");
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".so") out.push_back(e.path().string());
  }
  if (ec) throw std::runtime_error("cannot read plugins directory " + dir + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
std::string writable_by_others(const std::string& path, const struct stat& st) {
  if (st.st_uid != 0) return path + " is owned by uid " + std::to_string(st.st_uid) + ", not root";
  if (st.st_mode & S_IWOTH) return path + " is writable by everyone";
  if ((st.st_mode & S_IWGRP) && st.st_gid != 0)
    return path + " is writable by group " + std::to_string(st.st_gid);
  return {};
}
}  // namespace

std::string check_permissions(const std::string& path) {
  if (geteuid() != 0) return {};
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) return "cannot resolve " + path + ": " + ec.message();
  struct stat st;
  if (stat(real.c_str(), &st) != 0) return "cannot stat " + real.string() + ": " + std::strerror(errno);
  if (std::string why = writable_by_others(real.string(), st); !why.empty())
    return "refused: " + why + " (leaf-host runs as root)";
  fs::path dir = real.parent_path();
  if (stat(dir.c_str(), &st) == 0) {
    if (std::string why = writable_by_others(dir.string(), st); !why.empty() && !(st.st_mode & S_ISVTX))
      return "refused: its directory " + why + " (leaf-host runs as root)";
  }
  return {};
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

std::optional<PluginLibrary> open_plugin(const std::string& path, std::string* error) {
  if (std::string why = check_permissions(path); !why.empty()) {
    *error = why;
    return std::nullopt;
  }
  PluginLibrary p;
  p.path = path;
  try {
    p.library.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
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
