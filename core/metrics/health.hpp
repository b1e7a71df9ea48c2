// /healthz: healthy when every enabled plugin runs (its object is alive:
// it opened and, for probes, started) with at least one probe attached, and
// every sink says it delivers (ISink::healthy).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace leaf::core {
class Pipeline;
class PluginInstance;
}  // namespace leaf::core

namespace leaf::core::metrics {

struct Health {
  bool ok = true;
  std::string text;  // one line per plugin and sink: "plugin process: running"
};

Health check_health(const Pipeline& pipeline,
                    const std::vector<std::unique_ptr<PluginInstance>>& plugins);

}  // namespace leaf::core::metrics
