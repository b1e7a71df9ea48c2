// SIGHUP: what a reload does to each plugin (issue 14, item 3).
#include "host/host_impl.hpp"

namespace leaf::core::host_detail {

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
  if (!read_reload(&cfg, &changed)) return;
  // A restart or enable an earlier SIGHUP began and that is still opening is
  // dropped when it ends: `changed` compares with what runs, so this one
  // begins it again when it is still wanted.
  ++reload_gen_;
  plugin_sources_ = cfg.plugins;  // plugins that appear from now on
  if (!(cfg.host == host_config_))
    spdlog::warn("SIGHUP: changes to {} take effect at restart",
                 cfg.host_file.empty() ? "leaf.toml" : cfg.host_file);
  size_t opening = opening_.size();
  for (auto& [p, next] : changed) reload_plugin(p, std::move(next));
  opening = opening_.size() - std::min(opening, opening_.size());
  if (opening)
    spdlog::info(
        "SIGHUP: configuration reloaded from {}; {} probe(s) opening beside the running plugins "
        "(each is swapped in once open)",
        config_path_, opening);
  else
    spdlog::info("SIGHUP: configuration reloaded from {}", config_path_);
}

// Reads and validates the whole configuration again; *changed: every
// plugin (running or not) whose validated section differs. False (logged)
// when anything is refused: then nothing changes.
bool Host::read_reload(LoadedConfig* cfg,
                       std::vector<std::pair<PluginInstance*, ConfigSection>>* changed) {
  try {
    *cfg = load_config(config_path_);
    for (auto* list : {&rt_.plugins, &rt_.disabled})
      for (auto& p : *list) {
        ConfigSection next = validate_plugin_config(p->name(), cfg->plugins, p->options());
        if (!(next == p->config())) changed->emplace_back(p.get(), std::move(next));
      }
  } catch (const ConfigError& e) {
    spdlog::error("SIGHUP: configuration refused, the running one stays: {}", e.what());
    return false;
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: reading {} failed, the running configuration stays: {}", config_path_,
                  e.what());
    return false;
  }
  return true;
}

// One plugin whose configuration changed: enabled on/off, kept for a plugin
// that is not running, a restart for restart-only options, else in place.
void Host::reload_plugin(PluginInstance* p, ConfigSection next) {
  if (reload_enabled(p, next)) return;
  if (!p->probe() && !p->sink() && !p->processor()) {
    // Disabled, or failed at start: the new configuration is used when it starts.
    p->replace_config(std::move(next));
    spdlog::info("SIGHUP: plugin {} is not running; its new configuration applies when it starts",
                 p->name());
    return;
  }
  // The option flags decide: a changed restart-only option restarts this
  // plugin (and no other); live ones are applied in place.
  std::string restart_keys = changed_keys(*p, next, false);
  if (!restart_keys.empty()) {
    restart_plugin(p, std::move(next), "restart-only options changed: " + restart_keys);
    return;
  }
  apply_live(p, std::move(next));
}

// Only live options changed: the plugin's reload() applies them in place;
// NotSupported restarts it; a refusal restores the running configuration.
void Host::apply_live(PluginInstance* p, ConfigSection next) {
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
// opens and starts it, also one disabled at startup (a probe is opened beside
// the dispatcher: host_open.cpp). Returns true when it handled the change.
bool Host::reload_enabled(PluginInstance* p, ConfigSection& next) {
  bool want = next.get_bool("enabled");
  if (want == p->config().get_bool("enabled")) return false;
  if (want && p->kind() == sdk::PluginKind::Probe && !p->probe()) {
    // Opened beside the dispatcher; the disabled instance stays until then.
    open_beside(p->sibling(std::move(next)),
                Opening{Opening::Why::Enable, p->path(), "", "", reload_gen_,
                        std::chrono::steady_clock::now()});
    return true;
  }
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

// SIGHUP: restarts one plugin with its new configuration; the other
// plugins are not touched. A probe: a new instance of its library is
// created and opened beside the dispatcher while the running one runs on,
// then swapped in (old detached, its rings drained, new attached:
// host_open.cpp); when it cannot open, the running one stays. A sink or
// processor: stopped (a sink flushed), its object destroyed, then created,
// opened and started again (library and descriptor kept); when the new
// configuration cannot start, the previous one is started again.
void Host::restart_plugin(PluginInstance* p, ConfigSection next, const std::string& why) {
  auto t0 = std::chrono::steady_clock::now();
  bool probe = p->kind() == sdk::PluginKind::Probe;
  if (probe) {
    // Opened beside the dispatcher; the running one runs until then.
    open_beside(p->sibling(std::move(next)),
                Opening{Opening::Why::Restart, p->path(), "", why, reload_gen_, t0});
    return;
  }
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

}  // namespace leaf::core::host_detail
