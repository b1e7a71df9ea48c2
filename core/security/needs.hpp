// Which capabilities this host and configuration need, per plugin, and what
// leaf-host keeps after the drop (security.keep_capabilities). Each rule
// comes from what the plugin really does, found by trying on 6.18 and in the
// kernel-matrix guests (notes of issue 15):
//  - loading BPF programs and maps: CAP_BPF; tracing programs (tracepoint,
//    raw_tp, tp_btf, kprobe) also CAP_PERFMON, to load and to attach;
//  - kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK: CAP_SYS_RESOURCE
//    at start (leaf-host raises the limit to unlimited before the drop);
//  - kernels before 6.1 with kernel.unprivileged_bpf_disabled set refuse every
//    bpf() call without CAP_BPF, also on the process's own maps (counters,
//    in-kernel filters at SIGHUP): CAP_BPF while running (the kernel matrix
//    shows it: 5.10 refuses a filter update at SIGHUP without it, 6.1, 6.12
//    and 6.18 do not; kernels between 5.10 and 6.1 are untested and treated
//    like 5.10);
//  - classic tracepoints with tracefs not mounted: CAP_SYS_ADMIN to mount it;
//  - the enrich processor's cgroup paths (open_by_handle_at):
//    CAP_DAC_READ_SEARCH while running;
//  - metrics.bpf_stats (BPF_ENABLE_STATS): CAP_SYS_ADMIN at start;
//  - metrics.listen on a privileged port: CAP_NET_BIND_SERVICE at start;
//  - security.user / group: CAP_SETUID / CAP_SETGID at start, and after the
//    switch CAP_DAC_READ_SEARCH while running, to read root-only configuration
//    and secret files at SIGHUP (and tracefs for a new plugin);
//  - shrinking the bounding set (when it holds more than is kept): CAP_SETPCAP
//    at start.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "security/capabilities.hpp"

namespace leaf::core::security {

// When a capability is needed.
enum class Phase {
  Start,    // only until every plugin has loaded and attached
  Load,     // to load and attach a plugin: again at a reload or for a new plugin
  Running,  // for the whole run
};
const char* phase_name(Phase p);

struct Need {
  std::string who;  // plugin name, or "host"
  int cap;
  Phase phase;
  std::string why;
};

// What is known of the kernel.
struct KernelInfo {
  int major = 0, minor = 0;           // of uname's release
  int unprivileged_bpf_disabled = 0;  // /proc/sys/kernel/unprivileged_bpf_disabled
  bool tracefs_mounted = true;
  int unprivileged_port_start = 1024;  // /proc/sys/net/ipv4/ip_unprivileged_port_start
  bool memlock_unlimited = false;  // RLIMIT_MEMLOCK is already unlimited (LimitMEMLOCK=infinity)
  CapSet bounding;                 // the bounding set leaf-host started with
  static KernelInfo read();
  bool before(int maj, int min) const { return major < maj || (major == maj && minor < min); }
};

// What a plugin does, as far as privileges go.
struct PluginFacts {
  std::string name;
  bool bpf = false;               // loads BPF programs (a probe plugin with BPF objects)
  std::set<std::string> hooks;    // hooks its probes use: tracepoint, raw_tp, tp_btf, kprobe...
  bool resolves_cgroups = false;  // open_by_handle_at on cgroup ids (enrich)
};

// What the host itself does.
struct HostFacts {
  bool bpf_stats = false;
  int metrics_port = 0;  // 0: not served
  std::string user, group;
  // plugins_watch: a probe dropped into the plugins directory later loads
  // and attaches like one at start (issue 14, item 4).
  bool plugins_watch = false;
};

enum class KeepMode { Reload, Runtime, None };

std::vector<Need> capability_needs(const KernelInfo& k, const HostFacts& h,
                                   const std::vector<PluginFacts>& plugins, KeepMode mode);

KeepMode parse_keep_mode(const std::string& text);  // the choices are validated by the config
const char* keep_mode_name(KeepMode m);

// Everything needed at start (what the service must grant).
CapSet start_set(const std::vector<Need>& needs);
// What is kept after the drop: permitted (= bounding) and effective.
DropPlan plan_drop(const std::vector<Need>& needs, KeepMode mode, const HostFacts& h);

}  // namespace leaf::core::security

namespace leaf::core::security {

// --check: the capabilities this host and configuration need, per plugin,
// and what is kept after the drop. Text lines, or a JSON object.
std::string needs_text(const std::vector<Need>& needs, KeepMode mode, const HostFacts& h);
std::string needs_json(const std::vector<Need>& needs, KeepMode mode, const HostFacts& h);

}  // namespace leaf::core::security
