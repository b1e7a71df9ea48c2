// SPDX-License-Identifier: GPL-2.0
/* dispatcher_test's writer, built with bpf/leaf.bpf.h like every plugin: one
 * Leaf record {timestamp, type 0, value 42} per run (a socket filter run by
 * BPF_PROG_TEST_RUN), submitted with leaf_wakeup_flags() as leaf_submit()
 * does, counting the wakeups it forced. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "leaf.bpf.h"

LEAF_RINGBUF(events);
LEAF_COUNTERS(counters);

__u64 forced = 0;

struct writer_record {
	struct leaf_event_header hdr;
	__u64 value;
};

SEC("socket")
int writer(struct __sk_buff *skb)
{
	struct writer_record *r = leaf_reserve(&events, &counters, sizeof(*r), 0);
	__u64 flags;

	if (!r)
		return 0;
	r->value = 42;
	flags = leaf_wakeup_flags(r->hdr.timestamp_ns);
	if (flags == BPF_RB_FORCE_WAKEUP)
		__sync_fetch_and_add(&forced, 1);
	bpf_ringbuf_submit(r, flags);
	leaf_count(&counters, 0, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
