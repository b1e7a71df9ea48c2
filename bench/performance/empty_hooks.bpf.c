// SPDX-License-Identifier: GPL-2.0
/* The floor of bench_performance: empty programs on the very tracepoints the
 * performance plugin uses, through the same hook kind (tp_btf). Whatever
 * they cost is the price of being attached at all, before any work. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp_btf/sched_switch") int empty_sched_switch(__u64 *ctx)
{
	return 0;
}
SEC("tp_btf/sched_wakeup") int empty_sched_wakeup(__u64 *ctx)
{
	return 0;
}
SEC("tp_btf/sched_wakeup_new") int empty_sched_wakeup_new(__u64 *ctx)
{
	return 0;
}
SEC("tp_btf/irq_handler_entry") int empty_irq_handler_entry(__u64 *ctx)
{
	return 0;
}
SEC("tp_btf/irq_handler_exit") int empty_irq_handler_exit(__u64 *ctx)
{
	return 0;
}
SEC("tp_btf/softirq_entry") int empty_softirq_entry(__u64 *ctx)
{
	return 0;
}
SEC("tp_btf/softirq_exit") int empty_softirq_exit(__u64 *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
