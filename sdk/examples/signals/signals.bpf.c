// SPDX-License-Identifier: GPL-2.0
/* Example Leaf probe: one event per signal generated, from the
 * signal:signal_generate tracepoint (tp_btf, falling back to raw_tp). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "leaf.bpf.h"
#include "signals.h"

LEAF_RINGBUF(events);
LEAF_COUNTERS(counters);

/* Load-time configuration: only this signal (0: all). */
const volatile __s32 only_signal = 0;

/* TP_PROTO(int sig, struct kernel_siginfo *info, struct task_struct *task,
 *          int group, int result) */
static __always_inline int on_signal_generate(__u64 *ctx)
{
	int sig = (int)ctx[0];
	struct task_struct *task = (struct task_struct *)ctx[2];
	struct signal_event *e;
	__u64 id;

	if (only_signal && sig != only_signal)
		return 0;
	e = leaf_reserve(&events, &counters, sizeof(*e), SIGNALS_EVENT_GENERATE);
	if (!e)
		return 0;
	id = bpf_get_current_pid_tgid();
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->target_pid = BPF_CORE_READ(task, pid);
	e->target_tgid = BPF_CORE_READ(task, tgid);
	e->signal = sig;
	e->result = (int)ctx[4];
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_STR_INTO(&e->target_comm, task, comm);
	leaf_submit(&counters, e);
	return 0;
}

LEAF_TP_BTF_RAW_TP(signal_generate, signal_generate, on_signal_generate)

char LICENSE[] SEC("license") = "GPL";
