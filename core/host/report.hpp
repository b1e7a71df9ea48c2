// What leaf-host prints about plugins: --list-plugins, --check, and the
// per-probe hook report used in the startup log.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "runtime/plugin_instance.hpp"

namespace leaf::core {

struct ProbeReport {
  std::string name, hook, program, detail;
  bool attached = false;
};

std::vector<ProbeReport> probe_reports(const PluginInstance& p);

void print_plugin_list(std::ostream& out, const std::vector<std::unique_ptr<PluginInstance>>& plugins);

enum class CheckFormat { Text, Json };

// For every plugin: can it open (load its BPF objects) and, for probes,
// start (attach), and through which hook each probe runs; then stops it.
// Returns 0 when every enabled plugin can run, 1 otherwise.
int run_check(CheckFormat format, std::ostream& out,
              const std::vector<std::unique_ptr<PluginInstance>>& plugins);

}  // namespace leaf::core
