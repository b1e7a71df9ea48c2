// What this kernel and this process offer BPF probes, for --check's "what is
// missing" diagnosis: kernel version, BTF, privileges, tracefs, kprobes.
#pragma once

#include <string>
#include <vector>

namespace leaf::core::metrics {

struct KernelFacts {
  std::string kernel;   // uname release, e.g. "6.18.0-1-cloud-amd64"
  std::string machine;  // uname machine
  bool btf = false;     // /sys/kernel/btf/vmlinux (tp_btf, fentry, CO-RE)
  bool root = false;    // effective uid 0
  bool cap_bpf = false, cap_perfmon = false, cap_sys_admin = false;  // effective capabilities
  bool tracefs = false;                // mounted: classic tracepoints can attach
  std::string tracefs_path;            // where
  bool kprobes = false;                // the tracefs kprobe_events interface exists
  int unprivileged_bpf_disabled = -1;  // kernel.unprivileged_bpf_disabled, -1 unknown

  // Can this process load and attach tracing BPF programs at all?
  bool can_load_bpf() const { return cap_sys_admin || (cap_bpf && cap_perfmon); }
};

KernelFacts read_kernel_facts();

// What a probe that failed with `hook` ("none", "tracepoint"...) and
// `detail` most likely misses here, as short phrases ("BTF (/sys/kernel/btf/vmlinux)",
// "CAP_BPF and CAP_PERFMON (or root)", "tracefs mounted"...). Empty when nothing is known to miss.
std::vector<std::string> missing_for(const KernelFacts& k, const std::string& hook,
                                     const std::string& detail);

}  // namespace leaf::core::metrics
