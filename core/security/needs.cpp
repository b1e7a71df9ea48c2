#include "security/needs.hpp"

#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <cstdio>
#include <fstream>

namespace leaf::core::security {

namespace {
int read_int(const char* path, int fallback) {
  std::ifstream in(path);
  int v = fallback;
  if (!(in >> v)) return fallback;
  return v;
}

bool is_tracing_hook(const std::string& h) {
  return h == "tracepoint" || h == "raw_tp" || h == "tp_btf" || h == "kprobe" || h == "kretprobe" ||
         h == "fentry" || h == "fexit" || h == "uprobe";
}
}  // namespace

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Start:
      return "at start";
    case Phase::Load:
      return "to load plugins (start, reload)";
    case Phase::Running:
      return "while running";
  }
  return "?";
}

KernelInfo KernelInfo::read() {
  KernelInfo k;
  utsname u{};
  if (uname(&u) == 0) std::sscanf(u.release, "%d.%d", &k.major, &k.minor);
  k.unprivileged_bpf_disabled = read_int("/proc/sys/kernel/unprivileged_bpf_disabled", 0);
  k.unprivileged_port_start = read_int("/proc/sys/net/ipv4/ip_unprivileged_port_start", 1024);
  k.tracefs_mounted = std::ifstream("/sys/kernel/tracing/events/enable").good() ||
                      std::ifstream("/sys/kernel/debug/tracing/events/enable").good();
  rlimit r{};
  k.memlock_unlimited = getrlimit(RLIMIT_MEMLOCK, &r) == 0 && r.rlim_cur == RLIM_INFINITY;
  for (int c = 0; c < static_cast<int>(cap_max_bits()); ++c)
    if (cap_get_bound(static_cast<cap_value_t>(c)) == 1) k.bounding.insert(c);
  return k;
}

std::vector<Need> capability_needs(const KernelInfo& k, const HostFacts& h,
                                   const std::vector<PluginFacts>& plugins, KeepMode mode) {
  std::vector<Need> out;
  bool any_bpf = false;
  for (const auto& p : plugins) {
    if (p.bpf) {
      any_bpf = true;
      out.push_back({p.name, CAP_BPF, Phase::Load, "load its BPF programs and maps"});
      bool tracing = false;
      std::string hooks;
      for (const auto& hk : p.hooks)
        if (is_tracing_hook(hk)) tracing = true, hooks += (hooks.empty() ? "" : ", ") + hk;
      if (tracing)
        out.push_back(
            {p.name, CAP_PERFMON, Phase::Load, "load and attach tracing programs (" + hooks + ")"});
      if (k.before(6, 1) && k.unprivileged_bpf_disabled != 0)
        out.push_back(
            {p.name, CAP_BPF, Phase::Running,
             "kernel before 6.1 with kernel.unprivileged_bpf_disabled=" +
                 std::to_string(k.unprivileged_bpf_disabled) +
                 ": every bpf() call, also on its own maps (counters, filters at SIGHUP)"});
      if (k.before(5, 11) && !k.memlock_unlimited)
        out.push_back({p.name, CAP_SYS_RESOURCE, Phase::Start,
                       "kernel before 5.11 charges BPF maps to RLIMIT_MEMLOCK (raised to unlimited "
                       "before the drop)"});
      if (!k.tracefs_mounted && (p.hooks.count("tracepoint") || p.hooks.count("kprobe")))
        out.push_back({p.name, CAP_SYS_ADMIN, Phase::Start, "mount tracefs (not mounted)"});
    }
    if (p.resolves_cgroups)
      out.push_back({p.name, CAP_DAC_READ_SEARCH, Phase::Running,
                     "cgroup id -> path with open_by_handle_at"});
  }
  if (h.plugins_watch) {
    const char* why = "plugins_watch: a probe dropped into the plugins directory";
    out.push_back({"host", CAP_BPF, Phase::Load, std::string(why) + " loads its BPF programs"});
    out.push_back(
        {"host", CAP_PERFMON, Phase::Load, std::string(why) + " attaches tracing programs"});
    if (k.before(6, 1) && k.unprivileged_bpf_disabled != 0)
      out.push_back({"host", CAP_BPF, Phase::Running,
                     std::string(why) +
                         ": kernel before 6.1 with kernel.unprivileged_bpf_disabled=" +
                         std::to_string(k.unprivileged_bpf_disabled) + ", every bpf() call"});
    if (k.before(5, 11) && !k.memlock_unlimited)
      out.push_back({"host", CAP_SYS_RESOURCE, Phase::Start,
                     std::string(why) + ": kernel before 5.11 charges BPF maps to RLIMIT_MEMLOCK "
                                        "(raised to unlimited before the drop)"});
  }
  if (h.bpf_stats && any_bpf)
    out.push_back({"host", CAP_SYS_ADMIN, Phase::Start, "metrics.bpf_stats: BPF_ENABLE_STATS"});
  if (h.metrics_port > 0 && h.metrics_port < k.unprivileged_port_start)
    out.push_back({"host", CAP_NET_BIND_SERVICE, Phase::Start,
                   "metrics.listen on port " + std::to_string(h.metrics_port)});
  if (!h.user.empty())
    out.push_back({"host", CAP_SETUID, Phase::Start, "security.user: switch user"});
  if (!h.user.empty() || !h.group.empty())
    out.push_back({"host", CAP_SETGID, Phase::Start, "security.user/group: switch group"});
  if (!h.user.empty())
    out.push_back({"host", CAP_DAC_READ_SEARCH, Phase::Running,
                   "as security.user: read root-only configuration and secret files at SIGHUP, "
                   "tracefs for a new plugin"});
  // Shrinking the bounding set needs CAP_SETPCAP, when it holds more than is kept.
  CapSet extra;
  for (int c : k.bounding)
    if (!plan_drop(out, mode, h).permitted.count(c)) extra.insert(c);
  if (!extra.empty())
    out.push_back({"host", CAP_SETPCAP, Phase::Start,
                   "drop from the bounding set what is not kept (" +
                       std::string(extra.size() > 4 ? std::to_string(extra.size()) + " capabilities"
                                                    : cap_list(extra)) +
                       ")"});
  return out;
}

KeepMode parse_keep_mode(const std::string& text) {
  if (text == "none") return KeepMode::None;
  if (text == "runtime") return KeepMode::Runtime;
  return KeepMode::Reload;
}

const char* keep_mode_name(KeepMode m) {
  switch (m) {
    case KeepMode::Reload:
      return "reload";
    case KeepMode::Runtime:
      return "runtime";
    case KeepMode::None:
      return "none";
  }
  return "?";
}

CapSet start_set(const std::vector<Need>& needs) {
  CapSet s;
  for (const auto& n : needs) s.insert(n.cap);
  return s;
}

DropPlan plan_drop(const std::vector<Need>& needs, KeepMode mode, const HostFacts& h) {
  DropPlan plan;
  plan.user = h.user;
  plan.group = h.group;
  if (mode == KeepMode::None) return plan;
  for (const auto& n : needs) {
    if (n.phase == Phase::Running) plan.permitted.insert(n.cap), plan.effective.insert(n.cap);
    if (n.phase == Phase::Load && mode == KeepMode::Reload) plan.permitted.insert(n.cap);
  }
  return plan;
}

}  // namespace leaf::core::security

namespace leaf::core::security {

std::string needs_text(const std::vector<Need>& needs, KeepMode mode, const HostFacts& h) {
  std::string out = "capabilities (security.keep_capabilities = \"" +
                    std::string(keep_mode_name(mode)) + "\"):\n";
  for (const auto& n : needs)
    out += "  " + n.who + ": " + cap_name(n.cap) + " " + phase_name(n.phase) + ": " + n.why + "\n";
  DropPlan plan = plan_drop(needs, mode, h);
  out += "  needed at start: " + cap_list(start_set(needs)) + "\n";
  out += "  kept after start: permitted and bounding " + cap_list(plan.permitted) + "; effective " +
         cap_list(plan.effective) + "\n";
  return out;
}

std::string needs_json(const std::vector<Need>& needs, KeepMode mode, const HostFacts& h) {
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  };
  auto array = [&](const CapSet& s) {
    std::string a = "[";
    for (int c : s) a += (a.size() > 1 ? "," : "") + quote(cap_name(c));
    return a + "]";
  };
  DropPlan plan = plan_drop(needs, mode, h);
  std::string j = "{\"keep_capabilities\":" + quote(keep_mode_name(mode)) + ",\"needs\":[";
  for (size_t i = 0; i < needs.size(); ++i) {
    const auto& n = needs[i];
    const char* phase = n.phase == Phase::Start  ? "start"
                        : n.phase == Phase::Load ? "load"
                                                 : "running";
    j += (i ? "," : "") + std::string("{\"plugin\":") + quote(n.who) +
         ",\"capability\":" + quote(cap_name(n.cap)) + ",\"when\":\"" + phase +
         "\",\"why\":" + quote(n.why) + "}";
  }
  j += "],\"start\":" + array(start_set(needs)) + ",\"permitted\":" + array(plan.permitted) +
       ",\"effective\":" + array(plan.effective) + "}";
  return j;
}

}  // namespace leaf::core::security
