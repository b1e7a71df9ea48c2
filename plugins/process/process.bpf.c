// SPDX-License-Identifier: GPL-2.0
/* Leaf process probe: process_exec, process_fork and process_exit from the
 * sched:sched_process_{exec,fork,exit} tracepoints.
 *
 * Every probe has three hook candidates, tried in this order by the host's
 * hook selector: tp_btf (typed arguments), raw_tp (same arguments, read
 * through BPF_CORE_READ) and the classic tracepoint tp/sched/... (needs
 * tracefs; arguments partly rebuilt from `current`).
 *
 * proc_info holds one entry per live process (thread group) from its fork,
 * or the first exec seen, to its exit, where the entry is removed: under
 * churn the table holds only processes that are alive. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "leaf.bpf.h"
#include "process.h"

/* include/linux/sched/signal.h */
#define SIGNAL_GROUP_EXIT 0x00000004
/* Threads visited when summing a dying process's CPU times and faults. */
#define EXIT_THREAD_WALK_MAX 256
/* Passes over a dying process's threads before giving up on a consistent one. */
#define EXIT_USAGE_ATTEMPTS 8

LEAF_RINGBUF(events);
LEAF_COUNTERS(counters);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* set from proc_table_size at load */
	__type(key, __u32);	    /* tgid */
	__type(value, struct process_info);
} proc_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROCESS_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Exec records are built here (fixed part + command line + filename), then
 * copied into the ring with only the bytes used. */
struct exec_scratch {
	struct process_exec_event e;
	char tail[PROCESS_CMDLINE_MAX + PROCESS_FILENAME_MAX] __attribute__((aligned(8)));
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_scratch);
} exec_buf SEC(".maps");

/* The in-kernel filter (process.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct process_filter_cfg);
} filter_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROCESS_FILTER_MAX);
	__type(key, __u32); /* uid */
	__type(value, __u8);
} filter_uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROCESS_FILTER_MAX);
	__type(key, struct process_filter_comm);
	__type(value, __u8);
} filter_comms SEC(".maps");

/* Load-time configuration (process.toml). */
const volatile __u8 emit_exec = 1;
const volatile __u8 emit_fork = 1;
const volatile __u8 emit_exit = 1;
const volatile __u8 thread_events = 0;
const volatile __u32 cmdline_max = 512;

static __always_inline void stat_inc(__u32 which);

/* 1 when the current task's events are filtered out (counted). Every probe
 * runs in the task the event is about (exec: the new image; fork: the parent,
 * whose uid and comm the child inherits; exit: the exiting task). */
static __always_inline int filtered_out(void)
{
	__u32 zero = 0;
	struct process_filter_cfg *cfg = bpf_map_lookup_elem(&filter_cfg, &zero);

	if (!cfg || (!cfg->uids && !cfg->comms))
		return 0;
	if (cfg->uids) {
		__u32 uid = (__u32)bpf_get_current_uid_gid();

		if (bpf_map_lookup_elem(&filter_uids, &uid))
			goto drop;
	}
	if (cfg->comms) {
		struct process_filter_comm key = {};

		bpf_get_current_comm(key.comm, sizeof(key.comm));
		if (bpf_map_lookup_elem(&filter_comms, &key))
			goto drop;
	}
	return 0;
drop:
	stat_inc(PROCESS_STAT_FILTERED);
	return 1;
}

static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		(*v)++;
}

/* The cgroup v2 id of a task (what bpf_get_current_cgroup_id() gives for
 * current). */
static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

/* ------------------------------------------------------------------------
 * exec */

static __always_inline void note_exec(__u32 tgid, __u32 ppid)
{
	struct process_info *info = bpf_map_lookup_elem(&proc_info, &tgid);

	if (info) {
		info->exec_ns = bpf_ktime_get_ns();
		info->exec_count++;
		return;
	}
	struct process_info fresh = {
		.exec_ns = bpf_ktime_get_ns(),
		.exec_count = 1,
		.ppid_at_start = ppid,
	};
	if (bpf_map_update_elem(&proc_info, &tgid, &fresh, BPF_NOEXIST) == 0)
		stat_inc(PROCESS_STAT_TABLE_INSERTED);
	else
		stat_inc(PROCESS_STAT_TABLE_INSERT_FAILED);
}

/* Turns every NUL of the first `size` bytes of `w` into a space, eight
 * bytes at a time and without a branch per byte, which keeps the loop
 * small for the verifier (up to PROCESS_CMDLINE_MAX / 8 rounds). Bytes past
 * `size` up to the next multiple of 8 are changed too: callers own them. */
static __always_inline void nul_to_space(__u64 *w, __u64 size)
{
	const __u64 low7 = 0x7f7f7f7f7f7f7f7fULL;
	/* A count of words left, compared with a constant: verifiers before
	 * 5.11 cannot decide `i * 8 >= size` (constant against a range), walk
	 * rounds past the end with impossible bounds on `size`, and then refuse
	 * the caller's buf->tail + size ("R1 type=inv expected=map_value"). */
	__u64 words = (size + 7) / 8;

	for (__u32 i = 0; i < PROCESS_CMDLINE_MAX / 8; i++) {
		if (words < 1)
			break;
		words--;
		__u64 v = w[i];
		/* 0x80 in each byte of v that is zero, 0 elsewhere */
		__u64 zero = ~(((v & low7) + low7) | v | low7);

		w[i] = v | (zero >> 2); /* 0x80 >> 2 == ' ' */
	}
}

/* Reads the new image's argv (mm->arg_start..arg_end, NUL-separated) into
 * `dst`, NULs turned into spaces, at most cmdline_max bytes. Returns the
 * bytes written; sets *truncated when argv was longer. */
static __always_inline __u32 read_cmdline(struct task_struct *task, char *dst, __u8 *truncated)
{
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	__u64 joined, size;
	__u32 limit = cmdline_max;

	*truncated = 0;
	if (end <= start)
		return 0;
	joined = end - start - 1; /* without the last argument's NUL */
	size = joined;
	if (limit > PROCESS_CMDLINE_MAX)
		limit = PROCESS_CMDLINE_MAX;
	if (size > limit) {
		size = limit;
		*truncated = 1;
		stat_inc(PROCESS_STAT_CMDLINE_TRUNCATED);
	}
	size &= (2 * PROCESS_CMDLINE_MAX - 1); /* for the verifier: <= PROCESS_CMDLINE_MAX */
	if (size > PROCESS_CMDLINE_MAX)
		return 0;
	if (bpf_probe_read_user(dst, size, (const void *)start) != 0) {
		stat_inc(PROCESS_STAT_CMDLINE_READ_FAILED);
		*truncated = joined > 0;
		return 0;
	}
	nul_to_space((__u64 *)dst, size);
	return size;
}

/* `filename` is a kernel string: bprm->filename, or the tracepoint record's. */
static __always_inline int handle_exec(struct task_struct *task, __u32 old_pid,
				       const char *filename)
{
	__u32 zero = 0, fname_len, cmd_len;
	struct exec_scratch *buf;
	struct process_exec_event *e;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ugid = bpf_get_current_uid_gid();
	__u32 tgid = id >> 32;
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	long n;

	note_exec(tgid, ppid);
	if (!emit_exec || filtered_out())
		return 0;
	buf = bpf_map_lookup_elem(&exec_buf, &zero);
	if (!buf)
		return 0;
	e = &buf->e;
	leaf_fill_header(&e->hdr, PROCESS_EVENT_EXEC);
	e->pid = (__u32)id;
	e->tgid = tgid;
	e->ppid = ppid;
	e->uid = (__u32)ugid;
	e->gid = ugid >> 32;
	e->old_pid = old_pid;
	e->cgroup_id = bpf_get_current_cgroup_id();
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	/* the command line first, at an 8-byte aligned offset, then the filename */
	cmd_len = read_cmdline(task, buf->tail, &e->cmdline_truncated);
	if (cmd_len > PROCESS_CMDLINE_MAX)
		cmd_len = PROCESS_CMDLINE_MAX;
	e->cmdline.offset = sizeof(*e);
	e->cmdline.length = cmd_len;

	n = bpf_probe_read_kernel_str(buf->tail + cmd_len, PROCESS_FILENAME_MAX, filename);
	fname_len = n > 0 ? n - 1 : 0; /* without the NUL */
	fname_len &= PROCESS_FILENAME_MAX - 1;
	e->filename.offset = sizeof(*e) + cmd_len;
	e->filename.length = fname_len;

	leaf_output(&events, &counters, buf, sizeof(*e) + fname_len + cmd_len);
	return 0;
}

/* TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
static __always_inline int on_process_exec(__u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct linux_binprm *bprm = (struct linux_binprm *)ctx[2];

	return handle_exec(task, (__u32)ctx[1], BPF_CORE_READ(bprm, filename));
}

LEAF_TP_BTF_RAW_TP(process_exec, sched_process_exec, on_process_exec)

SEC("tp/sched/sched_process_exec")
int process_exec__tp(struct trace_event_raw_sched_process_exec *ctx)
{
	unsigned int off = ctx->__data_loc_filename & 0xFFFF;

	return handle_exec((struct task_struct *)bpf_get_current_task(), ctx->old_pid,
			   (const char *)ctx + off);
}

/* ------------------------------------------------------------------------
 * fork */

/* `child` may be NULL (classic tracepoint, child not found): then the
 * parent's name and cgroup stand in for the child's, which it inherits. */
static __always_inline int handle_fork(struct task_struct *parent, struct task_struct *child,
				       __u32 child_pid, __u32 child_tgid)
{
	struct process_fork_event *e;
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);
	__u8 is_thread = child_tgid == parent_tgid;

	if (!is_thread) {
		struct process_info fresh = {
			.ppid_at_start =
				child ? BPF_CORE_READ(child, real_parent, tgid) : parent_tgid,
		};

		long err = bpf_map_update_elem(&proc_info, &child_tgid, &fresh, BPF_NOEXIST);

		if (err == -17 /* EEXIST */) {
			/* a stale entry of a recycled pid (its exit was not seen) */
			err = bpf_map_update_elem(&proc_info, &child_tgid, &fresh, BPF_EXIST);
			stat_inc(PROCESS_STAT_TABLE_REPLACED);
		} else if (err == 0) {
			stat_inc(PROCESS_STAT_TABLE_INSERTED);
		}
		if (err)
			stat_inc(PROCESS_STAT_TABLE_INSERT_FAILED);
	}
	if (!emit_fork || (is_thread && !thread_events) || filtered_out())
		return 0;
	e = leaf_reserve(&events, &counters, sizeof(*e), PROCESS_EVENT_FORK);
	if (!e)
		return 0;
	e->pid = child_pid;
	e->tgid = child_tgid;
	e->ppid = BPF_CORE_READ(parent, pid);
	e->parent_tgid = parent_tgid;
	e->is_thread = is_thread;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	if (child) {
		e->cgroup_id = task_cgroup_id(child);
		BPF_CORE_READ_STR_INTO(&e->comm, child, comm);
	} else {
		e->cgroup_id = task_cgroup_id(parent);
		BPF_CORE_READ_STR_INTO(&e->comm, parent, comm);
	}
	leaf_submit(&counters, e);
	return 0;
}

/* TP_PROTO(struct task_struct *parent, struct task_struct *child) */
static __always_inline int on_process_fork(__u64 *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx[0];
	struct task_struct *child = (struct task_struct *)ctx[1];

	return handle_fork(parent, child, BPF_CORE_READ(child, pid), BPF_CORE_READ(child, tgid));
}

LEAF_TP_BTF_RAW_TP(process_fork, sched_process_fork, on_process_fork)

/* The classic tracepoint gives only the child's pid. A new thread is the
 * last one on the parent's thread list and a new process the last of its
 * children (copy_process() appends both before the tracepoint fires). */
SEC("tp/sched/sched_process_fork")
int process_fork__tp(struct trace_event_raw_sched_process_fork *ctx)
{
	struct task_struct *parent = (struct task_struct *)bpf_get_current_task();
	__u32 child_pid = ctx->child_pid;
	struct list_head *last;
	struct task_struct *t;

	last = BPF_CORE_READ(parent, signal, thread_head.prev);
	t = (void *)last - bpf_core_field_offset(struct task_struct, thread_node);
	if (BPF_CORE_READ(t, pid) == child_pid)
		return handle_fork(parent, t, child_pid, BPF_CORE_READ(parent, tgid));
	last = BPF_CORE_READ(parent, children.prev);
	t = (void *)last - bpf_core_field_offset(struct task_struct, sibling);
	if (BPF_CORE_READ(t, pid) != child_pid)
		t = NULL;
	/* not a thread of the parent: a new process, whose tgid is its pid */
	return handle_fork(parent, t, child_pid, child_pid);
}

/* ------------------------------------------------------------------------
 * exit
 *
 * process_exit must pass the verifier of the oldest kernel (5.10: at most
 * 1M verified instructions, little state pruning), so its two loops are
 * kept out of the verifier's way:
 * - the walk over a process's threads (EXIT_THREAD_WALK_MAX rounds) is a
 *   global function, sum_process_usage(), verified once on its own; inlined,
 *   it was verified again for every pass of the seqlock retry loop
 *   (EXIT_USAGE_ATTEMPTS + 1 passes);
 * - bit_length() has no loop: a loop has the verifier follow each of its
 *   65 exits, and scale() combined two of them (65 x 65 paths).
 * Together they were about 320K verified instructions per path into them
 * (5.10, 6.1), and the record reserved before them multiplied the paths:
 * see handle_exit(). Now process_exit takes 20K to 22K on 5.10 to 6.18. */

struct usage {
	__u64 utime, stime; /* tick-sampled user / system time */
	__u64 runtime;	    /* scheduler runtime (sum_exec_runtime): exact */
	__u64 min_flt, maj_flt;
};

/* Where sum_process_usage() leaves its sums: on 5.10 a global function
 * takes only scalars (and ctx), no pointer to its caller's stack. Per CPU,
 * read back by the caller right after the call: the tracepoint runs its
 * programs with preemption off, and an exit does not happen in interrupt
 * context, so no other process_exit runs on this CPU in between. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct usage);
} usage_sums SEC(".maps");

static __always_inline void add_task_usage(struct usage *u, struct task_struct *t)
{
	u->utime += BPF_CORE_READ(t, utime);
	u->stime += BPF_CORE_READ(t, stime);
	u->runtime += BPF_CORE_READ(t, se.sum_exec_runtime);
	u->min_flt += BPF_CORE_READ(t, min_flt);
	u->maj_flt += BPF_CORE_READ(t, maj_flt);
}

/* One pass over a process's signal struct sums and its thread list, into
 * usage_sums. `sig_addr` is the struct signal_struct pointer, passed as a
 * scalar (5.10 refuses other pointers as arguments of global functions) and
 * only read through BPF_CORE_READ. Global (neither static nor inline): the
 * verifier checks it once, on its own. Returns 0, or -1 without the slot. */
__noinline int sum_process_usage(__u64 sig_addr)
{
	struct signal_struct *sig = (struct signal_struct *)sig_addr;
	struct list_head *head = &sig->thread_head;
	struct list_head *node = BPF_CORE_READ(sig, thread_head.next);
	__u64 off = bpf_core_field_offset(struct task_struct, thread_node);
	__u32 zero = 0;
	struct usage *u = bpf_map_lookup_elem(&usage_sums, &zero);

	if (!u)
		return -1;
	u->utime = BPF_CORE_READ(sig, utime);
	u->stime = BPF_CORE_READ(sig, stime);
	u->runtime = BPF_CORE_READ(sig, sum_sched_runtime);
	u->min_flt = BPF_CORE_READ(sig, min_flt);
	u->maj_flt = BPF_CORE_READ(sig, maj_flt);
	for (int i = 0; i < EXIT_THREAD_WALK_MAX; i++) {
		if (node == head || !node)
			return 0;
		struct task_struct *t = (void *)node - off;

		add_task_usage(u, t);
		node = BPF_CORE_READ(t, thread_node.next);
	}
	if (node != head)
		stat_inc(PROCESS_STAT_THREAD_WALK_CUT);
	return 0;
}

static __always_inline __u32 stats_sequence(struct signal_struct *sig)
{
	return BPF_CORE_READ(sig, stats_lock.seqcount.seqcount.sequence);
}

/* The whole process's usage, as thread_group_cputime() counts it: the
 * signal struct's sums (threads already reaped) plus every thread still on
 * the thread list (the dying thread, a zombie leader, threads that exit
 * concurrently but are not reaped yet). A thread reaped during the pass
 * moves from the list to the sums under sig->stats_lock, a seqlock: the
 * pass is retried when its sequence moved, so no thread is missed or
 * counted twice. Returns 0, or -1 when usage_sums cannot be read. */
static __always_inline int process_usage(struct task_struct *task, struct usage *u)
{
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	struct usage *sums;
	__u32 zero = 0;
	int attempt;

	for (attempt = 0; attempt < EXIT_USAGE_ATTEMPTS; attempt++) {
		__u32 seq = stats_sequence(sig);

		if (seq & 1)
			continue; /* a thread is being reaped right now */
		sum_process_usage((__u64)sig);
		if (stats_sequence(sig) == seq)
			break;
	}
	if (attempt == EXIT_USAGE_ATTEMPTS) {
		stat_inc(PROCESS_STAT_USAGE_RACED);
		sum_process_usage((__u64)sig);
	}
	sums = bpf_map_lookup_elem(&usage_sums, &zero);
	if (!sums)
		return -1;
	*u = *sums;
	return 0;
}

/* 1 when x != 0, else 0 (for x < 2^63), without a branch: the barrier
 * keeps the compiler from turning it back into a comparison, which BPF
 * can only do with a jump. */
static __always_inline __u64 nonzero(__u64 x)
{
	x |= -x;
	barrier_var(x);
	return x >> 63;
}

/* The number of significant bits of v (0 for 0), in six halving steps
 * without loop or branch: a loop exits at one of 65 rounds, and scale()'s
 * two calls made the verifier walk 65 x 65 paths. */
static __always_inline __u64 bit_length(__u64 v)
{
	__u64 n = 0, s;

#pragma unroll
	for (int half = 32; half > 0; half /= 2) { /* 32, 16, 8, 4, 2, 1 */
		s = nonzero(v >> half) * half;
		v >>= s;
		n += s;
	}
	return n + v; /* v is 0 or 1 now */
}

/* a * b / c without overflowing 64 bits: a and c lose low bits together
 * until the product fits (the ratio a / c keeps its leading bits). */
static __always_inline __u64 scale(__u64 a, __u64 b, __u64 c)
{
	int excess = (int)(bit_length(a) + bit_length(b)) - 64;

	if (excess > 0) {
		if (excess > 63)
			excess = 63;
		a >>= excess;
		c >>= excess;
	}
	return c ? a * b / c : 0;
}

/* Splits the exact runtime between user and system time in the ratio of
 * the tick-sampled figures, as the kernel's cputime_adjust() does for
 * /proc/<pid>/stat, getrusage() and times(): the reported utime_ns and
 * stime_ns are what ps, top and time(1) show. (Raw tick samples alone can
 * be off by a third for threads that share a CPU.) */
static __always_inline void adjust_cputime(struct usage *u)
{
	if (u->stime == 0) {
		u->utime = u->runtime;
	} else if (u->utime == 0) {
		u->stime = u->runtime;
	} else {
		u->stime = scale(u->stime, u->runtime, u->stime + u->utime);
		if (u->stime > u->runtime)
			u->stime = u->runtime;
		u->utime = u->runtime - u->stime;
	}
}

static __always_inline void fill_status(struct process_exit_event *e, __u32 status)
{
	/* wait(2) status: exit code in bits 8..15, signal in 0..6, core dump 7 */
	e->exit_code = (status >> 8) & 0xff;
	e->signal = status & 0x7f;
	e->core_dumped = (status & 0x80) != 0;
}

/* `group_dead`: the exiting task is the process's last live thread.
 *
 * Verifier cost: everything after leaf_reserve() runs while the record is
 * held, and verifiers before 6.3 compare held references by their exact
 * id (refsafe()): states of two paths that reserved separately never prune
 * each other, so what follows the reservation is verified once per path
 * into it. With thread_events on a kernel without the tracepoint's
 * group_dead, several states reach it (group_dead from the claim, known or
 * not), and on 5.10 and 6.1 the process path was verified three times with
 * the walk inlined: over 1M instructions, E2BIG. Keep what follows the
 * reservation cheap: no inlined walk, no long loop. */
static __always_inline int handle_exit(struct task_struct *task, int group_dead)
{
	struct process_exit_event *e;
	struct process_info *info;
	struct usage u = {};
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u32 exec_count = 0;

	if (group_dead) {
		info = bpf_map_lookup_elem(&proc_info, &tgid);
		if (info) {
			exec_count = info->exec_count;
			if (bpf_map_delete_elem(&proc_info, &tgid) == 0)
				stat_inc(PROCESS_STAT_TABLE_REMOVED);
		}
	}
	if (!emit_exit || (!group_dead && !thread_events) || filtered_out())
		return 0;
	e = leaf_reserve(&events, &counters, sizeof(*e), PROCESS_EVENT_EXIT);
	if (!e)
		return 0;
	e->tgid = tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->cgroup_id = bpf_get_current_cgroup_id(); /* the exiting task is current */
	e->exec_count = exec_count;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	if (group_dead) {
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);
		struct signal_struct *sig = BPF_CORE_READ(task, signal);
		/* what the parent's wait() will see (wait_task_zombie()) */
		__u32 status = BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT
				       ? BPF_CORE_READ(sig, group_exit_code)
				       : BPF_CORE_READ(leader, exit_code);

		e->pid = tgid;
		e->is_thread = 0;
		fill_status(e, status);
		process_usage(task, &u);
		e->duration_ns = bpf_ktime_get_ns() - BPF_CORE_READ(leader, start_time);
		BPF_CORE_READ_STR_INTO(&e->comm, leader, comm);
	} else {
		e->pid = BPF_CORE_READ(task, pid);
		e->is_thread = 1;
		fill_status(e, BPF_CORE_READ(task, exit_code));
		add_task_usage(&u, task);
		e->duration_ns = bpf_ktime_get_ns() - BPF_CORE_READ(task, start_time);
		BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	}
	adjust_cputime(&u);
	e->utime_ns = u.utime;
	e->stime_ns = u.stime;
	e->min_flt = u.min_flt;
	e->maj_flt = u.maj_flt;
	leaf_submit(&counters, e);
	return 0;
}

/* Which thread reports a process's exit on kernels without group_dead:
 * keyed by the process's signal_struct (unique while it lives) and tgid,
 * and `what`: the claim of the process's exit, or the leader's mark. */
enum exit_key_what {
	EXIT_KEY_CLAIM = 0,
	EXIT_KEY_LEADER_PASSED = 1, /* the group leader has run this tracepoint */
};

struct exit_claim_key {
	__u64 signal;
	__u32 tgid;
	__u32 what; /* enum exit_key_what */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct exit_claim_key);
	__type(value, __u32);
} exit_claims SEC(".maps");

/* Kernels without the tracepoint's group_dead argument (before 6.16).
 * do_exit() decrements signal->live, then runs the tracepoint a little
 * later: a thread that sees live at 0 is the last one to leave, or an
 * earlier one that reached the tracepoint only after the last decrement
 * (typically a thread just joined by the main thread, which then exits at
 * once: pthread_join() returns from exit_mm(), before the tracepoint).
 * Which one decremented last cannot be seen here, so:
 * - the group leader reports the process's exit when it sees live at 0;
 * - another thread that sees 0 leaves that to the leader, unless the
 *   leader has run this tracepoint already (its mark in exit_claims, or
 *   the leader is a zombie): then it reports the exit itself.
 * The leader marks before it reads live, with a full barrier in between,
 * and a thread reads the mark after its own decrement of live (a full
 * barrier too): either the leader sees 0 or the thread sees the mark, so
 * one of them reports. The first to claim the process in exit_claims
 * reports; another that also saw 0 at the same instant counts as a thread.
 * Entries are never deleted: the LRU drops them, and a reused tgid comes
 * with a new signal_struct. (The tracepoint's argument, where present,
 * has none of this.) */
static __always_inline int group_dead_from_signal(struct task_struct *task)
{
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	struct exit_claim_key key = {};
	__u32 one = 1, *mark;

	key.signal = (__u64)sig;
	key.tgid = BPF_CORE_READ(task, tgid);
	if (BPF_CORE_READ(task, pid) == key.tgid) {
		/* the leader; with other threads not yet reaped, mark first */
		if (BPF_CORE_READ(sig, nr_threads) > 1) {
			key.what = EXIT_KEY_LEADER_PASSED;
			bpf_map_update_elem(&exit_claims, &key, &one, BPF_ANY);
			mark = bpf_map_lookup_elem(&exit_claims, &key);
			if (mark)
				__sync_fetch_and_add(mark,
						     1); /* a locked add on x86: full barrier */
			key.what = EXIT_KEY_CLAIM;
		}
		if (BPF_CORE_READ(sig, live.counter) != 0)
			return 0;
	} else {
		if (BPF_CORE_READ(sig, live.counter) != 0)
			return 0;
		if (!BPF_CORE_READ(task, group_leader, exit_state)) {
			key.what = EXIT_KEY_LEADER_PASSED;
			if (!bpf_map_lookup_elem(&exit_claims, &key))
				return 0; /* the leader is on its way: it will see 0 */
			key.what = EXIT_KEY_CLAIM;
		}
	}
	return bpf_map_update_elem(&exit_claims, &key, &one, BPF_NOEXIST) == 0;
}

/* TP_PROTO(struct task_struct *p, bool group_dead) (group_dead since 6.16) */
static __always_inline int on_process_exit(__u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	int group_dead;

	if (bpf_core_field_exists(struct trace_event_raw_sched_process_exit, group_dead))
		group_dead = (__u8)ctx[1];
	else
		group_dead = group_dead_from_signal(task);
	return handle_exit(task, group_dead);
}

LEAF_TP_BTF_RAW_TP(process_exit, sched_process_exit, on_process_exit)

SEC("tp/sched/sched_process_exit")
int process_exit__tp(struct trace_event_raw_sched_process_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int group_dead;

	if (bpf_core_field_exists(ctx->group_dead))
		group_dead = ctx->group_dead;
	else
		group_dead = group_dead_from_signal(task);
	return handle_exit(task, group_dead);
}

char LICENSE[] SEC("license") = "GPL";
