// SPDX-License-Identifier: GPL-2.0
/* Benchmark-only probe: one event per getppid() system call made by a thread
 * named "e2e-tick" (bench/e2e/loadgen.cpp's tick generator), from the
 * raw_syscalls:sys_enter tracepoint. A tight loop of getppid() calls then
 * drives the pipeline at any rate, well past what it can carry. */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "leaf.bpf.h"
#include "tick.h"

#define E2E_NR_GETPPID 110 /* x86_64 */

LEAF_RINGBUF(events);
LEAF_COUNTERS(counters);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} seqs SEC(".maps");

/* TP_PROTO(struct pt_regs *regs, long id) */
static __always_inline int on_sys_enter(__u64 *ctx)
{
	struct e2e_tick_event *e;
	char comm[16];
	__u32 zero = 0;
	__u64 *seq, id;

	if ((long)ctx[1] != E2E_NR_GETPPID)
		return 0;
	bpf_get_current_comm(comm, sizeof(comm));
	if (comm[0] != 'e' || comm[1] != '2' || comm[2] != 'e' || comm[3] != '-' ||
	    comm[4] != 't' || comm[5] != 'i' || comm[6] != 'c' || comm[7] != 'k')
		return 0;
	seq = bpf_map_lookup_elem(&seqs, &zero);
	if (!seq)
		return 0;
	e = leaf_reserve(&events, &counters, sizeof(*e), E2E_TICK_EVENT);
	if (!e)
		return 0;
	id = bpf_get_current_pid_tgid();
	e->seq = (*seq)++;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->src_ip = bpf_htonl(0x7f000001 + (__u32)(e->seq % 250));
	e->dst_ip = bpf_htonl(0x7f000001);
	e->src_port = 40000 + (__u16)(e->seq % 20000);
	e->dst_port = 9092;
	e->cpu = bpf_get_smp_processor_id();
	__builtin_memcpy(e->comm, comm, sizeof(comm));
	leaf_submit(&counters, e);
	return 0;
}

LEAF_TP_BTF_RAW_TP(e2e_tick, sys_enter, on_sys_enter)

char LICENSE[] SEC("license") = "GPL";
