// What every Leaf probe needs from the kernel: BTF (CO-RE relocations) and
// BPF ring buffers (Linux 5.8+). Checked once at start so that a host on an
// older or stripped kernel fails with one line naming what is missing,
// instead of every plugin failing with libbpf's messages (and a service
// manager restarting it in a loop).
#pragma once

#include <string>

namespace leaf::core {

// Empty when the kernel has both; otherwise one sentence naming what it
// lacks. `btf_path` is the kernel's BTF (/sys/kernel/btf/vmlinux).
std::string missing_kernel_support(const std::string& btf_path = "/sys/kernel/btf/vmlinux");

}  // namespace leaf::core
