// SPDX-License-Identifier: GPL-2.0
/* Leaf performance probe: scheduler and interrupt activity, aggregated in the
 * kernel per CPU.
 *
 *  - sched_switch: context switches, involuntary preemptions, the end of the
 *    run-queue wait of the next task;
 *  - sched_wakeup / sched_wakeup_new: the start of a run-queue wait;
 *  - irq_handler_entry/exit, softirq_entry/exit: counts and handler
 *    durations per IRQ number and per softirq vector.
 *
 * Everything lands in per-CPU maps whose counters only grow; user space
 * reads them on a timer and reports differences. Nothing crosses to user
 * space per event unless raw mode is on for that event type, and then only
 * what a per-CPU token bucket lets through (the rest is counted).
 *
 * Every handler exists as tp_btf (preferred) and raw_tp (fallback). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "leaf.bpf.h"
#include "performance.h"

LEAF_RINGBUF(events);
LEAF_COUNTERS(counters);

/* Load-time configuration (set by user space before load). */
const volatile __u8 agg_runq = 1;    /* track run-queue latency */
const volatile __u8 agg_wakeups = 0; /* count sched_wakeup + sched_wakeup_new per CPU */
const volatile __u8 raw_enabled[PERF_RAW_TYPES] = {};
const volatile __u64 raw_rate = 1000; /* events per second per CPU, per type */
const volatile __u64 raw_burst = 1000;
/* The sched_switch tracepoint passes prev_state (kernels >= 5.18); set by
 * user space. The default must be the value valid on every kernel: hook
 * selection test-loads the object with its defaults, and a 4th argument
 * read fails on older kernels (tp_btf: refused; raw_tp: attach EINVAL). */
const volatile __u8 switch_has_prev_state = 0;
/* Run-queue waits from the kernel's own accounting (CONFIG_SCHED_INFO): a
 * task's sched_info.last_queued is the rq clock when it was queued, and is
 * cleared when it gets the CPU, which happens just after the sched_switch
 * tracepoint (context_switch -> sched_info_switch); the rq clock was updated
 * just before it (__schedule). So next's wait is rq->clock - last_queued,
 * the step the kernel adds to its run_delay (schedstat), read at the switch
 * alone: no wakeup-time table, no clock read at wakeups and switches. The rq
 * is reached through next->se.cfs_rq->rq (CONFIG_FAIR_GROUP_SCHED: set for
 * a task of any class on its CPU), not the per-CPU variable runqueues, whose
 * address the verifier finds only with CONFIG_KALLSYMS_ALL. Set by user
 * space when the kernel's BTF has all of it; 0 (the default, valid
 * everywhere): the runq_start table below. */
const volatile __u8 runq_from_kernel = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct leaf_perf_cpu_stats);
} cpu_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PERF_SOFTIRQ_VECS);
	__type(key, __u32);
	__type(value, struct leaf_perf_hist);
} softirq_stats SEC(".maps");

/* Per IRQ number; entries are never removed (one per IRQ line seen). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct leaf_perf_hist);
} irq_stats SEC(".maps");

/* The handler name of each IRQ number (the first action seen). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, char[PERF_IRQ_NAME_LEN]);
} irq_names SEC(".maps");

/* When each thread became runnable, in a direct-mapped table indexed by
 * thread id modulo its size: an array lookup is inlined by the verifier,
 * far cheaper on this hot path (every wakeup and switch) than hashing. Two
 * threads waiting at once in the same slot: the older wait is dropped and
 * counted in runq_untracked. */
#define RUNQ_SLOTS 65536

struct runq_slot {
	__u32 pid;
	__u32 pad;
	__u64 since_ns; /* 0: not waiting */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RUNQ_SLOTS);
	__type(key, __u32);
	__type(value, struct runq_slot);
} runq_start SEC(".maps");

struct leaf_perf_cpu_scratch {
	__u64 irq_start_ns;
	__u64 softirq_start_ns;
	__u32 irq;
	__u32 softirq_vec;
	struct leaf_token_bucket bucket[PERF_RAW_TYPES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct leaf_perf_cpu_scratch);
} scratch SEC(".maps");

static __always_inline struct leaf_perf_cpu_stats *this_cpu_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_stats, &zero);
}

static __always_inline struct leaf_perf_cpu_scratch *this_cpu_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/* Per-CPU values: plain increments, no atomics needed. The mask only tells
 * the verifier what leaf_perf_hist_slot already guarantees: verifiers before
 * 6.3 or so lose a register's bounds at an OR of two unknown values (the
 * slot's last steps), and the compiler drops a mask it can prove redundant
 * unless barrier_var hides the value from it. */
static __always_inline void hist_add(struct leaf_perf_hist *h, __u64 ns)
{
	__u32 slot = leaf_perf_hist_slot(ns);

	barrier_var(slot);
	h->count++;
	h->sum_ns += ns;
	h->slots[slot & (PERF_HIST_SLOTS - 1)]++;
}

/* Raw mode gate: 1 when an event of this raw type may be written. Events
 * held back by the bucket are counted in cpu_stats.raw_suppressed. */
static __always_inline int raw_allowed(__u32 type, __u64 now, struct leaf_perf_cpu_stats *st)
{
	struct leaf_perf_cpu_scratch *s;

	if (type >= PERF_RAW_TYPES || !raw_enabled[type])
		return 0;
	s = this_cpu_scratch();
	if (!s)
		return 0;
	if (leaf_bucket_take(&s->bucket[type], now, raw_rate, raw_burst))
		return 1;
	if (st)
		st->raw_suppressed[type]++;
	return 0;
}

/* ---- scheduler ---------------------------------------------------------- */

static __always_inline void runq_mark(__u32 pid, __u64 now, struct leaf_perf_cpu_stats *st)
{
	__u32 idx = pid & (RUNQ_SLOTS - 1);
	struct runq_slot *slot;

	if (pid == 0)
		return; /* idle tasks */
	slot = bpf_map_lookup_elem(&runq_start, &idx);
	if (!slot)
		return;
	if (slot->since_ns && slot->pid != pid && st)
		st->runq_untracked++;
	slot->pid = pid;
	slot->since_ns = now;
}

/* The run-queue wait of `pid` ends now. The clock is read only when the
 * task was waiting (*now == 0: not read yet): most switches are to tasks
 * that were not, such as the idle task. */
static __always_inline void runq_done(__u32 pid, __u64 *now, struct leaf_perf_cpu_stats *st)
{
	__u32 idx = pid & (RUNQ_SLOTS - 1);
	struct runq_slot *slot;

	if (pid == 0)
		return;
	slot = bpf_map_lookup_elem(&runq_start, &idx);
	if (!slot || slot->pid != pid || !slot->since_ns)
		return;
	if (!*now)
		*now = bpf_ktime_get_ns();
	if (*now > slot->since_ns)
		hist_add(&st->runq, *now - slot->since_ns);
	slot->since_ns = 0;
}

/* The run-queue wait of `next` ends now (runq_from_kernel). */
static __always_inline void runq_arrive(struct task_struct *next, const int btf,
					struct leaf_perf_cpu_stats *st)
{
	__u64 queued, clock;

	if (!bpf_core_field_exists(next->sched_info) || !bpf_core_field_exists(next->se.cfs_rq))
		return;
	queued = btf ? next->sched_info.last_queued : BPF_CORE_READ(next, sched_info.last_queued);
	if (!queued)
		return; /* not queued through the scheduler's accounting (the idle task) */
	clock = btf ? next->se.cfs_rq->rq->clock : BPF_CORE_READ(next, se.cfs_rq, rq, clock);
	if (clock >= queued) /* as sched_info_arrive counts it */
		hist_add(&st->runq, clock - queued);
}

/* A task's thread id. Under tp_btf the arguments are typed pointers that
 * can be read directly (one CO-RE relocated load); raw_tp needs a probe read.
 * `btf` is a constant in every caller, so the other branch compiles away. */
#define TASK_PID(btf, t) ((btf) ? (t)->pid : BPF_CORE_READ(t, pid))

/* TP_PROTO(struct task_struct *p) */
static __always_inline int on_wakeup(__u64 *ctx, const int btf)
{
	struct task_struct *p = (struct task_struct *)ctx[0];
	struct leaf_perf_cpu_stats *st = this_cpu_stats();

	if (agg_wakeups && st)
		st->wakeups++;
	if (agg_runq && !runq_from_kernel)
		runq_mark(TASK_PID(btf, p), bpf_ktime_get_ns(), st);
	return 0;
}

/* The state of a task (its __state; `state` before 5.14). */
static __always_inline unsigned int task_state(struct task_struct *t)
{
	struct task_struct___pre514 {
		long state;
	} *old = (void *)t;

	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return (unsigned int)BPF_CORE_READ(old, state);
}

/* The tasks are read from the arguments again here: kept from on_switch's
 * start, they lived on the stack on every switch (the calls before this
 * leave too few registers), for a path that raw mode alone takes. */
static __always_inline void emit_switch(__u64 *ctx, unsigned int prev_state, int preempted)
{
	struct task_struct *prev = (struct task_struct *)ctx[1];
	struct task_struct *next = (struct task_struct *)ctx[2];
	struct leaf_perf_context_switch_event *e;

	e = leaf_reserve(&events, &counters, sizeof(*e), PERF_EVENT_CONTEXT_SWITCH);
	if (!e)
		return;
	e->cpu = bpf_get_smp_processor_id();
	e->prev_pid = BPF_CORE_READ(prev, pid);
	e->prev_tgid = BPF_CORE_READ(prev, tgid);
	e->next_pid = BPF_CORE_READ(next, pid);
	e->next_tgid = BPF_CORE_READ(next, tgid);
	e->prev_prio = BPF_CORE_READ(prev, prio);
	e->next_prio = BPF_CORE_READ(next, prio);
	e->prev_state = prev_state;
	e->preempted = preempted;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	BPF_CORE_READ_STR_INTO(&e->prev_comm, prev, comm);
	BPF_CORE_READ_STR_INTO(&e->next_comm, next, comm);
	leaf_submit(&counters, e);
}

/* TP_PROTO(bool preempt, struct task_struct *prev, struct task_struct *next,
 *          unsigned int prev_state) */
static __always_inline int on_switch(__u64 *ctx, const int btf)
{
	struct leaf_perf_cpu_stats *st = this_cpu_stats();
	struct task_struct *prev, *next;
	unsigned int prev_state;
	int preempt, preempted;
	__u64 now;

	if (!st)
		return 0;
	/* The arguments are read after the lookup (a call to the compiler,
	 * inlined by the verifier): not kept on the stack across it. */
	preempt = (int)(__u8)ctx[0];
	prev = (struct task_struct *)ctx[1];
	next = (struct task_struct *)ctx[2];
	prev_state = switch_has_prev_state ? (unsigned int)ctx[3] : task_state(prev);
	/* The kernel counts a switch as voluntary (nvcsw) only when the task
	 * was not preempted and had left TASK_RUNNING. */
	preempted = preempt || prev_state == 0;
	st->context_switches++;
	if (preempted)
		st->preemptions++;

	if (agg_runq && runq_from_kernel) {
		runq_arrive(next, btf, st);
	} else if (agg_runq) {
		now = 0;
		if (preempted) {
			now = bpf_ktime_get_ns();
			runq_mark(TASK_PID(btf, prev), now, st);
		}
		runq_done(TASK_PID(btf, next), &now, st);
	}
	if (raw_enabled[0] && raw_allowed(0, bpf_ktime_get_ns(), st))
		emit_switch(ctx, prev_state, preempted);
	return 0;
}

/* As LEAF_TP_BTF_RAW_TP, telling the handler which hook it runs under. */
#define TP_BTF_RAW_TP_TYPED(probe, tracepoint, handler) \
	SEC("tp_btf/" #tracepoint)                      \
	int probe##__tp_btf(__u64 *ctx)                 \
	{                                               \
		return handler(ctx, 1);                 \
	}                                               \
	SEC("raw_tp/" #tracepoint)                      \
	int probe##__raw_tp(__u64 *ctx)                 \
	{                                               \
		return handler(ctx, 0);                 \
	}

TP_BTF_RAW_TP_TYPED(sched_switch, sched_switch, on_switch)
TP_BTF_RAW_TP_TYPED(sched_wakeup, sched_wakeup, on_wakeup)
TP_BTF_RAW_TP_TYPED(sched_wakeup_new, sched_wakeup_new, on_wakeup)

/* ---- hard IRQs ---------------------------------------------------------- */

/* TP_PROTO(int irq, struct irqaction *action) */
static __always_inline int on_irq_entry(__u64 *ctx)
{
	struct leaf_perf_cpu_scratch *s = this_cpu_scratch();
	struct leaf_perf_cpu_stats *st = this_cpu_stats();

	if (st)
		st->irq_count++;
	if (s) {
		s->irq = (__u32)ctx[0];
		s->irq_start_ns = bpf_ktime_get_ns();
	}
	return 0;
}

static __always_inline void read_irq_name(struct irqaction *action, char *name)
{
	const char *p = BPF_CORE_READ(action, name);

	if (!p || bpf_probe_read_kernel_str(name, PERF_IRQ_NAME_LEN, p) < 0)
		name[0] = 0;
}

static __always_inline struct leaf_perf_hist *irq_hist(__u32 irq, struct irqaction *action)
{
	static const struct leaf_perf_hist empty;
	struct leaf_perf_hist *h = bpf_map_lookup_elem(&irq_stats, &irq);
	char name[PERF_IRQ_NAME_LEN] = {};

	if (h)
		return h;
	/* First time this IRQ is seen (on any CPU): name it, add its entry. */
	read_irq_name(action, name);
	bpf_map_update_elem(&irq_names, &irq, name, BPF_NOEXIST);
	bpf_map_update_elem(&irq_stats, &irq, &empty, BPF_NOEXIST);
	return bpf_map_lookup_elem(&irq_stats, &irq);
}

/* TP_PROTO(int irq, struct irqaction *action, int ret) */
static __always_inline int on_irq_exit(__u64 *ctx)
{
	__u32 irq = (__u32)ctx[0];
	struct irqaction *action = (struct irqaction *)ctx[1];
	struct leaf_perf_cpu_scratch *s = this_cpu_scratch();
	struct leaf_perf_cpu_stats *st;
	struct leaf_perf_irq_event *e;
	struct leaf_perf_hist *h;
	__u64 now, duration;

	if (!s || !s->irq_start_ns || s->irq != irq)
		return 0; /* the entry was not seen (attached in between) */
	now = bpf_ktime_get_ns();
	duration = now - s->irq_start_ns;
	s->irq_start_ns = 0;
	h = irq_hist(irq, action);
	if (h)
		hist_add(h, duration);
	if (!raw_enabled[1])
		return 0;
	st = this_cpu_stats();
	if (!raw_allowed(1, now, st))
		return 0;
	e = leaf_reserve(&events, &counters, sizeof(*e), PERF_EVENT_IRQ);
	if (!e)
		return 0;
	e->cpu = bpf_get_smp_processor_id();
	e->irq = irq;
	e->duration_ns = duration;
	e->ret = (__s32)ctx[2];
	e->pad = 0;
	read_irq_name(action, e->irq_name);
	leaf_submit(&counters, e);
	return 0;
}

LEAF_TP_BTF_RAW_TP(irq_handler_entry, irq_handler_entry, on_irq_entry)
LEAF_TP_BTF_RAW_TP(irq_handler_exit, irq_handler_exit, on_irq_exit)

/* ---- softirqs ----------------------------------------------------------- */

/* TP_PROTO(unsigned int vec_nr) */
static __always_inline int on_softirq_entry(__u64 *ctx)
{
	struct leaf_perf_cpu_scratch *s = this_cpu_scratch();
	struct leaf_perf_cpu_stats *st = this_cpu_stats();

	if (st)
		st->softirq_count++;
	if (s) {
		s->softirq_vec = (__u32)ctx[0];
		s->softirq_start_ns = bpf_ktime_get_ns();
	}
	return 0;
}

static __always_inline int on_softirq_exit(__u64 *ctx)
{
	__u32 vec = (__u32)ctx[0];
	struct leaf_perf_cpu_scratch *s = this_cpu_scratch();
	struct leaf_perf_softirq_event *e;
	struct leaf_perf_hist *h;
	__u64 now, duration;

	if (!s || !s->softirq_start_ns || s->softirq_vec != vec)
		return 0;
	now = bpf_ktime_get_ns();
	duration = now - s->softirq_start_ns;
	s->softirq_start_ns = 0;
	h = bpf_map_lookup_elem(&softirq_stats, &vec);
	if (h)
		hist_add(h, duration);
	if (!raw_enabled[2] || !raw_allowed(2, now, this_cpu_stats()))
		return 0;
	e = leaf_reserve(&events, &counters, sizeof(*e), PERF_EVENT_SOFTIRQ);
	if (!e)
		return 0;
	e->cpu = bpf_get_smp_processor_id();
	e->softirq_vec = vec;
	e->softirq_name = vec;
	e->duration_ns = duration;
	e->pad = 0;
	leaf_submit(&counters, e);
	return 0;
}

LEAF_TP_BTF_RAW_TP(softirq_entry, softirq_entry, on_softirq_entry)
LEAF_TP_BTF_RAW_TP(softirq_exit, softirq_exit, on_softirq_exit)

char LICENSE[] SEC("license") = "GPL";
