// SPDX-License-Identifier: GPL-2.0
/* Test probe: one record per close(fd) with fd <= BAD_DECODER_FD_BASE made by
 * the process `target_tgid` (such a close fails with EBADF and touches
 * nothing). The plugin's decoder refuses the records of odd offsets. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "leaf.bpf.h"
#include "bad_decoder.h"

LEAF_RINGBUF(events);
LEAF_COUNTERS(counters);

const volatile __u32 target_tgid = 0;

SEC("tracepoint/syscalls/sys_enter_close")
int close_call__tracepoint(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	int fd = (int)ctx->args[0];
	struct bad_decoder_event *e;

	if (tgid != target_tgid || fd > BAD_DECODER_FD_BASE)
		return 0;
	e = leaf_reserve(&events, &counters, sizeof(*e), BAD_DECODER_EVENT_CLOSE);
	if (!e)
		return 0;
	e->fd = fd;
	e->tgid = tgid;
	leaf_submit(&counters, e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
