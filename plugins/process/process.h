/* The records shared by process.bpf.c (which writes them) and the plugin's
 * schema (process_schema.cpp, which describes them to the host). Plain C,
 * usable with vmlinux.h and with <linux/types.h>. */
#ifndef LEAF_PLUGIN_PROCESS_H
#define LEAF_PLUGIN_PROCESS_H

#include "leaf_event.h"

/* Index of each record type in the plugin's EventTypeDesc table. */
enum process_event_type {
	PROCESS_EVENT_EXEC = 0,
	PROCESS_EVENT_FORK = 1,
	PROCESS_EVENT_EXIT = 2,
	PROCESS_EVENT_TYPES = 3,
};

#define PROCESS_COMM_LEN 16
/* Longest filename kept (PATH_MAX); longer ones are cut. */
#define PROCESS_FILENAME_MAX 4096
/* Largest configurable command-line limit (bytes of argv joined by spaces). */
#define PROCESS_CMDLINE_MAX 4096

/* process_exec: a task replaced its program image. Variable tail: the
 * command line then the filename, neither NUL-terminated. */
struct process_exec_event {
	struct leaf_event_header hdr;
	__u32 pid; /* thread that exec'd (after exec: the thread-group leader) */
	__u32 tgid;
	__u32 ppid; /* real parent's tgid */
	__u32 uid;  /* real uid and gid after the exec (setuid applied) */
	__u32 gid;
	__u32 old_pid; /* the exec'ing thread's id before exec (differs when a non-leader thread
			  exec'd) */
	__u64 cgroup_id;
	struct leaf_var filename; /* the path given to execve() */
	struct leaf_var cmdline;  /* argv joined by spaces, at most cmdline_max bytes */
	__u8 cmdline_truncated;	  /* 1 when argv was longer than the limit */
	__u8 pad[7];
	char comm[PROCESS_COMM_LEN]; /* the new image's name */
};

#define PROCESS_EXEC_MAX_SIZE \
	(sizeof(struct process_exec_event) + PROCESS_FILENAME_MAX + PROCESS_CMDLINE_MAX)

/* process_fork: a task was created by fork/clone. */
struct process_fork_event {
	struct leaf_event_header hdr;
	__u32 pid;	   /* the child (thread id) */
	__u32 tgid;	   /* the child's thread group */
	__u32 ppid;	   /* the thread that called fork/clone */
	__u32 parent_tgid; /* its thread group */
	__u64 cgroup_id;   /* the child's cgroup */
	__u8 is_thread;	   /* 1: a thread of the parent's process (CLONE_THREAD) */
	__u8 pad[7];
	char comm[PROCESS_COMM_LEN];
};

/* process_exit: a process ended (its last thread exited), or, with thread
 * events on, a thread that was not the last one exited.
 *
 * For a process (is_thread == 0) every figure is the whole process's: the
 * signal struct's sums of the threads already reaped plus every thread
 * still on the thread list (as the kernel's thread_group_cputime() and
 * /proc/<tgid>/stat do). For a thread (is_thread == 1) they are that
 * thread's own. utime_ns + stime_ns is the exact scheduler runtime, split
 * in the ratio of the tick-sampled user and system times, as the kernel's
 * cputime_adjust() does for /proc/<pid>/stat and getrusage(). */
struct process_exit_event {
	struct leaf_event_header hdr;
	__u32 pid; /* process: the tgid (the group leader's id); thread: the thread */
	__u32 tgid;
	__u32 ppid;	  /* real parent's tgid at exit */
	__s32 exit_code;  /* the status passed to exit() (0..255); 0 when killed by a signal */
	__u32 signal;	  /* the signal that ended it, 0 for a normal exit */
	__u32 exec_count; /* execs seen by the probe in this process's life */
	__u64 utime_ns;
	__u64 stime_ns;
	__u64 min_flt;
	__u64 maj_flt;
	__u64 duration_ns; /* from the task's start (fork) to its exit */
	__u64 cgroup_id;
	__u8 core_dumped;
	__u8 is_thread;
	__u8 pad[6];
	char comm[PROCESS_COMM_LEN]; /* process: the group leader's name */
};

/* What process.bpf.c keeps per process in its proc_info table, from fork
 * (or the first exec seen) to exit. */
struct process_info {
	__u64 exec_ns; /* monotonic time of the last exec, 0 if none seen */
	__u32 exec_count;
	__u32 ppid_at_start;
};

/* Plugin counters beyond emitted/lost per event type (per-CPU array). */
enum process_stat {
	PROCESS_STAT_TABLE_INSERT_FAILED = 0, /* proc_info full (or ENOMEM) */
	PROCESS_STAT_TABLE_INSERTED = 1,
	PROCESS_STAT_TABLE_REMOVED = 2,
	PROCESS_STAT_CMDLINE_TRUNCATED = 3,
	PROCESS_STAT_CMDLINE_READ_FAILED = 4, /* argv not readable (swapped out, no mm) */
	PROCESS_STAT_THREAD_WALK_CUT = 5,     /* more threads than the exit walk visits */
	PROCESS_STAT_TABLE_REPLACED = 6,      /* a recycled pid's stale entry overwritten */
	PROCESS_STAT_USAGE_RACED = 7, /* no consistent pass over a dying process's threads */
	PROCESS_STAT_FILTERED = 8,    /* events dropped by the in-kernel filter */
	PROCESS_STAT_COUNT = 9,
};

/* In-kernel filter (process.toml [filter]): events of a task whose uid or
 * comm is listed are dropped before they take ring-buffer space. The lists
 * live in hash maps the plugin fills at load and on SIGHUP; filter_cfg says
 * which lists are in use, so that an empty list costs no lookup. */
#define PROCESS_FILTER_MAX 1024

struct process_filter_cfg {
	__u8 uids;  /* 1: look up filter_uids */
	__u8 comms; /* 1: look up filter_comms */
	__u8 pad[6];
};

struct process_filter_comm {
	char comm[PROCESS_COMM_LEN]; /* NUL-padded, as bpf_get_current_comm() writes it */
};

#endif
