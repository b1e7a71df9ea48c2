/* SPDX-License-Identifier: GPL-2.0 */
/* tcp_stats: the traffic of live TCP connections, one interval at a time.
 *
 * Part of network.bpf.c's object (included at its end: it shares the
 * connection table, the ignore lists and the owner filter). No per-packet
 * cost: once per interval the plugin reads a BPF iterator over the TCP
 * sockets (iter/tcp, kernel 5.9+), whose program runs once per socket and
 * writes a tcp_stats record for each connection whose counters moved since
 * its last record. The counters are the kernel's own, read as tcp_close
 * reads them (net_tcp_totals()), so a connection's intervals add up exactly
 * to its tcp_close totals. net_tcp_prev keeps, per socket, the totals last
 * reported; tcp_close's program deletes the entry.
 *
 * Two programs, one used (the plugin keeps the first that loads):
 * tcp_stats__iter walks every process's files (iter/task_file, 5.11+):
 * sockets of every network namespace, owner from the process when the
 * connection table does not know it; tcp_stats_netns__iter (iter/tcp, 5.9+)
 * walks the sockets of the reader's network namespace only. See README.md. */

/* CLOCK_MONOTONIC of the previous round (the plugin writes it before each
 * round): interval_ns = now - this. */
__u64 tcp_stats_since_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_tcp_stats_event);
} net_tcp_stats_scratch SEC(".maps");

static __always_inline void stats_fill(struct net_tcp_stats_event *e,
				       const struct net_tcp_totals *now,
				       const struct net_tcp_prev *prev)
{
	e->bytes_sent_total = now->bytes_sent;
	e->bytes_recv_total = now->bytes_recv;
	e->packets_sent_total = now->packets_sent;
	e->packets_recv_total = now->packets_recv;
	e->retransmits_total = now->retransmits;
	e->bytes_sent = now->bytes_sent - prev->bytes_sent;
	e->bytes_recv = now->bytes_recv - prev->bytes_recv;
	e->packets_sent = now->packets_sent - prev->packets_sent;
	e->packets_recv = now->packets_recv - prev->packets_recv;
	e->bytes_retrans = now->bytes_retrans - prev->bytes_retrans;
	e->retransmits = now->retransmits - prev->retransmits;
	e->rtt_us = now->rtt_us;
	e->pad1[0] = e->pad1[1] = e->pad1[2] = 0;
	e->hdr.timestamp_ns = bpf_ktime_get_ns();
	e->hdr.type = NET_EVENT_TCP_STATS;
	e->hdr.flags = 0;
	e->hdr.reserved = 0;
	e->interval_ns = e->hdr.timestamp_ns - tcp_stats_since_ns;
}

/* Remembers `now` as the last report of `sk`: in place when it has an
 * entry (no allocation), else a new entry. */
static __always_inline void stats_remember(__u64 key, struct net_tcp_prev *found,
					   struct net_conn *c, const struct net_tcp_totals *now)
{
	struct net_tcp_prev p = {
		.conn_id = c ? c->conn_id : 0,
		.bytes_sent = now->bytes_sent,
		.bytes_recv = now->bytes_recv,
		.packets_sent = now->packets_sent,
		.packets_recv = now->packets_recv,
		.bytes_retrans = now->bytes_retrans,
		.retransmits = now->retransmits,
	};

	if (found) {
		*found = p;
	} else if (bpf_map_update_elem(&net_tcp_prev, &key, &p, BPF_ANY) != 0) {
		stat_inc(NET_STAT_TCP_PREV_FAILED);
		return;
	}
	if (c)
		c->flags |= NET_CONN_F_STATS;
}

/* The owner of a socket whose connection the table does not know (opened
 * before Leaf started, or evicted): the process holding its file. */
static __always_inline void owner_of_task(struct net_conn *o, struct task_struct *task)
{
	o->pid = BPF_CORE_READ(task, pid);
	o->tgid = BPF_CORE_READ(task, tgid);
	o->uid = BPF_CORE_READ(task, cred, uid.val);
	o->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	BPF_CORE_READ_STR_INTO(&o->comm, task, comm);
	o->direction = NET_DIR_UNKNOWN;
	o->flags = NET_CONN_F_ATTRIBUTED;
}

/* One visit of a TCP socket: a record when its counters moved since its
 * last one. A socket seen twice in a round (a file shared by processes, or
 * dup()ed) gives one record: the second visit finds nothing new. `task`:
 * the process holding the socket's file (iter/task_file), or NULL. */
static __always_inline int stats_visit(struct seq_file *seq, struct sock *sk,
				       struct task_struct *task)
{
	struct net_tcp_stats_event *e;
	struct net_tcp_totals now = {};
	struct net_tcp_prev zero_prev = {}, *prev, *found;
	struct net_tuple t = {};
	struct net_conn owner = {};
	struct net_conn *c;
	__u32 zero = 0;
	__u64 key;
	int state;

	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_LISTEN || state == TCP_CLOSE || state == TCP_SYN_SENT)
		return 0;
	key = (__u64)sk;
	net_tcp_totals(sk, &now);
	c = conn_live(key);
	found = bpf_map_lookup_elem(&net_tcp_prev, &key);
	prev = found;
	/* An entry left by an earlier socket at this address (its close raced
	 * with the iterator's update): another conn_id, or counters it never
	 * had. */
	if (prev && (prev->conn_id != (c ? c->conn_id : 0) || now.bytes_sent < prev->bytes_sent ||
		     now.bytes_recv < prev->bytes_recv || now.packets_sent < prev->packets_sent ||
		     now.packets_recv < prev->packets_recv))
		prev = NULL;
	if (!prev && c && (c->flags & NET_CONN_F_STATS)) {
		/* Reported before, but its entry was evicted: this interval
		 * cannot be told apart from the earlier ones. Start again. */
		stat_inc(NET_STAT_TCP_PREV_LOST);
		stats_remember(key, found, c, &now);
		return 0;
	}
	if (!prev)
		prev = &zero_prev;
	if (now.bytes_sent == prev->bytes_sent && now.bytes_recv == prev->bytes_recv)
		return 0; /* idle: no event */
	/* The owner, always on the stack: a pointer chosen between the stack
	 * and a map value that may be NULL is refused by the 6.1 verifier
	 * (the compiler tests one copy of the condition and dereferences
	 * another: "R1 invalid mem access 'scalar'"). */
	if (task && !(c && (c->flags & NET_CONN_F_ATTRIBUTED))) {
		owner_of_task(&owner, task);
		if (c) {
			owner.conn_id = c->conn_id;
			owner.direction = c->direction;
		}
	} else if (c) {
		owner = *c;
	}
	if (read_tuple(sk, &t) || owner_filtered(&owner) || ignored(&t))
		return 0;
	e = bpf_map_lookup_elem(&net_tcp_stats_scratch, &zero);
	if (!e)
		return 0;
	fill_common((struct net_tcp_event *)e, &owner, &t, owner.direction);
	stats_fill(e, &now, prev);
	e->state = (__u8)state;
	/* Full buffer: the kernel shows this socket again in the next read(),
	 * so nothing is remembered until the record is out. */
	if (bpf_seq_write(seq, e, sizeof(*e)) != 0)
		return 0;
	stats_remember(key, found, c, &now);
	return 0;
}

/* Every TCP socket held by a process, in every network namespace: the
 * files of every task (threads sharing their files are walked once). Needs
 * bpf_sock_from_file (5.11+). Sockets no process holds (closed but still
 * sending, FIN_WAIT/LAST_ACK) are not seen: their last bytes are in
 * tcp_close's totals. */
SEC("iter/task_file")
int tcp_stats__iter(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct socket *sock;
	struct sock *sk;

	if (!file || !ctx->task)
		return 0;
	sock = bpf_sock_from_file(file); /* NULL for other files */
	if (!sock)
		return 0;
	if (BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	return stats_visit(ctx->meta->seq, sk, ctx->task);
}

/* Kernels without bpf_sock_from_file (5.10): the TCP sockets of the
 * network namespace of the process reading the iterator (leaf-host's). */
SEC("iter/tcp")
int tcp_stats_netns__iter(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;

	if (!skc)
		return 0;	       /* the end of the walk */
	tp = bpf_skc_to_tcp_sock(skc); /* NULL for TIME_WAIT and request socks */
	if (!tp)
		return 0;
	return stats_visit(ctx->meta->seq, (struct sock *)tp, NULL);
}
