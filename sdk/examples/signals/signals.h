/* The record shared by signals.bpf.c and signals.cpp. */
#ifndef LEAF_EXAMPLE_SIGNALS_H
#define LEAF_EXAMPLE_SIGNALS_H

#include "leaf_event.h"

enum signals_event_type { SIGNALS_EVENT_GENERATE = 0 };

struct signal_event {
	struct leaf_event_header hdr;
	__u32 pid;  /* sender thread */
	__u32 tgid; /* sender process */
	__u32 uid;
	__u32 target_pid;
	__u32 target_tgid;
	__s32 signal;
	__s32 result; /* TRACE_SIGNAL_DELIVERED (0), _IGNORED (1), ... */
	__u32 pad;
	char comm[16];
	char target_comm[16];
};

#endif
