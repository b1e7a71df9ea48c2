// Starting, running and stopping: probes started, metrics served, the
// dispatcher loop, the periodic loss report, shutdown.
#include "host/host_impl.hpp"

namespace leaf::core::host_detail {

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

}  // namespace leaf::core::host_detail
