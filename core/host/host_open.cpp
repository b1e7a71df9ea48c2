// A probe opened beside the dispatcher: created on the dispatcher (its event
// types registered), opened — its BPF objects loaded and verified, up to a
// second for a large object — on a loader thread with the load capabilities
// raised there (they are per thread), so that the other plugins' rings are
// drained, timers fire and /metrics answers meanwhile. Back on the
// dispatcher it replaces what it stands for, which runs until then:
//  - Appeared: a file dropped into the plugins directory (the running
//    plugin of that file, if any, is upgraded);
//  - Restart: a SIGHUP changed restart-only options; the new instance
//    shares the running one's library and has the new configuration;
//  - Enable: a SIGHUP set enabled = true; the disabled instance is replaced.
// A probe may call only config_*, log and the host's constants from open()
// (sdk abi.h); PluginInstance::open_probe refuses rings, timers and events.
#include "host/host_impl.hpp"

namespace leaf::core::host_detail {

void Host::open_beside(std::unique_ptr<PluginInstance> inst, Opening what) {
  PluginInstance* p = inst.get();
  std::string error;
  bool created;
  {
    security::EffectiveForLoad raised;
    created = p->create(&error);
  }
  if (!created) {
    PluginInstance* old = nullptr;
    if (still_wanted(*p, what, &old)) open_failed(*p, what, old, error);
    return;
  }
  uint64_t id = ++next_loader_;
  what.reload_gen = reload_gen_;
  opening_[id] = PendingOpen{std::move(inst), std::move(what)};
  loaders_[id] = std::thread([this, p, id] {
    bool opened;
    std::string why;
    std::vector<uint32_t> programs;
    {
      security::EffectiveForLoad raised;
      metrics::ProgramLoad load;  // one open at a time: whose programs are whose
      opened = p->open_probe() == sdk::Status::Ok;
      programs = load.taken();
    }
    if (!opened) why = p->last_error();
    boost::asio::post(rt_.io, [this, id, opened, why, programs = std::move(programs)] {
      probe_opened(id, opened, why, programs);
    });
  });
}

// Back on the dispatcher after a probe's open() (which loaded `programs`):
// dropped when what it stands for changed meanwhile, otherwise swapped in.
void Host::probe_opened(uint64_t id, bool opened, const std::string& error,
                        const std::vector<uint32_t>& programs) {
  if (auto it = loaders_.find(id); it != loaders_.end()) {
    it->second.join();  // it has posted this: about to end
    loaders_.erase(it);
  }
  auto node = opening_.extract(id);
  if (node.empty()) return;
  PendingOpen pending = std::move(node.mapped());
  PluginInstance* old = nullptr;
  if (!still_wanted(*pending.inst, pending.what, &old)) return;
  if (!opened) {
    open_failed(*pending.inst, pending.what, old, error);
    return;
  }
  swap_in_probe(std::move(pending.inst), old, std::move(pending.what), programs);
}

namespace {
// The instance in `list` that shares inst's library (the one a SIGHUP
// restart or enable stands for), or nullptr: removed or replaced meanwhile.
PluginInstance* sharing_library(const std::vector<std::unique_ptr<PluginInstance>>& list,
                                const PluginInstance& inst) {
  for (const auto& q : list)
    if (q.get() != &inst && q->same_library(inst)) return q.get();
  return nullptr;
}
}  // namespace

// Whether an opened probe is still to be swapped in; *old: what it replaces
// (nullptr: nothing, for a new file). Logs why not.
bool Host::still_wanted(const PluginInstance& inst, const Opening& what,
                        PluginInstance** old) const {
  if (what.why == Opening::Why::Appeared) {
    auto gen = file_gen_.find(file_name(what.path));
    if (gen == file_gen_.end() || gen->second != what.gen) {
      spdlog::debug("plugin {}: changed again while it was opened; the newer one counts",
                    what.path);
      return false;
    }
    *old = running_from(what.path);
    for (const auto& q : rt_.plugins)
      if (q.get() != *old && q->name() == inst.name()) {
        spdlog::error("plugin {}: name '{}' was taken by {} while it was opened; not started",
                      what.path, inst.name(), q->path());
        return false;
      }
    return true;
  }
  const char* verb = what.why == Opening::Why::Restart ? "restart" : "start";
  if (what.gen != reload_gen_) {
    spdlog::info(
        "SIGHUP: plugin {}: the {} begun by an earlier SIGHUP is dropped; the later one "
        "counts",
        inst.name(), verb);
    return false;
  }
  *old = sharing_library(what.why == Opening::Why::Restart ? rt_.plugins : rt_.disabled, inst);
  if (!*old || (what.why == Opening::Why::Restart && !(*old)->probe())) {
    spdlog::info(
        "SIGHUP: plugin {}: not {}ed: it was {} while it was opened", inst.name(), verb,
        what.why == Opening::Why::Restart ? "stopped, removed or replaced" : "removed or replaced");
    return false;
  }
  return true;
}

// The new instance could not be created or opened: what it stands for runs
// on (a restarted probe with its previous configuration).
void Host::open_failed(const PluginInstance& inst, const Opening& what, const PluginInstance* old,
                       const std::string& error) {
  switch (what.why) {
    case Opening::Why::Appeared:
      spdlog::error("plugin {} ({}): could not start: {}{}; the other plugins run on", inst.name(),
                    what.path, error, old ? "; the running one stays" : "");
      break;
    case Opening::Why::Restart:
      spdlog::error(
          "SIGHUP: plugin {} ({}) could not restart with its new configuration ({}): {}; the "
          "running one stays, with the previous configuration",
          inst.name(), what.path, what.reason, error);
      break;
    case Opening::Why::Enable:
      spdlog::error("SIGHUP: plugin {} ({}) could not start: {}; it stays disabled", inst.name(),
                    what.path, error);
      break;
  }
}

// Replaces `old` (if any) by the opened probe: the time with no program of
// it attached is only: old detached, its rings drained, new attached. A
// restarted probe takes the old one's place in the plugin list.
void Host::swap_in_probe(std::unique_ptr<PluginInstance> inst, PluginInstance* old, Opening what,
                         const std::vector<uint32_t>& programs) {
  PluginInstance* p = inst.get();
  auto gap_from = std::chrono::steady_clock::now();
  ConfigSection previous = old ? old->config() : ConfigSection{};
  size_t slot = rt_.plugins.size();
  if (what.why == Opening::Why::Enable) {
    std::erase_if(rt_.disabled, [old](const auto& q) { return q.get() == old; });
  } else if (old) {
    stop_any(old);
    for (size_t i = 0; i < rt_.plugins.size(); ++i)
      if (rt_.plugins[i].get() == old) slot = i;
    forget(old);  // a file's old library unloaded; a restarted one is shared with p
  }
  double stopping_ms = ms_since(gap_from);
  rt_.plugins.insert(rt_.plugins.begin() + static_cast<ptrdiff_t>(slot), std::move(inst));
  bool started;
  {
    security::EffectiveForLoad raised;
    started = p->probe()->start() == sdk::Status::Ok;
  }
  if (!started) {
    swap_failed(std::move(rt_.plugins[slot]), what, std::move(previous), slot, old != nullptr);
    return;
  }
  loaded_bpf_[p->name()] = bpf_owners_.claim(programs, p->name()) > 0;
  probes_.push_back(p);
  log_swapped(*p, what, old != nullptr, gap_from, stopping_ms);
  if (what.why == Opening::Why::Appeared && what.reload_gen != reload_gen_) catch_up_reload(p);
}

// A file's probe opened with the configuration read when the file appeared;
// a SIGHUP that came meanwhile did not see it (it compared the running
// plugins): what that SIGHUP read applies now, as it would have then.
void Host::catch_up_reload(PluginInstance* p) {
  ConfigSection next;
  try {
    next = validate_plugin_config(p->name(), plugin_sources_, p->options());
  } catch (const ConfigError& e) {
    spdlog::error(
        "plugin {}: the configuration a SIGHUP read while it opened is refused ({}); it runs with "
        "the one it opened with",
        p->name(), e.what());
    return;
  }
  if (next == p->config()) return;
  spdlog::info("plugin {}: a SIGHUP changed its configuration while it opened; applying it now",
               p->name());
  reload_plugin(p, std::move(next));
}

// The opened probe's start() failed after what it replaces was stopped.
// A new file: the other plugins run on. A restart: the previous
// configuration starts again (on the dispatcher: this is the rare path). An
// enable: the plugin is disabled again.
void Host::swap_failed(std::unique_ptr<PluginInstance> inst, const Opening& what,
                       ConfigSection previous, size_t slot, bool replaced) {
  PluginInstance* p = inst.get();
  std::string name = p->name(), error = p->last_error();
  p->probe()->stop();
  p->destroy_object();
  if (what.why == Opening::Why::Appeared) {
    spdlog::error("plugin {} ({}): could not start: {}{}; the other plugins run on", name,
                  what.path, error, replaced ? " (the old version is stopped)" : "");
    forget(p);
    return;
  }
  p->replace_config(std::move(previous));
  if (what.why == Opening::Why::Enable) {
    rt_.plugins.erase(rt_.plugins.begin() + static_cast<ptrdiff_t>(slot));
    rt_.disabled.push_back(std::move(inst));
    spdlog::error("SIGHUP: plugin {} ({}) could not start: {}; it stays disabled", name, what.path,
                  error);
    return;
  }
  rt_.plugins[slot] = std::move(inst);
  std::string again;
  bool back = start_probe(p, &again);
  spdlog::error("SIGHUP: plugin {} ({}) could not restart with its new configuration ({}): {}; {}",
                name, what.path, what.reason, error,
                back ? "it runs again with the previous one" : "it is stopped: " + again);
}

void Host::log_swapped(const PluginInstance& p, const Opening& what, bool replaced,
                       std::chrono::steady_clock::time_point gap_from, double stopping_ms) const {
  double gap_ms = ms_since(gap_from);
  switch (what.why) {
    case Opening::Why::Appeared:
      if (replaced)
        spdlog::info(
            "plugin {} {} (probe) upgraded from {}: old stopped and drained, new started in "
            "{:.1f} ms; no probe of it attached for {:.1f} ms (old stopped, drained and unloaded "
            "in {:.1f} ms, new attached in {:.1f} ms)",
            p.name(), what.version, what.path, ms_since(what.t0), gap_ms, stopping_ms,
            gap_ms - stopping_ms);
      else
        spdlog::info("plugin {} {} (probe) started from {} in {:.1f} ms", p.name(), what.version,
                     what.path, ms_since(what.t0));
      break;
    case Opening::Why::Restart:
      spdlog::info(
          "SIGHUP: plugin {} restarted ({}): rings drained, running its new configuration "
          "after {:.1f} ms; opened beside the running one, no probe of it attached for {:.1f} ms "
          "(old stopped and drained in {:.1f} ms, new attached in {:.1f} ms)",
          p.name(), what.reason, ms_since(what.t0), gap_ms, stopping_ms, gap_ms - stopping_ms);
      break;
    case Opening::Why::Enable:
      spdlog::info("SIGHUP: plugin {} started (enabled = true)", p.name());
      spdlog::debug("plugin {}: enabled after {:.1f} ms (opened beside the dispatcher)", p.name(),
                    ms_since(what.t0));
      break;
  }
}

}  // namespace leaf::core::host_detail
