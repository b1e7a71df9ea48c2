// Loading leaf-host's configuration: a conf.d directory (leaf.toml for the
// host plus one <plugin>.toml per plugin) or a single TOML file (host keys
// at the top, plugin sections as [plugins.<name>] tables).
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>

#include "config/config_section.hpp"

namespace leaf::core {

// The host's own options (leaf.toml).
std::span<const sdk::ConfigOption> host_options();

// Where a plugin's configuration came from, not yet validated: that needs
// the options the plugin declares.
struct PluginSource {
  std::string file;  // for error messages
  toml::table table;
};

struct LoadedConfig {
  ConfigSection host;
  std::string host_file;  // empty when no host file exists (defaults)
  std::map<std::string, PluginSource> plugins;
};

// Throws ConfigError naming file, key and line. A missing path is an error;
// a directory without leaf.toml uses host defaults.
LoadedConfig load_config(const std::string& path);

// Validates a plugin's section against its declared options plus the host's
// per-plugin keys (`enabled`). `source` may be null (nothing configured).
ConfigSection validate_plugin_config(const std::string& plugin, const PluginSource* source,
                                     std::span<const sdk::ConfigOption> declared);
// The same for the section `sources` holds for `plugin`, if any.
ConfigSection validate_plugin_config(const std::string& plugin,
                                     const std::map<std::string, PluginSource>& sources,
                                     std::span<const sdk::ConfigOption> declared);

}  // namespace leaf::core
