// leaf-host's Host class, shared by the files that implement it (internal to
// core/host): host.cpp (configuration, loading, opening, privileges),
// host_run.cpp (start, the run loop, loss reports, shutdown), host_reload.cpp
// (SIGHUP), host_hotplug.cpp (plugins that come and go while it runs).
#pragma once

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
#include "host/host.hpp"
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

namespace leaf::core::host_detail {

namespace fs = std::filesystem;

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

// Why a probe is opened on a loader thread, beside the dispatcher
// (host_open.cpp), and so what it replaces once it is open: the file's
// running plugin (Appeared), the running instance of its library with the
// previous configuration (Restart), or its disabled instance (Enable).
struct Opening {
  enum class Why { Appeared, Restart, Enable } why;
  std::string path;     // the plugin's file
  std::string version;  // Appeared: the new file's version
  std::string reason;   // Restart: what changed
  uint64_t gen = 0;     // Appeared: file_gen_ of its file; else reload_gen_
  std::chrono::steady_clock::time_point t0;
  uint64_t reload_gen = 0;  // reload_gen_ when the open began (open_beside sets it)
};

class Host {
 public:
  explicit Host(const CliOptions& o) : opts_(o) {}
  ~Host() { join_loaders(); }
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;
  int run();

 private:
  // run: read_config -> build_runtime -> start_watch -> load_plugins ->
  // --list-plugins | kernel checks -> --check | start_and_run.
  int read_config(LoadedConfig* cfg);
  bool build_runtime(const LoadedConfig& cfg);
  void start_watch(const LoadedConfig& cfg);
  int check(const LoadedConfig& cfg);
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
  bool read_reload(LoadedConfig* cfg,
                   std::vector<std::pair<PluginInstance*, ConfigSection>>* changed);
  void reload_plugin(PluginInstance* p, ConfigSection next);
  void apply_live(PluginInstance* p, ConfigSection next);
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
  std::optional<ConfigSection> admit(const std::string& path,
                                     const std::optional<PluginLibrary>& lib,
                                     const std::string& error, const PluginInstance* old);
  void appeared_other(std::unique_ptr<PluginInstance> inst, PluginInstance* old,
                      const std::string& path, const std::string& version);
  // A probe opened on a loader thread (host_open.cpp): dropped in, or
  // restarted or enabled by a SIGHUP.
  void open_beside(std::unique_ptr<PluginInstance> inst, Opening what);
  void probe_opened(uint64_t id, bool opened, const std::string& error,
                    const std::vector<uint32_t>& programs);
  bool still_wanted(const PluginInstance& inst, const Opening& what, PluginInstance** old) const;
  void open_failed(const PluginInstance& inst, const Opening& what, const PluginInstance* old,
                   const std::string& error);
  void swap_in_probe(std::unique_ptr<PluginInstance> inst, PluginInstance* old, Opening what,
                     const std::vector<uint32_t>& programs);
  void catch_up_reload(PluginInstance* p);
  void swap_failed(std::unique_ptr<PluginInstance> inst, const Opening& what,
                   ConfigSection previous, size_t slot, bool replaced);
  void log_swapped(const PluginInstance& p, const Opening& what, bool replaced,
                   std::chrono::steady_clock::time_point gap_from, double stopping_ms) const;
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
  // Probes created (event types registered) and being opened (BPF objects
  // loaded and verified: up to a second for a large object) on a loader
  // thread, by loader id; owned here so that one still opening at shutdown
  // is destroyed by join_loaders(), while the dispatcher lives.
  struct PendingOpen {
    std::unique_ptr<PluginInstance> inst;
    Opening what;
  };
  std::map<uint64_t, PendingOpen> opening_;
  // Every SIGHUP that is read bumps it: a restart or enable begun by an
  // earlier one and still opening is dropped when it ends (the later
  // SIGHUP compared its configuration with the running one again).
  uint64_t reload_gen_ = 0;
  // A plugin file was refused or a plugin failed at start: with nothing
  // running, leaf-host then exits 3 even when it watches the directory.
  bool start_failures_ = false;
  // metrics: which BPF programs each plugin loaded; the /metrics server
  // (declared after rt_: destroyed before the plugins it reads).
  metrics::BpfProgramOwners bpf_owners_;
  metrics::DepartedCounters departed_;  // counters of plugins that stopped while running
  std::unique_ptr<metrics::MetricsService> metrics_;
};

inline std::string file_name(const std::string& path) { return fs::path(path).filename().string(); }
inline double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace leaf::core::host_detail
