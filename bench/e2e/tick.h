/* The record of the benchmark-only probe e2e_tick, shared by tick.bpf.c and
 * tick_probe.cpp. Shaped like a tcp_connect event (a process, two
 * addresses, two ports) so that the host encodes, enriches and keys it like
 * a real network event. */
#ifndef LEAF_E2E_TICK_H
#define LEAF_E2E_TICK_H

#include "leaf_event.h"

enum e2e_tick_event_type { E2E_TICK_EVENT = 0 };

struct e2e_tick_event {
	struct leaf_event_header hdr;
	__u64 seq; /* per-CPU sequence number */
	__u64 cgroup_id;
	__u32 pid;
	__u32 tgid;
	__u32 src_ip; /* 127.0.0.(1 + seq % 250), network order: spreads the Kafka keys */
	__u32 dst_ip; /* 127.0.0.1 */
	__u16 src_port;
	__u16 dst_port;
	__u32 cpu;
	char comm[16];
};

#endif
