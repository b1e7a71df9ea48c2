// Options for opening a plugin's BPF object (skeleton open(), or
// bpf_object__open_mem) that work with the least privilege leaf-host runs
// with.
//
// CO-RE relocations of a type the kernel's vmlinux BTF lacks (a struct that
// a newer kernel has and the program only uses behind bpf_core_*_exists,
// such as sched_process_exit's group_dead or proto_accept_arg on 6.1) make
// libbpf look through the BTF of every loaded kernel module. Listing those
// (BPF_BTF_GET_NEXT_ID) needs CAP_SYS_ADMIN; without it libbpf 1.1 fails the
// whole object with EPERM ("failed to iterate BTF objects"), although the
// guarded code would simply be left out. So without CAP_SYS_ADMIN the
// object is opened with the kernel's own vmlinux BTF as its CO-RE source
// (btf_custom_path), which makes libbpf stop at vmlinux. Module BTF is then
// not searched: no Leaf probe reads module types. With CAP_SYS_ADMIN,
// libbpf's default.
//
// Plugin-side helper (header-only, on libbpf; never crosses the ABI).
#pragma once

#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace leaf::sdk {

inline constexpr const char* kKernelBtfPath = "/sys/kernel/btf/vmlinux";

// Whether this thread holds CAP_SYS_ADMIN in its effective set (capget, so
// that plugins need no libcap). Unknown counts as held: libbpf's default.
inline bool holds_cap_sys_admin() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return true;
  return (data[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32))) != 0;
}

// Open options for this moment (capabilities may have been dropped since
// the last call): valid until the next call on the same thread.
inline const bpf_object_open_opts* bpf_open_opts() {
  thread_local bpf_object_open_opts opts;
  opts = bpf_object_open_opts{};
  opts.sz = sizeof(opts);
  if (!holds_cap_sys_admin() && access(kKernelBtfPath, R_OK) == 0)
    opts.btf_custom_path = kKernelBtfPath;
  return &opts;
}

}  // namespace leaf::sdk
