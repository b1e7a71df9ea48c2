#include "host/host.hpp"

#include "host/host_impl.hpp"

namespace leaf::core {
namespace host_detail {

namespace {

// The installed conf.d when there is one. Never the working directory: a
// daemon running as root must not take its configuration from wherever it
// was started.
std::string default_config_path() {
  if (fs::exists(installed_config_dir())) return installed_config_dir();
  return {};
}

std::string local_hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}
}  // namespace

int Host::run() {
  LoadedConfig cfg;
  if (int rc = read_config(&cfg); rc != kExitOk) return rc;
  if (!build_runtime(cfg)) return kExitUsage;
  start_watch(cfg);
  if (int rc = load_plugins(cfg, plugins_dir_); rc != kExitOk) return rc;

  if (opts_.list_plugins) {
    std::ostringstream text;
    print_plugin_list(text, rt_.plugins);
    std::cout << redact(text.str());  // no value from a secret file is ever shown
    return kExitOk;
  }

  kernel_ = security::KernelInfo::read();
  // A kernel without BTF or ring buffers: one line naming what it lacks, and
  // exit 3 (the unit does not restart on it: RestartPreventExitStatus).
  if (std::string lacks = missing_kernel_support(); !lacks.empty()) {
    spdlog::error("{}", lacks);
    return opts_.check ? kExitCheckFailed : kExitNothing;
  }

  std::string tracefs_action;
  if (std::string why = ensure_tracefs(&tracefs_action); !why.empty())
    spdlog::warn("{}; probes on classic tracepoints cannot attach", why);
  else if (!tracefs_action.empty())
    spdlog::info("{}", tracefs_action);

  if (opts_.check) return check(cfg);
  return start_and_run(cfg);
}

// The configuration (or the defaults), then logging as it says. Returns
// kExitOk, or kExitUsage after saying why on stderr.
int Host::read_config(LoadedConfig* cfg) {
  std::string config_path = opts_.config.empty() ? default_config_path() : opts_.config;
  config_path_ = config_path;
  try {
    if (!config_path.empty())
      *cfg = load_config(config_path);
    else
      cfg->host = ConfigSection::validate(nullptr, host_options(), "<defaults>");
  } catch (const ConfigError& e) {
    std::cerr << "leaf-host: configuration error: " << e.what() << "\n";
    return kExitUsage;
  }

  host_config_ = cfg->host;
  std::string level = opts_.log_level.empty() ? cfg->host.get_string("log.level") : opts_.log_level;
  try {
    setup_logging(level, cfg->host.get_string("log.file"), cfg->host.get_int("log.max_size"),
                  static_cast<int>(cfg->host.get_int("log.max_files")));
  } catch (const std::exception& e) {
    std::cerr << "leaf-host: " << e.what() << "\n";
    return kExitUsage;
  }
  if (config_path.empty())
    spdlog::info("no configuration given and none in {}: using defaults", installed_config_dir());
  else
    spdlog::debug("configuration from {}", config_path);
  return kExitOk;
}

// The plugins directory, the pipeline and the dispatcher. False (logged)
// when the configuration's metadata cannot be used.
bool Host::build_runtime(const LoadedConfig& cfg) {
  std::string dir =
      opts_.plugins_dir.empty() ? cfg.host.get_string("plugins_dir") : opts_.plugins_dir;
  if (dir.empty()) dir = installed_plugins_dir();
  plugins_dir_ = dir;
  plugin_sources_ = cfg.plugins;
  load_options_.trial_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::nanoseconds(cfg.host.get_int("plugin_trial_timeout")));

  std::string hostname = cfg.host.get_string("hostname");
  if (hostname.empty()) hostname = local_hostname();
  try {
    rt_.pipeline = std::make_unique<Pipeline>(hostname, cfg.host.get_strings("metadata"));
  } catch (const std::exception& e) {
    spdlog::error("configuration error: {}: key 'metadata': {}", cfg.host_file, e.what());
    return false;
  }
  rt_.dispatcher = std::make_unique<Dispatcher>(rt_.io, *rt_.pipeline);
  rt_.dispatcher->set_drain_interval(
      std::chrono::nanoseconds(cfg.host.get_int("dispatcher.wakeup_delay")));
  return true;
}

// The watch starts before the directory is read: a file that lands
// meanwhile is reported once the host runs (its events wait in the kernel).
void Host::start_watch(const LoadedConfig& cfg) {
  if (!cfg.host.get_bool("plugins_watch") || opts_.list_plugins || opts_.check ||
      !fs::is_directory(plugins_dir_))
    return;
  watch_ = std::make_unique<PluginWatch>(
      rt_.io, plugins_dir_,
      [this](PluginWatch::Change c, const std::string& path) { on_plugin_change(c, path); });
  if (std::string why = watch_->start(); !why.empty()) {
    spdlog::warn("plugins directory: {}; plugins are read at start only", why);
    watch_.reset();
  }
}

// --check / --check-json: the report on stdout; returns its exit code.
int Host::check(const LoadedConfig& cfg) {
  std::ostringstream text;
  int port = 0;
  try {
    if (std::string at = cfg.host.get_string("metrics.listen"); !at.empty())
      port = metrics::parse_listen_address(at).port();
  } catch (const std::exception&) {
  }
  security::HostFacts hf = host_facts(cfg, port);
  auto mode = security::parse_keep_mode(cfg.host.get_string("security.keep_capabilities"));
  auto caps = [&](const std::vector<security::PluginFacts>& facts, CheckFormat f) {
    auto needs = security::capability_needs(kernel_, hf, facts, mode);
    return f == CheckFormat::Json ? security::needs_json(needs, mode, hf)
                                  : security::needs_text(needs, mode, hf);
  };
  int rc =
      run_check(opts_.check_json ? CheckFormat::Json : CheckFormat::Text, text, rt_.plugins, caps);
  std::cout << redact(text.str());  // no value from a secret file is ever shown
  return rc;
}

// Validates the plugin's configuration and creates its object. Returns
// false (with *exit_code set) only for configuration errors.
bool Host::add_plugin(PluginLibrary lib, const LoadedConfig& cfg, int* exit_code) {
  ConfigSection section;
  try {
    section = validate_plugin_config(lib.name, cfg.plugins, lib.options);
  } catch (const ConfigError& e) {
    spdlog::error("configuration error: {}", e.what());
    *exit_code = kExitUsage;
    return false;
  }
  if (!section.get_bool("enabled")) {
    spdlog::info("plugin {} ({}) is disabled by configuration", lib.name, lib.path);
    rt_.disabled.push_back(
        std::make_unique<PluginInstance>(std::move(lib), std::move(section), rt_.dispatcher.get()));
    return true;
  }
  std::string name = lib.name, path = lib.path;
  std::string version = lib.descriptor.version ? lib.descriptor.version : "?";
  auto kind = lib.descriptor.kind;
  auto inst =
      std::make_unique<PluginInstance>(std::move(lib), std::move(section), rt_.dispatcher.get());
  std::string error;
  if (!inst->create(&error)) {
    spdlog::error("plugin {} ({}): could not be created: {}; skipped", name, path, error);
    start_failures_ = true;
    return true;
  }
  spdlog::info("plugin {} {} ({}) loaded from {}", name, version, kind_name(kind), path);
  rt_.plugins.push_back(std::move(inst));
  return true;
}

int Host::load_plugins(const LoadedConfig& cfg, const std::string& dir) {
  std::vector<std::string> files;
  try {
    files = list_plugin_files(dir);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitNothing;
  }
  int exit_code = kExitOk;
  std::map<std::string, std::string> seen;  // name -> file
  // Built-in processors come first: they run before any plugin processor.
  for (const auto* d : builtin_processors()) {
    seen[d->name] = "<built-in>";
    if (!add_plugin(builtin_library(d), cfg, &exit_code)) return exit_code;
  }
  for (const auto& file : files) {
    std::string error;
    auto lib = open_plugin(file, &error, load_options_);
    if (!lib) {
      spdlog::error("plugin {}: {}; skipped", file, error);
      start_failures_ = true;
      continue;
    }
    if (auto it = seen.find(lib->name); it != seen.end()) {
      spdlog::error("plugin {}: name '{}' is taken by {}; skipped", file, lib->name, it->second);
      start_failures_ = true;
      continue;
    }
    seen[lib->name] = file;
    if (!add_plugin(std::move(*lib), cfg, &exit_code)) return exit_code;
  }
  for (const auto& [name, src] : cfg.plugins)
    if (!seen.count(name))
      spdlog::warn("{}: there is no plugin '{}' in {}; this file is not used", src.file, name, dir);
  return kExitOk;
}

// A plugin whose open() failed: a configuration error stops the host
// (returns false, exit 2); anything else skips the plugin.
bool Host::open_failed(PluginInstance* p, sdk::Status s, const char* what, int* exit_code) {
  if (s == sdk::Status::InvalidConfig) {
    spdlog::error("configuration error: plugin {}: {}", p->name(), p->last_error());
    *exit_code = kExitUsage;
    return false;
  }
  spdlog::error("plugin {} ({}): {} failed: {}; skipped", p->name(), p->path(), what,
                p->last_error());
  p->destroy_object();
  start_failures_ = true;
  return true;
}

// Probes open (load their BPF objects) while leaf-host holds its start
// capabilities.
bool Host::open_probes(int* exit_code) {
  for (auto& p : rt_.plugins) {
    if (!p->probe()) continue;
    metrics::ProgramLoad load;
    auto st = p->open_probe();
    std::vector<uint32_t> programs = load.taken();
    if (st != sdk::Status::Ok) {
      if (!open_failed(p.get(), st, "open", exit_code)) return false;
      continue;
    }
    // metrics: the programs its open() loaded
    loaded_bpf_[p->name()] = bpf_owners_.claim(programs, p->name()) > 0;
    probes_.push_back(p.get());
  }
  return true;
}

// Sinks and processors open after the privilege drop: the threads they
// start (librdkafka's) then never hold a capability the host dropped
// (capabilities belong to threads).
bool Host::open_sinks_and_processors(int* exit_code) {
  for (auto& p : rt_.plugins) {
    if (auto* s = p->sink()) {
      if (auto st = s->open(); st != sdk::Status::Ok) {
        if (!open_failed(p.get(), st, "open", exit_code)) return false;
        continue;
      }
      sinks_.push_back(p.get());
    } else if (auto* pr = p->processor()) {
      if (auto st = pr->open(); st != sdk::Status::Ok) {
        if (!open_failed(p.get(), st, "open", exit_code)) return false;
        continue;
      }
      processors_.push_back(p.get());
    }
  }
  return true;
}

security::HostFacts Host::host_facts(const LoadedConfig& cfg, int metrics_port) const {
  security::HostFacts h;
  h.bpf_stats = metrics_port > 0 && cfg.host.get_bool("metrics.bpf_stats");
  h.metrics_port = metrics_port;
  h.user = cfg.host.get_string("security.user");
  h.group = cfg.host.get_string("security.group");
  h.plugins_watch = cfg.host.get_bool("plugins_watch");
  return h;
}

// What the plugins that run (and the processors that will open) do.
std::vector<security::PluginFacts> Host::running_facts() const {
  std::vector<security::PluginFacts> out;
  for (const auto& p : rt_.plugins) {
    if (!p->probe() && !p->sink() && !p->processor()) continue;  // failed, destroyed
    auto it = loaded_bpf_.find(p->name());
    out.push_back(plugin_facts(*p, it != loaded_bpf_.end() && it->second, probe_reports(*p)));
  }
  return out;
}

// Once every probe has loaded and attached: keeps only what
// security.keep_capabilities says, and switches user and group.
bool Host::drop_privileges(const LoadedConfig& cfg, int metrics_port) {
  security::HostFacts hf = host_facts(cfg, metrics_port);
  auto mode = security::parse_keep_mode(cfg.host.get_string("security.keep_capabilities"));
  auto needs = security::capability_needs(kernel_, hf, running_facts(), mode);
  security::DropPlan plan;
  if (std::string why = security::drop_privileges(security::plan_drop(needs, mode, hf), &plan);
      !why.empty()) {
    spdlog::critical("capabilities: cannot drop privileges: {}", why);
    return false;
  }
  spdlog::info(
      "capabilities: kept permitted {{{}}}, effective {{{}}} (security.keep_capabilities = "
      "\"{}\"){}{}",
      security::cap_list(plan.permitted), security::cap_list(plan.effective),
      security::keep_mode_name(mode),
      plan.bounding == plan.permitted
          ? std::string()
          : "; bounding set left as granted, no CAP_SETPCAP (no_new_privs: no exec regains "
            "any): {" +
                security::cap_list(plan.bounding) + "}",
      plan.user.empty() && plan.group.empty()
          ? std::string()
          : "; running as uid " + std::to_string(getuid()) + " gid " + std::to_string(getgid()));
  return true;
}

}  // namespace host_detail

int run_host(const CliOptions& options) {
  try {
    host_detail::Host host(options);
    return host.run();
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return kExitFatal;
  }
}

}  // namespace leaf::core
