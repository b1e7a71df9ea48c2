#include "host/host.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "config/host_config.hpp"
#include "config/secrets.hpp"
#include "host/install_paths.hpp"
#include "host/kernel_support.hpp"
#include "host/plugin_watch.hpp"
#include "host/report.hpp"
#include "metrics/metrics_service.hpp"
#include "pipeline/pipeline.hpp"
#include "plugins/plugin_file.hpp"
#include "plugins/plugin_loader.hpp"
#include "processors/builtin.hpp"
#include "runtime/dispatcher.hpp"
#include "runtime/logging.hpp"
#include "runtime/plugin_instance.hpp"
#include "runtime/tracefs.hpp"
#include "security/capabilities.hpp"
#include "security/needs.hpp"
#include "sinks/jsonl_sink.hpp"

namespace fs = std::filesystem;

namespace leaf::core {

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

// Everything the host owns while it runs, in destruction order: plugin
// objects go before the pipeline and dispatcher they talk to.
struct Runtime {
  boost::asio::io_context io{1};
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<JsonlSink> jsonl;
  std::vector<std::unique_ptr<PluginInstance>> plugins;  // destroyed first (declared last)
  // Plugins disabled by configuration: library loaded, no object (a SIGHUP
  // or a new file may start them). Never seen by metrics, health or checks.
  std::vector<std::unique_ptr<PluginInstance>> disabled;

  ~Runtime() {
    // Probes first: removing their rings drains them into the pipeline,
    // which still needs its sinks. Then the pipeline forgets sinks and
    // processors before their objects go.
    for (auto& p : plugins)
      if (p->kind() == sdk::PluginKind::Probe) p->destroy_object();
    if (pipeline) pipeline->detach_all();
    plugins.clear();
    disabled.clear();
    if (jsonl) jsonl->close();
  }
};

class Host {
 public:
  explicit Host(const CliOptions& o) : opts_(o) {}
  ~Host() { join_loaders(); }
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;
  int run();

 private:
  int load_plugins(const LoadedConfig& cfg, const std::string& dir);
  bool open_probes(int* exit_code);
  bool open_sinks_and_processors(int* exit_code);
  bool open_failed(PluginInstance* p, sdk::Status s, const char* what, int* exit_code);
  security::HostFacts host_facts(const LoadedConfig& cfg, int metrics_port) const;
  std::vector<security::PluginFacts> running_facts() const;
  bool drop_privileges(const LoadedConfig& cfg, int metrics_port);
  // start_and_run: metrics address -> probes opened and started -> metrics
  // served -> privileges dropped -> sinks and processors -> run_loop.
  int start_and_run(const LoadedConfig& cfg);
  bool metrics_address(const LoadedConfig& cfg,
                       std::optional<boost::asio::ip::tcp::endpoint>* out) const;
  bool open_jsonl(const LoadedConfig& cfg);
  std::vector<std::string> start_probes();
  void serve_metrics(const LoadedConfig& cfg, const boost::asio::ip::tcp::endpoint& at);
  bool assemble_pipeline();
  int run_loop(const LoadedConfig& cfg, const std::vector<std::string>& running);
  void add_host_timers(const LoadedConfig& cfg);
  std::unique_ptr<boost::asio::steady_timer> arm_duration();
  void log_running(const std::vector<std::string>& running) const;
  bool add_plugin(PluginLibrary lib, const LoadedConfig& cfg, int* exit_code);
  void reload();
  bool reload_enabled(PluginInstance* p, ConfigSection& next);
  void restart_plugin(PluginInstance* p, ConfigSection next, const std::string& why);
  void shutdown(std::chrono::nanoseconds flush_timeout);
  void log_losses();

  // The plugins directory watch (issue 14, item 4): plugins that come and go.
  void on_plugin_change(PluginWatch::Change change, const std::string& path);
  void load_in_background(const std::string& path);
  void join_loaders();
  void plugin_appeared(const std::string& path, std::optional<PluginLibrary> lib, std::string error,
                       std::chrono::steady_clock::time_point t0);
  void plugin_gone(const std::string& path);
  void rescan_plugins();
  PluginInstance* running_from(const std::string& path) const;
  bool start_probe(PluginInstance* p, std::string* error);
  void stop_probe(PluginInstance* p);
  bool start_other(PluginInstance* p, std::string* error, size_t at = SIZE_MAX);
  void stop_other(PluginInstance* p);
  void stop_any(PluginInstance* p);
  void forget(PluginInstance* p);
  std::unique_ptr<PluginInstance> take_disabled(const std::string& path);

  const CliOptions& opts_;
  std::string config_path_;
  Runtime rt_;
  std::vector<PluginInstance*> probes_, sinks_, processors_;
  std::map<std::string, bool> loaded_bpf_;  // probe name -> its open() loaded BPF programs
  security::KernelInfo kernel_;             // read before leaf-host changes anything (tracefs)
  std::map<std::string, uint64_t> last_losses_;
  ConfigSection host_config_;
  std::map<std::string, PluginSource> plugin_sources_;  // <name>.toml as last accepted
  std::string plugins_dir_;
  LoadOptions load_options_;
  std::unique_ptr<PluginWatch> watch_;
  // A file that appears is checked, trial-loaded and dlopen()ed on a thread
  // of its own, so that the dispatcher drains the rings meanwhile (a trial
  // may take up to plugin_trial_timeout). Every change of a file name bumps
  // its generation: a load finished for an older one is dropped.
  std::map<std::string, uint64_t> file_gen_;
  std::map<uint64_t, std::thread> loaders_;
  uint64_t next_loader_ = 0;
  // A plugin file was refused or a plugin failed at start: with nothing
  // running, leaf-host then exits 3 even when it watches the directory.
  bool start_failures_ = false;
  // metrics: which BPF programs each plugin loaded; the /metrics server
  // (declared after rt_: destroyed before the plugins it reads).
  metrics::BpfProgramOwners bpf_owners_;
  metrics::DepartedCounters departed_;  // counters of plugins that stopped while running
  std::unique_ptr<metrics::MetricsService> metrics_;
};

int Host::run() {
  LoadedConfig cfg;
  std::string config_path = opts_.config.empty() ? default_config_path() : opts_.config;
  config_path_ = config_path;
  try {
    if (!config_path.empty())
      cfg = load_config(config_path);
    else
      cfg.host = ConfigSection::validate(nullptr, host_options(), "<defaults>");
  } catch (const ConfigError& e) {
    std::cerr << "leaf-host: configuration error: " << e.what() << "\n";
    return kExitUsage;
  }

  host_config_ = cfg.host;
  std::string level = opts_.log_level.empty() ? cfg.host.get_string("log.level") : opts_.log_level;
  try {
    setup_logging(level, cfg.host.get_string("log.file"), cfg.host.get_int("log.max_size"),
                  static_cast<int>(cfg.host.get_int("log.max_files")));
  } catch (const std::exception& e) {
    std::cerr << "leaf-host: " << e.what() << "\n";
    return kExitUsage;
  }
  if (config_path.empty())
    spdlog::info("no configuration given and none in {}: using defaults", installed_config_dir());
  else
    spdlog::debug("configuration from {}", config_path);

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
    return kExitUsage;
  }
  rt_.dispatcher = std::make_unique<Dispatcher>(rt_.io, *rt_.pipeline);
  rt_.dispatcher->set_drain_interval(
      std::chrono::nanoseconds(cfg.host.get_int("dispatcher.wakeup_delay")));

  // The watch starts before the directory is read: a file that lands
  // meanwhile is reported once the host runs (its events wait in the kernel).
  if (cfg.host.get_bool("plugins_watch") && !opts_.list_plugins && !opts_.check &&
      fs::is_directory(dir)) {
    watch_ = std::make_unique<PluginWatch>(
        rt_.io, dir,
        [this](PluginWatch::Change c, const std::string& path) { on_plugin_change(c, path); });
    if (std::string why = watch_->start(); !why.empty()) {
      spdlog::warn("plugins directory: {}; plugins are read at start only", why);
      watch_.reset();
    }
  }
  if (int rc = load_plugins(cfg, dir); rc != kExitOk) return rc;

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

  if (opts_.check) {
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
    int rc = run_check(opts_.check_json ? CheckFormat::Json : CheckFormat::Text, text, rt_.plugins,
                       caps);
    std::cout << redact(text.str());  // no value from a secret file is ever shown
    return rc;
  }

  return start_and_run(cfg);
}

// Validates the plugin's configuration and creates its object. Returns
// false (with *exit_code set) only for configuration errors.
bool Host::add_plugin(PluginLibrary lib, const LoadedConfig& cfg, int* exit_code) {
  auto src = cfg.plugins.find(lib.name);
  ConfigSection section;
  try {
    section = validate_plugin_config(lib.name, src == cfg.plugins.end() ? nullptr : &src->second,
                                     lib.options);
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

namespace {
std::string file_name(const std::string& path) { return fs::path(path).filename().string(); }
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

namespace {
// The declared options whose value differs between the plugin's running
// configuration and `next`, those flagged kOptionLive or the others, as
// "a, b" (empty: none).
std::string changed_keys(const PluginInstance& p, const ConfigSection& next, bool live) {
  std::string out;
  for (const auto& o : p.options()) {
    if (((o.flags & sdk::kOptionLive) != 0) != live) continue;
    const ConfigValue* a = p.config().find(o.key);
    const ConfigValue* b = next.find(o.key);
    bool same = (!a && !b) || (a && b && *a == *b);
    if (!same) out += (out.empty() ? "" : ", ") + std::string(o.key);
  }
  return out;
}
}  // namespace

// SIGHUP: re-reads the configuration. A file that does not parse or
// validate is refused as a whole and the running configuration stays.
void Host::reload() {
  if (config_path_.empty()) {
    spdlog::warn("SIGHUP: no configuration file to reload");
    return;
  }
  LoadedConfig cfg;
  std::vector<std::pair<PluginInstance*, ConfigSection>> changed;
  try {
    cfg = load_config(config_path_);
    for (auto* list : {&rt_.plugins, &rt_.disabled})
      for (auto& p : *list) {
        auto src = cfg.plugins.find(p->name());
        ConfigSection next = validate_plugin_config(
            p->name(), src == cfg.plugins.end() ? nullptr : &src->second, p->options());
        if (!(next == p->config())) changed.emplace_back(p.get(), std::move(next));
      }
  } catch (const ConfigError& e) {
    spdlog::error("SIGHUP: configuration refused, the running one stays: {}", e.what());
    return;
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: reading {} failed, the running configuration stays: {}", config_path_,
                  e.what());
    return;
  }
  plugin_sources_ = cfg.plugins;  // plugins that appear from now on
  if (!(cfg.host == host_config_))
    spdlog::warn("SIGHUP: changes to {} take effect at restart",
                 cfg.host_file.empty() ? "leaf.toml" : cfg.host_file);
  for (auto& [p, next] : changed) {
    if (reload_enabled(p, next)) continue;
    if (!p->probe() && !p->sink() && !p->processor()) {
      // Disabled, or failed at start: the new configuration is used when it starts.
      p->replace_config(std::move(next));
      spdlog::info("SIGHUP: plugin {} is not running; its new configuration applies when it starts",
                   p->name());
      continue;
    }
    // The option flags decide: a changed restart-only option restarts this
    // plugin (and no other); live ones are applied in place.
    std::string restart_keys = changed_keys(*p, next, false);
    if (!restart_keys.empty()) {
      restart_plugin(p, std::move(next), "restart-only options changed: " + restart_keys);
      continue;
    }
    std::string live_keys = changed_keys(*p, next, true);
    ConfigSection previous = p->replace_config(std::move(next));
    sdk::Status st = sdk::Status::NotSupported;
    if (auto* proc = p->processor())
      st = proc->reload();
    else if (auto* probe = p->probe())
      st = probe->reload();
    if (st == sdk::Status::Ok) {
      spdlog::info("SIGHUP: plugin {} applied its new configuration", p->name());
    } else if (st == sdk::Status::NotSupported) {
      // Flagged live, but the plugin cannot apply them in place (a sink has
      // no reload()): a restart of this plugin does.
      ConfigSection next_again = p->replace_config(std::move(previous));
      restart_plugin(p, std::move(next_again),
                     "options changed (" + live_keys + "), not applied in place by the plugin");
    } else {
      std::string why = p->last_error();
      p->replace_config(std::move(previous));
      if (auto* proc = p->processor())
        proc->reload();
      else if (auto* probe = p->probe())
        probe->reload();
      spdlog::error("SIGHUP: plugin {} refused its new configuration, the running one stays: {}",
                    p->name(), why);
    }
  }
  spdlog::info("SIGHUP: configuration reloaded from {}", config_path_);
}

namespace {
// Moves p's owner from one list to the other.
void move_between(std::vector<std::unique_ptr<PluginInstance>>& from,
                  std::vector<std::unique_ptr<PluginInstance>>& to, PluginInstance* p) {
  for (auto it = from.begin(); it != from.end(); ++it)
    if (it->get() == p) {
      to.push_back(std::move(*it));
      from.erase(it);
      return;
    }
}
}  // namespace

// SIGHUP, `enabled` changed: false stops the plugin (a probe's programs
// detached, its rings drained; a sink flushed and taken out of the pipeline)
// and destroys its object, keeping its library and descriptor; true creates,
// opens and starts it, also one disabled at startup. Returns true when it
// handled the change.
bool Host::reload_enabled(PluginInstance* p, ConfigSection& next) {
  bool want = next.get_bool("enabled");
  if (want == p->config().get_bool("enabled")) return false;
  p->replace_config(std::move(next));
  if (!want) {
    stop_any(p);
    for (auto* v : {&probes_, &sinks_, &processors_}) std::erase(*v, p);
    move_between(rt_.plugins, rt_.disabled, p);
    spdlog::info("SIGHUP: plugin {} stopped (enabled = false){}", p->name(),
                 p->kind() == sdk::PluginKind::Probe ? ": programs detached" : "");
    return true;
  }
  move_between(rt_.disabled, rt_.plugins, p);
  std::string error;
  bool ok = p->kind() == sdk::PluginKind::Probe ? start_probe(p, &error) : start_other(p, &error);
  if (!ok) {
    spdlog::error("SIGHUP: plugin {} could not start: {}", p->name(), error);
    return true;
  }
  spdlog::info("SIGHUP: plugin {} started (enabled = true)", p->name());
  return true;
}

// SIGHUP: restarts one plugin with its new configuration: stopped (a
// probe's programs detached and its rings drained into the sinks; a sink
// flushed), its object destroyed, then created, opened and started again
// (library and descriptor kept). The other plugins are not touched. When the
// new configuration cannot start, the previous one is started again.
void Host::restart_plugin(PluginInstance* p, ConfigSection next, const std::string& why) {
  auto t0 = std::chrono::steady_clock::now();
  bool probe = p->kind() == sdk::PluginKind::Probe;
  ConfigSection previous = p->replace_config(std::move(next));
  // A processor keeps its place in the pipeline.
  size_t at = p->processor() ? rt_.pipeline->processor_index(p->processor()) : SIZE_MAX;
  stop_any(p);
  for (auto* v : {&probes_, &sinks_, &processors_}) std::erase(*v, p);
  std::string error;
  if (probe ? start_probe(p, &error) : start_other(p, &error, at)) {
    spdlog::info(
        "SIGHUP: plugin {} restarted ({}): rings drained, running its new configuration "
        "after {:.1f} ms",
        p->name(), why, ms_since(t0));
    return;
  }
  p->replace_config(std::move(previous));
  std::string again;
  bool back = probe ? start_probe(p, &again) : start_other(p, &again, at);
  spdlog::error("SIGHUP: plugin {} could not restart with its new configuration ({}): {}; {}",
                p->name(), why, error,
                back ? "it runs again with the previous one" : "it is stopped: " + again);
}

// --- Plugins that come and go (issue 14, item 4) ---------------------------
// Everything below runs on the dispatcher thread (the watch's handler), so no
// ring is drained, no timer fires and no scrape runs while a plugin is
// swapped.

void Host::on_plugin_change(PluginWatch::Change change, const std::string& path) {
  try {
    if (change == PluginWatch::Change::Appeared) {
      load_in_background(path);
    } else if (change == PluginWatch::Change::Gone) {
      ++file_gen_[file_name(path)];  // a load still running for it is dropped
      plugin_gone(path);
    } else {
      rescan_plugins();
    }
  } catch (const std::exception& e) {
    spdlog::error("plugin {}: {}; the other plugins run on", path, e.what());
  }
}

void Host::load_in_background(const std::string& path) {
  auto t0 = std::chrono::steady_clock::now();
  uint64_t gen = ++file_gen_[file_name(path)];
  uint64_t id = ++next_loader_;
  LoadOptions options = load_options_;
  loaders_[id] = std::thread([this, path, gen, id, options, t0] {
    auto result = std::make_shared<std::pair<std::optional<PluginLibrary>, std::string>>();
    try {
      result->first = open_plugin(path, &result->second, options);
    } catch (const std::exception& e) {
      result->second = e.what();
    }
    // Back on the dispatcher thread (never run once io.run() returned; the
    // library is then unloaded with the handler).
    boost::asio::post(rt_.io, [this, path, gen, id, result, t0] {
      if (auto it = loaders_.find(id); it != loaders_.end()) {
        it->second.join();  // it has posted this: about to end
        loaders_.erase(it);
      }
      if (file_gen_[file_name(path)] != gen) {
        spdlog::debug("plugin {}: changed again while it was checked; the newer one counts", path);
        return;
      }
      try {
        plugin_appeared(path, std::move(result->first), result->second, t0);
      } catch (const std::exception& e) {
        spdlog::error("plugin {}: {}; the other plugins run on", path, e.what());
      }
    });
  });
}

void Host::join_loaders() {
  for (auto& [id, t] : loaders_)
    if (t.joinable()) t.join();
  loaders_.clear();
}

// The running (or failed) plugin loaded from the file `path` names.
PluginInstance* Host::running_from(const std::string& path) const {
  for (const auto& p : rt_.plugins)
    if (p->path() != "<built-in>" && file_name(p->path()) == file_name(path)) return p.get();
  return nullptr;
}

std::unique_ptr<PluginInstance> Host::take_disabled(const std::string& path) {
  for (auto it = rt_.disabled.begin(); it != rt_.disabled.end(); ++it)
    if (file_name((*it)->path()) == file_name(path)) {
      auto p = std::move(*it);
      rt_.disabled.erase(it);
      return p;
    }
  return nullptr;
}

// Loads and attaches a probe after the privilege drop: what loading needs
// (kept in permitted by keep_capabilities = "reload") is effective for this
// load only.
bool Host::start_probe(PluginInstance* p, std::string* error) {
  security::EffectiveForLoad raised;
  if (!p->probe() && !p->create(error)) return false;
  size_t programs_before = metrics::own_bpf_programs().size();
  if (p->probe()->open() != sdk::Status::Ok || p->probe()->start() != sdk::Status::Ok) {
    *error = p->last_error();
    p->probe()->stop();
    p->destroy_object();
    return false;
  }
  loaded_bpf_[p->name()] = metrics::own_bpf_programs().size() > programs_before;
  bpf_owners_.claim_new(p->name());
  probes_.push_back(p);
  return true;
}

// Detaches a probe's programs, then drains its rings into the pipeline and
// destroys its object; the kernel's final counts are logged (nothing goes
// silently).
void Host::stop_probe(PluginInstance* p) {
  if (!p->probe()) return;
  p->probe()->stop();
  auto counts = rt_.dispatcher->kernel_counts(p);
  departed_.record(*p, *rt_.dispatcher);
  p->destroy_object();  // drains its rings first
  for (const auto& k : counts)
    if (k.emitted || k.lost)
      spdlog::info("[{}] {}: {} emitted by the kernel, {} lost in the kernel", p->name(), k.type,
                   k.emitted, k.lost);
}

void Host::stop_any(PluginInstance* p) {
  if (p->kind() == sdk::PluginKind::Probe)
    stop_probe(p);
  else
    stop_other(p);
}

// A sink or processor that appears while the host runs: opened and put at
// the end of the pipeline.
bool Host::start_other(PluginInstance* p, std::string* error, size_t at) {
  if (!p->create(error)) return false;
  sdk::Status st = p->sink() ? p->sink()->open() : p->processor()->open();
  if (st != sdk::Status::Ok) {
    *error = p->last_error();
    p->destroy_object();
    return false;
  }
  if (auto* s = p->sink()) {
    rt_.pipeline->add_sink(p->name(), s);
    sinks_.push_back(p);
  } else {
    rt_.pipeline->add_processor(p->name(), p->processor(), at);
    processors_.push_back(p);
  }
  return true;
}

// A sink is flushed (shutdown_timeout) before it leaves the pipeline.
void Host::stop_other(PluginInstance* p) {
  if (auto* s = p->sink()) {
    auto timeout_ms = static_cast<uint32_t>(host_config_.get_int("shutdown_timeout") / 1'000'000);
    if (s->flush(timeout_ms) != sdk::Status::Ok)
      spdlog::error("sink {}: not everything could be delivered within {} ms: {}", p->name(),
                    timeout_ms, s->last_error());
    for (const auto& e : rt_.pipeline->sinks())
      if (e->sink == s)
        spdlog::info("sink {}: {} events accepted, {} refused while it ran", p->name(),
                     e->accepted.load(), e->rejected.load());
    rt_.pipeline->remove_sink(s);
    s->close();
  } else if (auto* pr = p->processor()) {
    rt_.pipeline->remove_processor(pr);
    pr->close();
  }
  if (p->sink() || p->processor()) departed_.record(*p, *rt_.dispatcher);
  p->destroy_object();
}

// Forgets a stopped plugin and unloads its library: its object is gone, its
// rings and timers are removed from the dispatcher, so nothing of its code
// can run any more.
void Host::forget(PluginInstance* p) {
  for (auto* v : {&probes_, &sinks_, &processors_}) std::erase(*v, p);
  loaded_bpf_.erase(p->name());
  std::erase_if(rt_.plugins, [p](const auto& q) { return q.get() == p; });
}

void Host::plugin_appeared(const std::string& path, std::optional<PluginLibrary> lib,
                           std::string error, std::chrono::steady_clock::time_point t0) {
  PluginInstance* old = running_from(path);
  const char* stays = old ? "; the running one stays" : "";
  if (!lib) {
    spdlog::error("plugin {}: {}; not loaded{}", path, error, stays);
    return;
  }
  for (const auto& p : rt_.plugins)
    if (p.get() != old && p->name() == lib->name) {
      spdlog::error("plugin {}: name '{}' is taken by {}; not loaded", path, lib->name, p->path());
      return;
    }
  if (old && old->name() != lib->name) {
    spdlog::error("plugin {}: now declares the name '{}', the running one is '{}'; not loaded{}",
                  path, lib->name, old->name(), stays);
    return;
  }
  auto src = plugin_sources_.find(lib->name);
  ConfigSection section;
  try {
    section = validate_plugin_config(
        lib->name, src == plugin_sources_.end() ? nullptr : &src->second, lib->options);
  } catch (const ConfigError& e) {
    spdlog::error("plugin {}: configuration error: {}; not loaded{}", path, e.what(), stays);
    return;
  }
  std::string name = lib->name, version = lib->descriptor.version ? lib->descriptor.version : "?";
  take_disabled(path);  // a new file replaces a disabled one
  if (!section.get_bool("enabled")) {
    if (old) {
      spdlog::error(
          "plugin {}: {} is disabled by configuration, the running one stays until a "
          "SIGHUP",
          path, name);
      return;
    }
    spdlog::info("plugin {} ({}) is disabled by configuration", name, path);
    rt_.disabled.push_back(std::make_unique<PluginInstance>(std::move(*lib), std::move(section),
                                                            rt_.dispatcher.get()));
    return;
  }
  auto inst =
      std::make_unique<PluginInstance>(std::move(*lib), std::move(section), rt_.dispatcher.get());
  PluginInstance* p = inst.get();
  if (p->kind() != sdk::PluginKind::Probe) {
    if (old) {
      stop_any(old);
      forget(old);
    }
    rt_.plugins.push_back(std::move(inst));
    if (!start_other(p, &error)) {
      spdlog::error("plugin {} ({}): could not start: {}; the other plugins run on", name, path,
                    error);
      forget(p);
      return;
    }
    spdlog::info("plugin {} {} ({}) {} from {}", name, version, kind_name(p->kind()),
                 old ? "upgraded" : "started", path);
    return;
  }
  // A probe: the new one is created and opened (BPF objects loaded and
  // verified) while the old one still runs, so that the time with no program
  // attached is only: old detached, its rings drained, new attached.
  bool opened;
  {
    security::EffectiveForLoad raised;
    opened = p->create(&error);
    if (opened && p->probe()->open() != sdk::Status::Ok) {
      opened = false;
      error = p->last_error();
      p->destroy_object();
    }
  }
  if (!opened) {
    spdlog::error("plugin {} ({}): could not start: {}{}; the other plugins run on", name, path,
                  error, stays);
    return;
  }
  auto gap_from = std::chrono::steady_clock::now();
  if (old) {
    stop_any(old);
    forget(old);  // its library unloaded
  }
  double stopping_ms = ms_since(gap_from);
  rt_.plugins.push_back(std::move(inst));
  bool started;
  {
    security::EffectiveForLoad raised;
    started = p->probe()->start() == sdk::Status::Ok;
  }
  if (!started) {
    spdlog::error("plugin {} ({}): could not start: {}{}; the other plugins run on", name, path,
                  p->last_error(), old ? " (the old version is stopped)" : "");
    p->probe()->stop();
    p->destroy_object();
    forget(p);
    return;
  }
  loaded_bpf_[name] = true;
  bpf_owners_.claim_new(name);
  probes_.push_back(p);
  if (old)
    spdlog::info(
        "plugin {} {} (probe) upgraded from {}: old stopped and drained, new started in "
        "{:.1f} ms; no probe of it attached for {:.1f} ms (old stopped, drained and unloaded "
        "in {:.1f} ms, new attached in {:.1f} ms)",
        name, version, path, ms_since(t0), ms_since(gap_from), stopping_ms,
        ms_since(gap_from) - stopping_ms);
  else
    spdlog::info("plugin {} {} (probe) started from {} in {:.1f} ms", name, version, path,
                 ms_since(t0));
}

void Host::plugin_gone(const std::string& path) {
  if (auto d = take_disabled(path)) {
    spdlog::info("plugin {} ({}) removed (it was disabled)", d->name(), path);
    return;
  }
  PluginInstance* p = running_from(path);
  if (!p) return;  // refused or never loaded
  std::string name = p->name();
  auto t0 = std::chrono::steady_clock::now();
  stop_any(p);
  forget(p);
  spdlog::info("plugin {} removed ({}): stopped, rings drained, library unloaded in {:.1f} ms",
               name, path, ms_since(t0));
}

// After the kernel's event queue overflowed: what the directory holds now
// against what runs.
void Host::rescan_plugins() {
  spdlog::warn("plugins directory {}: inotify queue overflowed; reading the directory again",
               plugins_dir_);
  std::vector<std::string> files = list_plugin_files(plugins_dir_);
  std::vector<std::string> gone;
  for (const auto& p : rt_.plugins)
    if (p->path() != "<built-in>" && !fs::exists(p->path())) gone.push_back(p->path());
  for (const auto& p : rt_.disabled)
    if (!fs::exists(p->path())) gone.push_back(p->path());
  for (const auto& path : gone) plugin_gone(path);
  for (const auto& f : files) {
    bool known = running_from(f) != nullptr;
    for (const auto& d : rt_.disabled) known = known || file_name(d->path()) == file_name(f);
    if (!known && is_plugin_file_name(file_name(f))) load_in_background(f);
  }
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
    auto* probe = p->probe();
    if (!probe) continue;
    size_t programs_before = metrics::own_bpf_programs().size();
    if (auto st = probe->open(); st != sdk::Status::Ok) {
      if (!open_failed(p.get(), st, "open", exit_code)) return false;
      continue;
    }
    loaded_bpf_[p->name()] = metrics::own_bpf_programs().size() > programs_before;
    probes_.push_back(p.get());
    bpf_owners_.claim_new(p->name());  // metrics: the programs its open() loaded
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

// metrics: the listen address is checked before anything starts. False
// (logged) when it is not an address.
bool Host::metrics_address(const LoadedConfig& cfg,
                           std::optional<boost::asio::ip::tcp::endpoint>* out) const {
  std::string at = cfg.host.get_string("metrics.listen");
  if (at.empty()) return true;
  try {
    *out = metrics::parse_listen_address(at);
  } catch (const std::exception& e) {
    spdlog::error("configuration error: {}: key 'metrics.listen': {}", cfg.host_file, e.what());
    return false;
  }
  return true;
}

int Host::start_and_run(const LoadedConfig& cfg) {
  int exit_code = kExitOk;
  std::optional<boost::asio::ip::tcp::endpoint> metrics_at;
  if (!metrics_address(cfg, &metrics_at)) return kExitUsage;
  // Probes load and attach first, with the start capabilities; then
  // privileges drop; then sinks and processors open (their threads never
  // hold a dropped capability). Nothing is consumed from the rings before
  // io.run(), so no event misses a sink.
  if (!open_probes(&exit_code)) return exit_code;
  if (!open_jsonl(cfg)) return kExitUsage;
  std::vector<std::string> running = start_probes();
  // Watching the directory, leaf-host waits for a probe when none was there
  // to start (an empty directory, or every plugin disabled); not when the
  // ones there failed.
  if (running.empty() && (!watch_ || start_failures_)) {
    spdlog::error("nothing could be loaded: no probe plugin is running");
    return kExitNothing;
  }
  if (running.empty())
    spdlog::warn("no probe plugin is running yet: waiting for one to appear in {} (plugins_watch)",
                 plugins_dir_);
  if (metrics_at) serve_metrics(cfg, *metrics_at);
  if (!drop_privileges(cfg, metrics_at ? metrics_at->port() : 0)) return kExitFatal;
  if (!open_sinks_and_processors(&exit_code)) return exit_code;
  if (!assemble_pipeline()) return kExitUsage;
  return run_loop(cfg, running);
}

// The built-in JSON-lines sink, first in the pipeline. False (logged) when
// its path cannot be opened.
bool Host::open_jsonl(const LoadedConfig& cfg) {
  if (!cfg.host.get_bool("jsonl.enabled")) return true;
  try {
    rt_.jsonl = std::make_unique<JsonlSink>(cfg.host.get_string("jsonl.path"));
  } catch (const std::exception& e) {
    spdlog::error("configuration error: {}: key 'jsonl.path': {}", cfg.host_file, e.what());
    return false;
  }
  rt_.pipeline->add_sink("jsonl", rt_.jsonl.get());
  return true;
}

// Attaches every opened probe and logs each probe's hook; one whose start
// fails is destroyed and skipped. Returns the names of those running.
std::vector<std::string> Host::start_probes() {
  std::vector<std::string> running;
  for (auto* p : probes_) {
    if (p->probe()->start() != sdk::Status::Ok) {
      spdlog::error("plugin {} ({}): start failed: {}; skipped", p->name(), p->path(),
                    p->last_error());
      p->probe()->stop();
      p->destroy_object();
      start_failures_ = true;
      continue;
    }
    running.push_back(p->name());
    for (const auto& r : probe_reports(*p)) {
      if (r.attached)
        spdlog::info("[{}] probe {} attached via {}{}", p->name(), r.name, r.hook,
                     r.detail.empty() ? "" : " (" + r.detail + ")");
      else
        spdlog::warn("[{}] probe {} not running: {}", p->name(), r.name,
                     r.detail.empty() ? "no hook" : r.detail);
    }
  }
  return running;
}

// metrics: /metrics and /healthz on this io_context, bound (and BPF
// statistics enabled) before the drop. A port in use is reported and the
// host runs on without them.
void Host::serve_metrics(const LoadedConfig& cfg, const boost::asio::ip::tcp::endpoint& at) {
  metrics_ = std::make_unique<metrics::MetricsService>(
      rt_.io,
      metrics::Sources{rt_.pipeline.get(), rt_.dispatcher.get(), &rt_.plugins, &bpf_owners_,
                       nullptr, &departed_},
      cfg.host.get_bool("metrics.bpf_stats"));
  try {
    metrics_->listen(at);
    auto ep = metrics_->local_endpoint();
    std::string addr = ep.address().to_string();
    if (ep.address().is_v6()) addr = "[" + addr + "]";
    spdlog::info("metrics: serving http://{}:{}/metrics and /healthz", addr, ep.port());
  } catch (const std::exception& e) {
    spdlog::warn("metrics: cannot listen on {}: {}; /metrics and /healthz are not served",
                 cfg.host.get_string("metrics.listen"), e.what());
    metrics_.reset();
  }
}

// Sink and processor plugins join the pipeline (after the JSON-lines sink).
// False (logged) when no sink runs at all.
bool Host::assemble_pipeline() {
  auto& pipeline = *rt_.pipeline;
  for (auto* s : sinks_) pipeline.add_sink(s->name(), s->sink());
  for (auto* p : processors_) pipeline.add_processor(p->name(), p->processor());
  if (watch_)
    spdlog::info(
        "plugins directory {} is watched: plugins that appear, go or are replaced "
        "there are started, stopped or upgraded",
        plugins_dir_);
  if (pipeline.sinks().empty()) {
    spdlog::error(
        "no sink: the JSON-lines sink is disabled (jsonl.enabled) and no sink plugin runs");
    return false;
  }
  return true;
}

// The host's own timers on the dispatcher: clock offset, sink callbacks,
// the periodic loss report.
void Host::add_host_timers(const LoadedConfig& cfg) {
  auto& d = *rt_.dispatcher;
  auto& pipeline = *rt_.pipeline;
  d.add_timer(this, std::chrono::seconds(10), [&pipeline] { pipeline.clock().refresh(); });
  // Sinks serve their callbacks even when no event flows.
  d.add_timer(this, std::chrono::milliseconds(100), [&pipeline] { pipeline.end_batch(); });
  if (int64_t every = cfg.host.get_int("stats_interval"); every > 0)
    d.add_timer(this, std::chrono::nanoseconds(every), [this] { log_losses(); });
}

// --duration: stops the io_context after that many seconds.
std::unique_ptr<boost::asio::steady_timer> Host::arm_duration() {
  if (!opts_.duration_s) return nullptr;
  auto timer = std::make_unique<boost::asio::steady_timer>(
      rt_.io, std::chrono::milliseconds(static_cast<int64_t>(*opts_.duration_s * 1000)));
  timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    spdlog::info("--duration reached, shutting down");
    rt_.io.stop();
  });
  return timer;
}

void Host::log_running(const std::vector<std::string>& running) const {
  std::string sink_names;
  for (const auto& s : rt_.pipeline->sinks())
    sink_names += (sink_names.empty() ? "" : ", ") + s->name;
  std::string probe_names;
  for (const auto& n : running) probe_names += (probe_names.empty() ? "" : ", ") + n;
  spdlog::info("leaf-host running: probes [{}], sinks [{}], hostname {}", probe_names, sink_names,
               rt_.pipeline->hostname());
}

// Signals, timers, then the dispatcher runs until SIGTERM/SIGINT or
// --duration; then everything stops in order (shutdown()).
int Host::run_loop(const LoadedConfig& cfg, const std::vector<std::string>& running) {
  auto& io = rt_.io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    io.stop();
  });
  signal(SIGPIPE, SIG_IGN);
  boost::asio::signal_set hup(io, SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      reload();
      wait_hup();
    });
  };
  wait_hup();
  add_host_timers(cfg);
  std::unique_ptr<boost::asio::steady_timer> stop_timer = arm_duration();
  log_running(running);

  auto flush_timeout = std::chrono::nanoseconds(cfg.host.get_int("shutdown_timeout"));
  try {
    io.run();
  } catch (const std::exception& e) {
    spdlog::critical("dispatcher failed: {}", e.what());
    if (watch_) watch_->stop();
    join_loaders();
    shutdown(flush_timeout);
    return kExitFatal;
  }
  signals.cancel();
  hup.cancel();
  if (watch_) watch_->stop();
  join_loaders();
  if (metrics_) metrics_->stop();  // metrics
  if (stop_timer) stop_timer->cancel();
  rt_.dispatcher->remove_owner(this);  // the host's timers
  shutdown(flush_timeout);
  return kExitOk;
}

void Host::log_losses() {
  for (auto* p : probes_) {
    for (const auto& k : rt_.dispatcher->kernel_counts(p)) {
      std::string key = p->name() + "/" + k.type;
      uint64_t before = last_losses_[key];
      if (k.lost > before)
        spdlog::warn(
            "[{}] {} {} events lost in the kernel (ring buffer full) since the last report; "
            "total {}",
            p->name(), k.lost - before, k.type, k.lost);
      last_losses_[key] = k.lost;
    }
  }
  for (const auto& t : rt_.pipeline->type_stats()) {
    std::string key = "malformed/" + t->plugin + "/" + t->type;
    uint64_t now = t->malformed.load(), before = last_losses_[key];
    if (now > before)
      spdlog::warn("[{}] {} {} records dropped: they do not fit the event schema", t->plugin,
                   now - before, t->type);
    last_losses_[key] = now;
    key = "decode/" + t->plugin + "/" + t->type;
    now = t->decode_failed.load();
    before = last_losses_[key];
    if (now > before)
      spdlog::warn(
          "[{}] {} {} records refused by the plugin's decoder since the last report "
          "(last: {}); total {}",
          t->plugin, now - before, t->type,
          status_text(static_cast<sdk::Status>(t->last_decode_status.load())), now);
    last_losses_[key] = now;
  }
  for (const auto& s : rt_.pipeline->sinks()) {
    std::string key = "sink/" + s->name;
    uint64_t now = s->rejected.load(), before = last_losses_[key];
    if (now > before)
      spdlog::warn("sink {} refused {} events since the last report (total {})", s->name,
                   now - before, now);
    last_losses_[key] = now;
  }
}

void Host::shutdown(std::chrono::nanoseconds flush_timeout) {
  auto& d = *rt_.dispatcher;
  // Stop the probes first and drain what their rings still hold.
  for (auto* p : probes_) {
    if (!p->probe()) continue;
    // The kernel's counts once the probe no longer runs, before its ring is
    // drained: read earlier, the summary showed more delivered than emitted.
    p->probe()->stop();
    auto counts = d.kernel_counts(p);
    d.remove_owner(p);
    for (const auto& k : counts) {
      uint64_t delivered = 0, undecoded = 0;
      for (const auto& t : rt_.pipeline->type_stats())
        if (t->plugin == p->name() && t->type == k.type) {
          delivered = t->events.load();
          undecoded = t->decode_failed.load();
        }
      std::string refused =
          undecoded ? fmt::format(", {} refused by its decoder", undecoded) : std::string();
      if (k.emitted || k.lost)
        spdlog::info(
            "[{}] {}: {} emitted by the kernel, {} lost in the kernel, {} delivered to "
            "sinks{}",
            p->name(), k.type, k.emitted, k.lost, delivered, refused);
    }
  }
  uint32_t timeout_ms = static_cast<uint32_t>(flush_timeout.count() / 1'000'000);
  for (const auto& s : rt_.pipeline->sinks()) {
    if (s->sink->flush(timeout_ms) != sdk::Status::Ok)
      spdlog::error("sink {}: not everything could be delivered within {} ms: {}", s->name,
                    timeout_ms, s->sink->last_error());
    if (s->rejected.load())
      spdlog::warn("sink {}: {} events were refused and dropped in this run", s->name,
                   s->rejected.load());
  }
  for (auto* s : sinks_)
    if (s->sink()) s->sink()->close();
  for (auto* p : processors_)
    if (p->processor()) p->processor()->close();
  if (rt_.jsonl) rt_.jsonl->close();
  // What the sinks accepted; a sink that delivers further (Kafka) logs what
  // reached its destination when it closes.
  std::string accepted;
  for (const auto& s : rt_.pipeline->sinks())
    accepted += fmt::format("{}{} {}", accepted.empty() ? "" : ", ", s->name, s->accepted.load());
  spdlog::info("leaf-host stopped: {} events passed to the sinks (accepted: {})",
               rt_.pipeline->events_total(), accepted.empty() ? "no sink" : accepted);
}

}  // namespace

int run_host(const CliOptions& options) {
  try {
    Host host(options);
    return host.run();
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return kExitFatal;
  }
}

}  // namespace leaf::core
