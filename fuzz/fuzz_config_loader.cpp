// The configuration loader: TOML text -> validated host and plugin
// sections, through the same load_config() as leaf-host (the text is a
// file, as on disk). Anything but a ConfigError is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "config/host_config.hpp"

using namespace leaf::core;
using leaf::sdk::ConfigOption;
using leaf::sdk::OptionType;

namespace {

// Options of every type, as a plugin declares them.
const ConfigOption kPluginOptions[] = {
    {"flag", OptionType::Bool, "false", 0, 0, nullptr, "a flag"},
    {"count", OptionType::Int, "5", -10, 1'000'000, nullptr, "a count"},
    {"mode", OptionType::String, "\"fast\"", 0, 0, "fast|slow", "a mode"},
    {"names", OptionType::StringList, "[]", 0, 0, nullptr, "names"},
    {"ports", OptionType::IntList, "[]", 1, 65535, nullptr, "ports"},
    {"ring.size", OptionType::Size, "\"1M\"", 4096, 1LL << 40, nullptr, "bytes"},
    {"interval", OptionType::Duration, "\"10s\"", 0, INT64_MAX, nullptr, "time"},
};

int file_fd() {
  static int fd = memfd_create("leaf-fuzz-config.toml", 0);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = file_fd();
  if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
    return 0;
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    LoadedConfig cfg = load_config(path);
    (void)cfg.host.get_string("hostname");
    for (const auto& [name, source] : cfg.plugins)
      validate_plugin_config(name, &source, kPluginOptions);
  } catch (const ConfigError&) {
  }
  return 0;
}
