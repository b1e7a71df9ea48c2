#include "metrics/health.hpp"

#include "pipeline/pipeline.hpp"
#include "runtime/plugin_instance.hpp"

namespace leaf::core::metrics {

namespace {
uint32_t attached_probes(sdk::IProbePlugin* probe) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < probe->probe_count(); ++i) {
    sdk::ProbeInfo info{};
    info.struct_size = sizeof(info);
    if (probe->probe_info(i, &info) == sdk::Status::Ok && info.attached) ++n;
  }
  return n;
}
}  // namespace

Health check_health(const Pipeline& pipeline,
                    const std::vector<std::unique_ptr<PluginInstance>>& plugins) {
  Health h;
  auto line = [&](bool good, const std::string& what) {
    if (!good) h.ok = false;
    h.text += what + "\n";
  };
  for (const auto& p : plugins) {
    std::string name = std::string(kind_name(p->kind())) + " " + p->name();
    if (auto* probe = p->probe()) {
      // A plugin without probes (timers only, like the test ticker) runs as it is.
      uint32_t total = probe->probe_count(), attached = attached_probes(probe);
      bool good = total == 0 || attached > 0;
      line(good, name + ": " + (good ? "running" : "no probe attached") + " (" +
                     std::to_string(attached) + " of " + std::to_string(total) +
                     " probes attached)");
    } else if (p->sink() || p->processor()) {
      line(true, name + ": running");  // a sink's delivery is reported below
    } else {
      line(false, name + ": not running (failed to open or start)");
    }
  }
  for (const auto& s : pipeline.sinks()) {
    bool good = s->sink->healthy() != 0;
    line(good, "sink " + s->name + ": " + (good ? "delivering" : "NOT delivering"));
  }
  h.text = std::string(h.ok ? "ok\n" : "unhealthy\n") + h.text;
  return h;
}

}  // namespace leaf::core::metrics
