// What leaf-host prints about plugins: --list-plugins, --check, and the
// per-probe hook report used in the startup log.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "runtime/plugin_instance.hpp"
#include "security/needs.hpp"

namespace leaf::core {

struct ProbeReport {
  std::string name, hook, program, detail;
  bool attached = false;
};

std::vector<ProbeReport> probe_reports(const PluginInstance& p);

void print_plugin_list(std::ostream& out,
                       const std::vector<std::unique_ptr<PluginInstance>>& plugins);

enum class CheckFormat { Text, Json };

// For every plugin: can it open (load its BPF objects) and, for probes,
// start (attach), and through which hook each probe runs; then stops it.
// Returns 0 when every enabled plugin can run, 1 otherwise. `capabilities`
// (when set) is given what each plugin did and returns the capability report
// (text lines, or a JSON value for the "capabilities" key).
using CapabilityReport =
    std::function<std::string(const std::vector<security::PluginFacts>&, CheckFormat)>;
int run_check(CheckFormat format, std::ostream& out,
              const std::vector<std::unique_ptr<PluginInstance>>& plugins,
              const CapabilityReport& capabilities = {});

// What a plugin does that needs privileges: `bpf` says whether its open()
// loaded BPF programs; hooks come from its probe reports.
security::PluginFacts plugin_facts(const PluginInstance& p, bool bpf,
                                   const std::vector<ProbeReport>& reports);

}  // namespace leaf::core
