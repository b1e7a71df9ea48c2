/* Types shared by every BPF program and user space: the record header and
 * the per-event-type counters. Plain C, usable from .bpf.c (with vmlinux.h)
 * and from C++ (with <linux/types.h>). Part of the Leaf plugin ABI: the
 * layout never changes within ABI major 1. */
#ifndef LEAF_EVENT_H
#define LEAF_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Every ring-buffer record starts with this header. */
struct leaf_event_header {
	__u64 timestamp_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u16 type;	    /* index into the plugin's EventTypeDesc table */
	__u16 flags;	    /* LEAF_EVENT_F_* */
	__u32 reserved;
};

/* A variable-length field: bytes [offset, offset + length) of the record,
 * within the record's tail after the fixed part. */
struct leaf_var {
	__u16 offset;
	__u16 length;
};

/* Per event type, per CPU; summed by the host. */
struct leaf_type_counters {
	__u64 emitted; /* records submitted to the ring buffer */
	__u64 lost;    /* bpf_ringbuf_reserve/output failed: ring buffer full */
};

/* Most event types one ring buffer's counters map can describe. */
#define LEAF_MAX_EVENT_TYPES 32

#endif /* LEAF_EVENT_H */
