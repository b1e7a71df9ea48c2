/* Types shared by performance.bpf.c and the plugin's user space: the raw
 * records (context_switch, irq, softirq), the perf_stats record built in user
 * space, and the layout of the in-kernel aggregates that user space reads. */
#ifndef LEAF_PERFORMANCE_H
#define LEAF_PERFORMANCE_H

#include "leaf_event.h"

/* Indexes into the plugin's EventTypeDesc table (leaf_event_header.type). */
enum leaf_perf_event_type {
	PERF_EVENT_CONTEXT_SWITCH = 0,
	PERF_EVENT_IRQ = 1,
	PERF_EVENT_SOFTIRQ = 2,
	PERF_EVENT_STATS = 3,
};

/* Raw event types, as indexes into per-type arrays (token buckets, counts). */
#define PERF_RAW_TYPES 3

/* Log2 histogram of nanoseconds: slot i counts values in [2^i, 2^(i+1))
 * (slot 0 also holds 0); the last slot holds everything from 2^31 ns on. */
#define PERF_HIST_SLOTS 32

/* The histogram slot of v: floor(log2(v)) (0 for 0), at most the last slot
 * (31). The BPF programs run it on every context switch, and BPF has no
 * count-leading-zeros instruction: a binary search without branches,
 * (c - v) >> 63 being 1 exactly when v > c (both below 2^63). Values from
 * 2^31 on (the last slot) are taken first; below that, five halvings of the
 * width (16, 8, 4, 2, 1). Here so that a unit test checks it
 * (tests/hist_slot_test.cpp). Written for PERF_HIST_SLOTS == 32. */
static inline __attribute__((always_inline)) __u32 leaf_perf_hist_slot(__u64 v)
{
	__u64 r, s;

	if (v >> 31)
		return PERF_HIST_SLOTS - 1;
	r = ((0xffffULL - v) >> 63) << 4;
	v >>= r;
	s = ((0xffULL - v) >> 63) << 3;
	v >>= s;
	r |= s;
	s = ((0xfULL - v) >> 63) << 2;
	v >>= s;
	r |= s;
	s = ((0x3ULL - v) >> 63) << 1;
	v >>= s;
	r |= s;
	return (__u32)(r | ((0x1ULL - v) >> 63));
}

/* The kernel's softirq vectors (NR_SOFTIRQS): hi, timer, net_tx, net_rx,
 * block, irq_poll, tasklet, sched, hrtimer, rcu. */
#define PERF_SOFTIRQ_VECS 10

#define PERF_COMM_LEN	  16
#define PERF_IRQ_NAME_LEN 32

/* Counts of one kind of event with their durations (or latencies). Every
 * field only grows: user space reports differences between two reads, so
 * nothing is lost between a read and a reset. */
struct leaf_perf_hist {
	__u64 count;
	__u64 sum_ns;
	__u64 slots[PERF_HIST_SLOTS];
};

/* Per CPU (a one-entry BPF_MAP_TYPE_PERCPU_ARRAY). */
struct leaf_perf_cpu_stats {
	__u64 context_switches;
	__u64 preemptions; /* the previous task was still runnable */
	__u64 irq_count;   /* hard IRQ handler invocations */
	__u64 softirq_count;
	__u64 wakeups;			      /* sched_wakeup + sched_wakeup_new seen */
	__u64 runq_untracked;		      /* wakeups not tracked: the task table was full */
	__u64 raw_suppressed[PERF_RAW_TYPES]; /* raw events held back by the token bucket */
	struct leaf_perf_hist runq; /* run-queue latency: wakeup (or preemption) to running */
};

/* Raw records (ring buffer). */
struct leaf_perf_context_switch_event {
	struct leaf_event_header hdr;
	__u32 cpu;
	__u32 prev_pid;
	__u32 prev_tgid;
	__u32 next_pid;
	__u32 next_tgid;
	__s32 prev_prio;
	__s32 next_prio;
	__u32 prev_state; /* the previous task's state (0: runnable) */
	__u8 preempted;
	__u8 pad[7];
	char prev_comm[PERF_COMM_LEN];
	char next_comm[PERF_COMM_LEN];
};

struct leaf_perf_irq_event {
	struct leaf_event_header hdr;
	__u32 cpu;
	__u32 irq;
	__u64 duration_ns;
	__s32 ret; /* irqreturn_t: 0 none, 1 handled, 2 wake thread */
	__u32 pad;
	char irq_name[PERF_IRQ_NAME_LEN];
};

struct leaf_perf_softirq_event {
	struct leaf_event_header hdr;
	__u32 cpu;
	__u32 softirq_vec;
	__u64 duration_ns;
	__u32 softirq_name; /* the vector again, shown by name */
	__u32 pad;
};

/* The perf_stats record, built in user space and handed to IHost::emit:
 * host-wide totals in fixed fields, the per-CPU, per-IRQ and per-softirq
 * tables and the run-queue histogram as JSON in the record's tail. */
struct leaf_perf_stats_record {
	struct leaf_event_header hdr;
	__u64 interval_ns;
	__u64 context_switches;
	__u64 preemptions;
	__u64 irq_count;
	__u64 softirq_count;
	__u32 ncpus;
	__u32 truncated; /* 1 when detail was left out to fit the record */
	struct leaf_var cpus;
	struct leaf_var irqs;
	struct leaf_var softirqs;
	struct leaf_var runq_latency;
	struct leaf_var raw_suppressed;
};

/* leaf_var offsets and lengths are 16-bit: a record is at most this long. */
#define PERF_STATS_MAX_SIZE 65535

#endif
