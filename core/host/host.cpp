#include "host/host.hpp"

#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <spdlog/spdlog.h>

#include "config/host_config.hpp"
#include "config/secrets.hpp"
#include "host/install_paths.hpp"
#include "host/kernel_support.hpp"
#include "host/report.hpp"
#include "metrics/metrics_service.hpp"
#include "pipeline/pipeline.hpp"
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

  ~Runtime() {
    // Probes first: removing their rings drains them into the pipeline,
    // which still needs its sinks. Then the pipeline forgets sinks and
    // processors before their objects go.
    for (auto& p : plugins)
      if (p->kind() == sdk::PluginKind::Probe) p->destroy_object();
    if (pipeline) pipeline->detach_all();
    plugins.clear();
    if (jsonl) jsonl->close();
  }
};

class Host {
 public:
  explicit Host(const CliOptions& o) : opts_(o) {}
  int run();

 private:
  int load_plugins(const LoadedConfig& cfg, const std::string& dir);
  bool open_probes(int* exit_code);
  bool open_sinks_and_processors(int* exit_code);
  bool open_failed(PluginInstance* p, sdk::Status s, const char* what, int* exit_code);
  security::HostFacts host_facts(const LoadedConfig& cfg, int metrics_port) const;
  std::vector<security::PluginFacts> running_facts() const;
  bool drop_privileges(const LoadedConfig& cfg, int metrics_port);
  int start_and_run(const LoadedConfig& cfg);
  bool add_plugin(PluginLibrary lib, const LoadedConfig& cfg, int* exit_code);
  void reload();
  bool reload_enabled(PluginInstance* p, ConfigSection& next);
  void shutdown(std::chrono::nanoseconds flush_timeout);
  void log_losses();

  const CliOptions& opts_;
  std::string config_path_;
  Runtime rt_;
  std::vector<PluginInstance*> probes_, sinks_, processors_;
  std::map<std::string, bool> loaded_bpf_;  // probe name -> its open() loaded BPF programs
  security::KernelInfo kernel_;             // read before leaf-host changes anything (tracefs)
  std::map<std::string, uint64_t> last_losses_;
  ConfigSection host_config_;
  // metrics: which BPF programs each plugin loaded; the /metrics server
  // (declared after rt_: destroyed before the plugins it reads).
  metrics::BpfProgramOwners bpf_owners_;
  std::unique_ptr<metrics::MetricsService> metrics_;
};

int Host::run() {
  LoadedConfig cfg;
  std::string config_path = opts_.config.empty() ? default_config_path() : opts_.config;
  config_path_ = config_path;
  try {
    if (!config_path.empty()) cfg = load_config(config_path);
    else cfg.host = ConfigSection::validate(nullptr, host_options(), "<defaults>");
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

  std::string dir = opts_.plugins_dir.empty() ? cfg.host.get_string("plugins_dir") : opts_.plugins_dir;
  if (dir.empty()) dir = installed_plugins_dir();

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
    int rc = run_check(opts_.check_json ? CheckFormat::Json : CheckFormat::Text, text, rt_.plugins, caps);
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
    return true;
  }
  std::string name = lib.name, path = lib.path;
  std::string version = lib.descriptor.version ? lib.descriptor.version : "?";
  auto kind = lib.descriptor.kind;
  auto inst = std::make_unique<PluginInstance>(std::move(lib), std::move(section), rt_.dispatcher.get());
  std::string error;
  if (!inst->create(&error)) {
    spdlog::error("plugin {} ({}): could not be created: {}; skipped", name, path, error);
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
    LoadOptions load;
    load.trial_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::nanoseconds(cfg.host.get_int("plugin_trial_timeout")));
    auto lib = open_plugin(file, &error, load);
    if (!lib) {
      spdlog::error("plugin {}: {}; skipped", file, error);
      continue;
    }
    if (auto it = seen.find(lib->name); it != seen.end()) {
      spdlog::error("plugin {}: name '{}' is taken by {}; skipped", file, lib->name, it->second);
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
    for (auto& p : rt_.plugins) {
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
  if (!(cfg.host == host_config_))
    spdlog::warn("SIGHUP: changes to {} take effect at restart", cfg.host_file.empty() ? "leaf.toml" : cfg.host_file);
  for (auto& [p, next] : changed) {
    if (reload_enabled(p, next)) continue;
    ConfigSection previous = p->replace_config(std::move(next));
    sdk::Status st = sdk::Status::NotSupported;
    if (auto* proc = p->processor()) st = proc->reload();
    else if (auto* probe = p->probe()) st = probe->reload();
    if (st == sdk::Status::Ok) {
      spdlog::info("SIGHUP: plugin {} applied its new configuration", p->name());
    } else if (st == sdk::Status::NotSupported) {
      p->replace_config(std::move(previous));
      spdlog::warn("SIGHUP: plugin {} applies configuration changes at restart only", p->name());
    } else {
      std::string why = p->last_error();
      p->replace_config(std::move(previous));
      if (auto* proc = p->processor()) proc->reload();
      else if (auto* probe = p->probe()) probe->reload();
      spdlog::error("SIGHUP: plugin {} refused its new configuration, the running one stays: {}",
                    p->name(), why);
    }
  }
  spdlog::info("SIGHUP: configuration reloaded from {}", config_path_);
}

// SIGHUP, `enabled` of a probe that ran at startup: false stops it (programs
// detached, ring drained, object destroyed), true creates, opens and starts
// it again. Returns true when it handled the change. (Sinks and processors,
// and plugins disabled at startup: at restart, as the log says.)
bool Host::reload_enabled(PluginInstance* p, ConfigSection& next) {
  bool want = next.get_bool("enabled");
  if (want == p->config().get_bool("enabled")) return false;
  if (p->kind() != sdk::PluginKind::Probe) {
    spdlog::warn("SIGHUP: plugin {}: enabled = {} takes effect at restart", p->name(), want);
    return false;
  }
  p->replace_config(std::move(next));
  if (!want) {
    if (auto* probe = p->probe()) probe->stop();
    p->destroy_object();  // drains its rings first
    spdlog::info("SIGHUP: plugin {} stopped (enabled = false): programs detached", p->name());
    return true;
  }
  // What loading needs (kept in permitted by keep_capabilities = "reload"),
  // effective for the time of this load only.
  security::EffectiveForLoad raised;
  std::string error;
  if (!p->create(&error)) {
    spdlog::error("SIGHUP: plugin {} could not be created: {}", p->name(), error);
    return true;
  }
  if (p->probe()->open() != sdk::Status::Ok || p->probe()->start() != sdk::Status::Ok) {
    spdlog::error("SIGHUP: plugin {} could not start: {}", p->name(), p->last_error());
    p->probe()->stop();
    p->destroy_object();
    return true;
  }
  bpf_owners_.claim_new(p->name());
  spdlog::info("SIGHUP: plugin {} started (enabled = true)", p->name());
  return true;
}

// A plugin whose open() failed: a configuration error stops the host
// (returns false, exit 2); anything else skips the plugin.
bool Host::open_failed(PluginInstance* p, sdk::Status s, const char* what, int* exit_code) {
  if (s == sdk::Status::InvalidConfig) {
    spdlog::error("configuration error: plugin {}: {}", p->name(), p->last_error());
    *exit_code = kExitUsage;
    return false;
  }
  spdlog::error("plugin {} ({}): {} failed: {}; skipped", p->name(), p->path(), what, p->last_error());
  p->destroy_object();
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
  spdlog::info("capabilities: kept permitted {{{}}}, effective {{{}}} (security.keep_capabilities = "
               "\"{}\"){}{}",
               security::cap_list(plan.permitted), security::cap_list(plan.effective),
               security::keep_mode_name(mode),
               plan.bounding == plan.permitted
                   ? std::string()
                   : "; bounding set left as granted, no CAP_SETPCAP (no_new_privs: no exec regains "
                     "any): {" + security::cap_list(plan.bounding) + "}",
               plan.user.empty() && plan.group.empty()
                   ? std::string()
                   : "; running as uid " + std::to_string(getuid()) + " gid " + std::to_string(getgid()));
  return true;
}

int Host::start_and_run(const LoadedConfig& cfg) {
  int exit_code = kExitOk;
  // metrics: the listen address is checked before anything starts.
  std::optional<boost::asio::ip::tcp::endpoint> metrics_at;
  if (std::string at = cfg.host.get_string("metrics.listen"); !at.empty()) {
    try {
      metrics_at = metrics::parse_listen_address(at);
    } catch (const std::exception& e) {
      spdlog::error("configuration error: {}: key 'metrics.listen': {}", cfg.host_file, e.what());
      return kExitUsage;
    }
  }
  // Probes load and attach first, with the start capabilities; then
  // privileges drop; then sinks and processors open (their threads never
  // hold a dropped capability). Nothing is consumed from the rings before
  // io.run(), so no event misses a sink.
  if (!open_probes(&exit_code)) return exit_code;

  auto& pipeline = *rt_.pipeline;
  auto& io = rt_.io;
  auto& d = *rt_.dispatcher;
  if (cfg.host.get_bool("jsonl.enabled")) {
    try {
      rt_.jsonl = std::make_unique<JsonlSink>(cfg.host.get_string("jsonl.path"));
    } catch (const std::exception& e) {
      spdlog::error("configuration error: {}: key 'jsonl.path': {}", cfg.host_file, e.what());
      return kExitUsage;
    }
    pipeline.add_sink("jsonl", rt_.jsonl.get());
  }

  std::vector<std::string> running;
  for (auto* p : probes_) {
    if (p->probe()->start() != sdk::Status::Ok) {
      spdlog::error("plugin {} ({}): start failed: {}; skipped", p->name(), p->path(), p->last_error());
      p->probe()->stop();
      p->destroy_object();
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
  if (running.empty()) {
    spdlog::error("nothing could be loaded: no probe plugin is running");
    return kExitNothing;
  }

  // metrics: /metrics and /healthz on this io_context, bound (and BPF
  // statistics enabled) before the drop. A port in use is reported and the
  // host runs on without them.
  if (metrics_at) {
    metrics_ = std::make_unique<metrics::MetricsService>(
        io, metrics::Sources{&pipeline, &d, &rt_.plugins, &bpf_owners_, nullptr},
        cfg.host.get_bool("metrics.bpf_stats"));
    try {
      metrics_->listen(*metrics_at);
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

  if (!drop_privileges(cfg, metrics_at ? metrics_at->port() : 0)) return kExitFatal;

  if (!open_sinks_and_processors(&exit_code)) return exit_code;
  for (auto* s : sinks_) pipeline.add_sink(s->name(), s->sink());
  for (auto* p : processors_) pipeline.add_processor(p->name(), p->processor());
  if (pipeline.sinks().empty()) {
    spdlog::error("no sink: the JSON-lines sink is disabled (jsonl.enabled) and no sink plugin runs");
    return kExitUsage;
  }

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

  const void* host_owner = this;
  d.add_timer(host_owner, std::chrono::seconds(10), [&pipeline] { pipeline.clock().refresh(); });
  // Sinks serve their callbacks even when no event flows.
  d.add_timer(host_owner, std::chrono::milliseconds(100), [&pipeline] { pipeline.end_batch(); });
  if (int64_t every = cfg.host.get_int("stats_interval"); every > 0)
    d.add_timer(host_owner, std::chrono::nanoseconds(every), [this] { log_losses(); });
  std::unique_ptr<boost::asio::steady_timer> stop_timer;
  if (opts_.duration_s) {
    stop_timer = std::make_unique<boost::asio::steady_timer>(
        io, std::chrono::milliseconds(static_cast<int64_t>(*opts_.duration_s * 1000)));
    stop_timer->async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      spdlog::info("--duration reached, shutting down");
      io.stop();
    });
  }

  std::string sink_names;
  for (const auto& s : pipeline.sinks()) sink_names += (sink_names.empty() ? "" : ", ") + s->name;
  std::string probe_names;
  for (const auto& n : running) probe_names += (probe_names.empty() ? "" : ", ") + n;
  spdlog::info("leaf-host running: probes [{}], sinks [{}], hostname {}", probe_names, sink_names,
               pipeline.hostname());

  try {
    io.run();
  } catch (const std::exception& e) {
    spdlog::critical("dispatcher failed: {}", e.what());
    shutdown(std::chrono::nanoseconds(cfg.host.get_int("shutdown_timeout")));
    return kExitFatal;
  }
  signals.cancel();
  hup.cancel();
  if (metrics_) metrics_->stop();  // metrics
  if (stop_timer) stop_timer->cancel();
  d.remove_owner(host_owner);
  shutdown(std::chrono::nanoseconds(cfg.host.get_int("shutdown_timeout")));
  return kExitOk;
}

void Host::log_losses() {
  for (auto* p : probes_) {
    for (const auto& k : rt_.dispatcher->kernel_counts(p)) {
      std::string key = p->name() + "/" + k.type;
      uint64_t before = last_losses_[key];
      if (k.lost > before)
        spdlog::warn("[{}] {} {} events lost in the kernel (ring buffer full) since the last report; "
                     "total {}", p->name(), k.lost - before, k.type, k.lost);
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
      uint64_t delivered = 0;
      for (const auto& t : rt_.pipeline->type_stats())
        if (t->plugin == p->name() && t->type == k.type) delivered = t->events.load();
      if (k.emitted || k.lost)
        spdlog::info("[{}] {}: {} emitted by the kernel, {} lost in the kernel, {} delivered to sinks",
                     p->name(), k.type, k.emitted, k.lost, delivered);
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
