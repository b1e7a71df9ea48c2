// Plugins that come and go while leaf-host runs (issue 14, item 4): the
// plugins directory watch's handler, background loads, start/stop of one
// plugin. Everything here runs on the dispatcher thread (the watch's
// handler), except the loaders' threads, so no ring is drained, no timer
// fires and no scrape runs while a plugin is swapped.
#include "host/host_impl.hpp"

namespace leaf::core::host_detail {

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
  opening_.clear();  // opened, never started: destroyed (their BPF objects closed)
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

// Loads and attaches a probe after the privilege drop, on the dispatcher
// (only where a restart's start() failed and its previous configuration
// starts again; the usual way is open_beside): what loading needs (kept in
// permitted by keep_capabilities = "reload") is effective for this load only.
bool Host::start_probe(PluginInstance* p, std::string* error) {
  security::EffectiveForLoad raised;
  if (!p->probe() && !p->create(error)) return false;
  // Waits for a loader thread's open to end, if one runs (the rare path).
  metrics::ProgramLoad load;
  bool ok = p->open_probe() == sdk::Status::Ok && p->probe()->start() == sdk::Status::Ok;
  std::vector<uint32_t> programs = load.taken();
  if (!ok) {
    *error = p->last_error();
    p->probe()->stop();
    p->destroy_object();
    return false;
  }
  loaded_bpf_[p->name()] = bpf_owners_.claim(programs, p->name()) > 0;
  probes_.push_back(p);
  return true;
}

// Detaches a probe's programs, then drains its rings into the pipeline and
// destroys its object; the kernel's final counts are logged (nothing goes
// silently).
void Host::stop_probe(PluginInstance* p) {
  if (!p->probe()) return;
  auto t0 = std::chrono::steady_clock::now();
  p->probe()->stop();
  double detach_ms = ms_since(t0);
  auto counts = rt_.dispatcher->kernel_counts(p);
  departed_.record(*p, *rt_.dispatcher);
  p->destroy_object();  // drains its rings first
  spdlog::debug(
      "plugin {}: stop() (programs detached) {:.1f} ms, then drained and destroyed in "
      "{:.1f} ms",
      p->name(), detach_ms, ms_since(t0) - detach_ms);
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
  std::optional<ConfigSection> section = admit(path, lib, error, old);
  if (!section) return;
  std::string name = lib->name, version = lib->descriptor.version ? lib->descriptor.version : "?";
  take_disabled(path);  // a new file replaces a disabled one
  if (!section->get_bool("enabled")) {
    if (old) {
      spdlog::error(
          "plugin {}: {} is disabled by configuration, the running one stays until a "
          "SIGHUP",
          path, name);
      return;
    }
    spdlog::info("plugin {} ({}) is disabled by configuration", name, path);
    rt_.disabled.push_back(std::make_unique<PluginInstance>(std::move(*lib), std::move(*section),
                                                            rt_.dispatcher.get()));
    return;
  }
  auto inst =
      std::make_unique<PluginInstance>(std::move(*lib), std::move(*section), rt_.dispatcher.get());
  if (inst->kind() == sdk::PluginKind::Probe)
    open_beside(std::move(inst),
                Opening{Opening::Why::Appeared, path, version, "", file_gen_[file_name(path)], t0});
  else
    appeared_other(std::move(inst), old, path, version);
}

// The checks a file that appeared must pass before anything of it runs: it
// loaded, its name is free (or the one it replaces), its <name>.toml
// validates. Returns its configuration, or nothing (logged).
std::optional<ConfigSection> Host::admit(const std::string& path,
                                         const std::optional<PluginLibrary>& lib,
                                         const std::string& error, const PluginInstance* old) {
  const char* stays = old ? "; the running one stays" : "";
  if (!lib) {
    spdlog::error("plugin {}: {}; not loaded{}", path, error, stays);
    return std::nullopt;
  }
  for (const auto& p : rt_.plugins)
    if (p.get() != old && p->name() == lib->name) {
      spdlog::error("plugin {}: name '{}' is taken by {}; not loaded", path, lib->name, p->path());
      return std::nullopt;
    }
  if (old && old->name() != lib->name) {
    spdlog::error("plugin {}: now declares the name '{}', the running one is '{}'; not loaded{}",
                  path, lib->name, old->name(), stays);
    return std::nullopt;
  }
  try {
    return validate_plugin_config(lib->name, plugin_sources_, lib->options);
  } catch (const ConfigError& e) {
    spdlog::error("plugin {}: configuration error: {}; not loaded{}", path, e.what(), stays);
    return std::nullopt;
  }
}

// A sink or processor: the old one (if any) stops first, then the new one
// opens and joins the pipeline.
void Host::appeared_other(std::unique_ptr<PluginInstance> inst, PluginInstance* old,
                          const std::string& path, const std::string& version) {
  PluginInstance* p = inst.get();
  std::string name = p->name(), error;
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

}  // namespace leaf::core::host_detail
