#include "metrics/kernel_facts.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>

namespace leaf::core::metrics {

namespace {

bool exists(const char* path) { return access(path, F_OK) == 0; }

uint64_t effective_caps() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}

bool has(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

}  // namespace

KernelFacts read_kernel_facts() {
  KernelFacts k;
  utsname u{};
  if (uname(&u) == 0) {
    k.kernel = u.release;
    k.machine = u.machine;
  }
  k.btf = exists("/sys/kernel/btf/vmlinux");
  k.root = geteuid() == 0;
  uint64_t caps = effective_caps();
  k.cap_sys_admin = caps & (uint64_t{1} << 21);
  k.cap_perfmon = caps & (uint64_t{1} << 38);
  k.cap_bpf = caps & (uint64_t{1} << 39);
  std::ifstream mounts("/proc/mounts");
  std::string dev, dir, type, rest;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest)) {
    if (type == "tracefs" && (k.tracefs_path.empty() || dir == "/sys/kernel/tracing")) {
      k.tracefs = true;
      k.tracefs_path = dir;
    }
  }
  if (k.tracefs) k.kprobes = exists((k.tracefs_path + "/kprobe_events").c_str());
  std::ifstream unpriv("/proc/sys/kernel/unprivileged_bpf_disabled");
  if (!(unpriv >> k.unprivileged_bpf_disabled)) k.unprivileged_bpf_disabled = -1;
  return k;
}

std::vector<std::string> missing_for(const KernelFacts& k, const std::string& hook,
                                     const std::string& detail) {
  // A hook kind "tried" when the detail names it with a reason other than the configuration.
  auto tried = [&](const std::string& kind) {
    size_t at = detail.find(kind + ": ");
    return at != std::string::npos &&
           detail.compare(at + kind.size() + 2, 24, "skipped by configuration") != 0;
  };
  auto named = [&](const std::string& kind) {
    return detail.find(kind + ": ") != std::string::npos;
  };
  std::vector<std::string> out;
  if (!k.can_load_bpf()) out.push_back("CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN / root)");
  if (!k.btf && (tried("tp_btf") || tried("fentry") || hook == "tp_btf" || hook == "fentry"))
    out.push_back("kernel BTF (/sys/kernel/btf/vmlinux): tp_btf and fentry need it");
  if (!k.tracefs && (tried("tracepoint") || hook == "tracepoint"))
    out.push_back(
        "tracefs mounted (mount -t tracefs nodev /sys/kernel/tracing): classic "
        "tracepoints need it");
  if (!k.kprobes && tried("kprobe")) out.push_back("kprobes (CONFIG_KPROBES)");
  if (tried("fentry") && k.btf && k.can_load_bpf())
    out.push_back("fentry/fexit support (the kernel refuses them: no ftrace direct calls?)");
  bool any_tried = false, any_named = false;
  for (const char* kind : {"fentry", "kprobe", "tp_btf", "raw_tp", "tracepoint"}) {
    any_tried = any_tried || tried(kind);
    any_named = any_named || named(kind);
  }
  if (any_named && !any_tried)
    out.push_back("an allowed hook: every hook kind was skipped by configuration ([hooks] skip)");
  return out;
}

}  // namespace leaf::core::metrics
