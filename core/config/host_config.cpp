#include "config/host_config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "config/substitute.hpp"
#include "config/toml_guard.hpp"

namespace fs = std::filesystem;

namespace leaf::core {

namespace {

using sdk::ConfigOption;
using sdk::OptionType;

constexpr int64_t kMaxInt = INT64_MAX;

const ConfigOption kHostOptions[] = {
    {"hostname", OptionType::String, "\"\"", 0, 0, nullptr,
     "name put on every event; empty: the host's name (gethostname)"},
    {"plugins_dir", OptionType::String, "\"\"", 0, 0, nullptr,
     "directory of plugin .so files when --plugins-dir is not given; empty: the installed one "
     "(--help names it)"},
    {"plugins_watch", OptionType::Bool, "true", 0, 0, nullptr,
     "watch the plugins directory: a leaf_<name>.so that appears there (once completely written "
     "or renamed in) is checked and started, one removed is stopped, one replaced by a rename is "
     "upgraded; false: plugins are read at start only (immutable images)"},
    {"plugin_trial_timeout", OptionType::Duration, "\"10s\"", 0, 600'000'000'000LL, nullptr,
     "each plugin is first loaded in a child process: one that crashes, exits or hangs longer "
     "than this while it loads is refused and named; 0: no trial load"},
    {"log.level", OptionType::String, "\"info\"", 0, 0, "trace|debug|info|warn|error",
     "log level (--log-level overrides)"},
    {"log.file", OptionType::String, "\"\"", 0, 0, nullptr,
     "also log to this file, rotated by size; empty: console only"},
    {"log.max_size", OptionType::Size, "\"10M\"", 4096, kMaxInt, nullptr,
     "rotate the log file at this size"},
    {"log.max_files", OptionType::Int, "3", 1, 100, nullptr, "rotated log files kept"},
    {"jsonl.enabled", OptionType::Bool, "true", 0, 0, nullptr,
     "write every event as one JSON line (the built-in sink)"},
    {"jsonl.path", OptionType::String, "\"-\"", 0, 0, nullptr,
     "where the JSON lines go: a file path, or \"-\" for stdout"},
    {"shutdown_timeout", OptionType::Duration, "\"5s\"", 0, 600'000'000'000LL, nullptr,
     "at shutdown, how long sinks may take to deliver what they hold"},
    {"dispatcher.wakeup_delay", OptionType::Duration, "\"2ms\"", 0, 1'000'000'000, nullptr,
     "how long BPF programs may hold back ring-buffer wakeups to batch records (0: wake "
     "per record); bounds the latency they add"},
    {"stats_interval", OptionType::Duration, "\"60s\"", 0, 86400'000'000'000LL, nullptr,
     "how often to log a warning when events were lost or dropped (0: never)"},
    {"metadata", OptionType::StringList, "[]", 0, 0, nullptr,
     "static labels \"key=value\" added to every event as data.metadata"},
    // metrics (issue 8)
    {"metrics.listen", OptionType::String, "\"127.0.0.1:9464\"", 0, 0, nullptr,
     "address:port of /metrics and /healthz over HTTP ([v6]:port for IPv6); \"\": not served"},
    {"metrics.bpf_stats", OptionType::Bool, "false", 0, 0, nullptr,
     "have the kernel count the BPF programs' runs and run time for /metrics "
     "(leaf_bpf_program_run_seconds_total); costs every BPF program on the machine two clock "
     "reads per run (~100 ns per UDP datagram pair on the development VM) and needs "
     "CAP_SYS_ADMIN"},
    // least privilege (issue 15): see security/needs.hpp and --check
    {"security.keep_capabilities", OptionType::String, "\"reload\"", 0, 0, "reload|runtime|none",
     "capabilities kept once every plugin has loaded and attached: \"reload\" keeps what loading "
     "a plugin needs (permitted, not effective) and what the running plugins need; \"runtime\" "
     "only what the running plugins need; \"none\" nothing"},
    {"security.user", OptionType::String, "\"\"", 0, 0, nullptr,
     "switch to this user once every plugin has loaded and attached; empty: stay"},
    {"security.group", OptionType::String, "\"\"", 0, 0, nullptr,
     "switch to this group then; empty: the user's primary group"},
};

const ConfigOption kPluginHostOptions[] = {
    {"enabled", OptionType::Bool, "true", 0, 0, nullptr,
     "run this plugin when its .so is in the plugins directory"},
};

// Reads the whole file: a directory, an unreadable or an oversized file is
// an error naming it (toml::parse_file read a directory as an empty file).
std::string read_config_text(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw ConfigError(path, 0, "", "is a directory, expected a TOML file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, 0, "", std::string("cannot be read: ") + std::strerror(errno));
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxTomlBytes)
      throw ConfigError(path, 0, "",
                        "larger than " + std::to_string(kMaxTomlBytes >> 20) + " MiB; refused");
  }
  if (in.bad()) throw ConfigError(path, 0, "", std::string("read failed: ") + std::strerror(errno));
  return text;
}

// Parses one file and expands its ${...} references (config/substitute.hpp).
toml::table parse_file(const std::string& path) {
  std::string text = read_config_text(path);
  if (auto deep = check_toml_depth(text))
    throw ConfigError(path, deep->line, "", "refused before parsing: " + deep->what);
  try {
    toml::table t = toml::parse(text, path);
    substitute_references(t, path);
    return t;
  } catch (const toml::parse_error& e) {
    throw ConfigError(path, static_cast<int>(e.source().begin.line), "",
                      std::string(e.description()));
  }
}

}  // namespace

std::span<const sdk::ConfigOption> host_options() { return kHostOptions; }

LoadedConfig load_config(const std::string& path) {
  LoadedConfig out;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ConfigError(path, 0, "", "no such file or directory");

  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    fs::directory_iterator it(path, ec);
    if (ec) throw ConfigError(path, 0, "", "cannot be listed: " + ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) throw ConfigError(path, 0, "", "cannot be listed: " + ec.message());
      if (it->path().extension() == ".toml") files.push_back(it->path());
    }
    if (ec) throw ConfigError(path, 0, "", "cannot be listed: " + ec.message());
    std::sort(files.begin(), files.end());
    const toml::table* host_table = nullptr;
    toml::table host_holder;
    for (const auto& f : files) {
      std::string name = f.stem().string();
      if (name == "leaf") {
        host_holder = parse_file(f.string());
        host_table = &host_holder;
        out.host_file = f.string();
      } else {
        out.plugins[name] = PluginSource{f.string(), parse_file(f.string())};
      }
    }
    out.host = ConfigSection::validate(host_table, kHostOptions,
                                       out.host_file.empty() ? path + "/leaf.toml" : out.host_file);
    return out;
  }

  // A single file: plugin sections under [plugins.<name>].
  toml::table all = parse_file(path);
  out.host_file = path;
  if (toml::node* plugins = all.get("plugins")) {
    toml::table* pt = plugins->as_table();
    if (!pt)
      throw ConfigError(path, static_cast<int>(plugins->source().begin.line), "plugins",
                        "expected a table of plugin sections");
    for (auto& [name, section] : *pt) {
      toml::table* st = section.as_table();
      if (!st)
        throw ConfigError(path, static_cast<int>(section.source().begin.line),
                          "plugins." + std::string(name.str()), "expected a table");
      out.plugins[std::string(name.str())] = PluginSource{path, *st};
    }
    all.erase("plugins");
  }
  out.host = ConfigSection::validate(&all, kHostOptions, path);
  return out;
}

ConfigSection validate_plugin_config(const std::string& plugin,
                                     const std::map<std::string, PluginSource>& sources,
                                     std::span<const sdk::ConfigOption> declared) {
  auto src = sources.find(plugin);
  return validate_plugin_config(plugin, src == sources.end() ? nullptr : &src->second, declared);
}

ConfigSection validate_plugin_config(const std::string& plugin, const PluginSource* source,
                                     std::span<const sdk::ConfigOption> declared) {
  std::vector<ConfigOption> all(std::begin(kPluginHostOptions), std::end(kPluginHostOptions));
  for (const auto& o : declared) {
    if (std::string(o.key) == "enabled")
      throw ConfigError(source ? source->file : plugin, 0, "enabled",
                        "plugin '" + plugin + "' declares the host's reserved key");
    all.push_back(o);
  }
  return ConfigSection::validate(source ? &source->table : nullptr, all,
                                 source ? source->file : "<" + plugin + " defaults>");
}

}  // namespace leaf::core
