// SPDX-License-Identifier: GPL-2.0
/* Leaf network probe: TCP connection lifecycle.
 *
 * Three probes, each with hook candidates in order of preference (the
 * plugin's select_hooks() keeps the best one that loads and attaches):
 *
 *   tcp_connect  fentry/tcp_connect, kprobe/tcp_connect: the active open,
 *                in the connecting task, once the local port is chosen.
 *                Tracepoint fallback (inet_sock_set_state): reported when
 *                the open resolves (SYN_SENT -> ESTABLISHED; a failed open
 *                is reported by tcp_close's program just before its close).
 *   tcp_accept   fentry/kprobe on security_sock_graft (in accept(), once
 *                the new socket is taken from the queue): the accepting task.
 *                Tracepoint fallback: the accept()/accept4() syscall exit
 *                (sys_exit, or syscalls:sys_exit_accept* under tracefs),
 *                the new socket found through the returned descriptor.
 *   tcp_close    fentry/kprobe on tcp_set_state, or the inet_sock_set_state
 *                tracepoint: every TCP state change. It also keeps the
 *                connection table: an entry at the active open (with the
 *                task, which is current there) and at the passive
 *                establishment (softirq: the task is filled in at accept).
 *
 * Close usually runs in softirq context, so the process of a connection is
 * remembered in net_conn (LRU, bounded) from connect/accept time. A
 * connection not seen opening (opened before Leaf started, or evicted) is
 * still reported at close, with attributed = 0 and no process.
 *
 * Byte counts at close are exact payload counts, free of SYN/FIN sequence
 * slots: bytes_sent = tcp_sock.bytes_sent - bytes_retrans (payload of first
 * transmissions), bytes_recv = bytes_received minus the peer's FIN when it
 * was received (SOCK_DONE). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "leaf.bpf.h"
#include "network.h"

#define NET_AF_INET  2
#define NET_AF_INET6 10
#define NET_ENOENT   2
#define NET_EEXIST   17

LEAF_RINGBUF(events);
LEAF_COUNTERS(counters);

/* The connection events are spread over up to four rings (network.toml
 * `ring_buffers`), each connection's on one of them by its conn_id: every
 * record reserved from one ring takes that ring's spin lock and writes its
 * producer position, which all CPUs share. With two connect storms on two
 * CPUs that lock and line were a third of the programs' time (network
 * README, "Two storms at once"). A connection's events stay in one ring, in
 * order; user space drains the rings one after the other, so the events of
 * different connections can reach it up to one drain apart out of order (each
 * carries its kernel timestamp). Unused rings are one page each. */
LEAF_RINGBUF(events1);
LEAF_RINGBUF(events2);
LEAF_RINGBUF(events3);
const volatile __u32 ring_mask = 0; /* rings - 1: 0, 1 or 3 */

/* The ring of a connection: by its conn_id's upper, random half (bit 0 is
 * always set); 0 (not known) goes to the first. */
static __always_inline void *conn_ring(__u64 conn_id)
{
	switch ((conn_id >> 32) & ring_mask) {
	case 1:
		return &events1;
	case 2:
		return &events2;
	case 3:
		return &events3;
	default:
		return &events;
	}
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 100000); /* conn_table_size */
	__type(key, __u64);	     /* struct sock address */
	__type(value, struct net_conn);
} net_conn SEC(".maps");

/* tcp_stats.bpf.h: the totals each connection's last tcp_stats reported. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 100000); /* conn_table_size */
	__type(key, __u64);	     /* struct sock address */
	__type(value, struct net_tcp_prev);
} net_tcp_prev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NET_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} net_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NET_IGNORE_PORTS_MAX);
	__type(key, __u16);
	__type(value, __u8);
} net_ignore_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, NET_IGNORE_ADDRS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct net_addr_key);
	__type(value, __u8);
} net_ignore_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_filter_cfg);
} net_filter_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NET_FILTER_MAX);
	__type(key, __u32); /* uid */
	__type(value, __u8);
} net_filter_uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NET_FILTER_MAX);
	__type(key, struct net_filter_comm);
	__type(value, __u8);
} net_filter_comms SEC(".maps");

/* Load-time configuration. */
const volatile __u8 emit_connect = 1;
const volatile __u8 emit_accept = 1;
const volatile __u8 emit_close = 1;
const volatile __u8 emit_tcp_stats = 0; /* the iterator is read: keep net_tcp_prev */
const volatile __u8 want_ipv6 = 1;
const volatile __u8 have_ignore_ports = 0;
const volatile __u8 have_ignore_addrs = 0;

/* ------------------------------------------------------------------------ */
/* Helpers */

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&net_stats, &idx);

	if (v)
		*v += n; /* per-CPU */
}

static __always_inline void stat_inc(__u32 idx)
{
	stat_add(idx, 1);
}

struct net_tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family; /* 4 or 6 */
};

static __always_inline void map_ipv4(__u8 *out, __be32 addr)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(out + 12, &addr, 4);
}

static __always_inline int is_v4_mapped(const __u8 *a)
{
	__u64 lo;
	__u32 mid;

	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	return lo == 0 && mid == bpf_htonl(0x0000ffff);
}

/* The first fields of struct sock_common (at the start of struct sock), in
 * the order every kernel since 2.6 has them: read at once, one probe read
 * instead of four in read_tuple(). skc_head_usual() checks the layout
 * through CO-RE when the program loads (a constant there): a kernel that
 * moved them takes the field-by-field reads. */
struct net_skc_head {
	__be32 daddr;
	__be32 rcv_saddr;
	__u32 hash;
	__be16 dport;
	__u16 num;
	__u16 family;
};

static __always_inline int skc_head_usual(void)
{
	return bpf_core_field_offset(struct sock, __sk_common) == 0 &&
	       bpf_core_field_offset(struct sock_common, skc_daddr) == 0 &&
	       bpf_core_field_offset(struct sock_common, skc_rcv_saddr) == 4 &&
	       bpf_core_field_offset(struct sock_common, skc_dport) == 12 &&
	       bpf_core_field_offset(struct sock_common, skc_family) == 16;
}

/* Local and remote ends of a TCP socket. Returns -1 for other families. */
static __always_inline int read_tuple(struct sock *sk, struct net_tuple *t)
{
	struct net_skc_head h = {};

	if (skc_head_usual()) {
		if (bpf_probe_read_kernel(&h, sizeof(h), sk))
			return -1;
	} else {
		h.family = BPF_CORE_READ(sk, __sk_common.skc_family);
		h.rcv_saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		h.daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		h.dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	}
	if (h.family == NET_AF_INET) {
		map_ipv4(t->saddr, h.rcv_saddr);
		map_ipv4(t->daddr, h.daddr);
		t->family = 4;
	} else if (h.family == NET_AF_INET6) {
		BPF_CORE_READ_INTO(&t->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&t->daddr, sk, __sk_common.skc_v6_daddr);
		/* A dual-stack socket talking IPv4 carries IPv4 on the wire. */
		t->family = is_v4_mapped(t->daddr) ? 4 : 6;
	} else {
		return -1;
	}
	/* inet_sport, not skc_num: the local port is unbound (skc_num = 0)
	 * by the time the state becomes CLOSE. */
	t->sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	t->dport = bpf_ntohs(h.dport);
	return 0;
}

/* A field of a TCP socket: a direct load where `btf` says the program got
 * the socket as a BTF-typed argument (fentry, tp_btf), else a CO-RE probe
 * read (kprobe, raw_tp, tracepoint: the verifier refuses direct loads
 * there). `btf` is a constant at every call site, so the other branch is
 * compiled out: a direct load is one instruction, a probe read a helper call,
 * and these run at several state changes of every connection. */
#define TCP_FIELD(p, btf, path) ((btf) ? (p)->path : BPF_CORE_READ(p, path))

/* The tcp_sock behind a BTF-typed socket, for direct loads of its fields
 * (the verifier knows `sk` as a struct sock only; the helper checks it is a
 * full TCP socket). NULL when it is not, or without `btf`. */
static __always_inline struct tcp_sock *typed_tcp_sock(struct sock *sk, int btf)
{
	return btf ? bpf_skc_to_tcp_sock(sk) : NULL;
}

/* read_tuple(), with direct loads where `tp` (typed_tcp_sock()) is set. */
static __always_inline int tcp_tuple(struct sock *sk, struct tcp_sock *tp, struct net_tuple *t)
{
	struct sock_common *skc;
	__u16 family;

	if (!tp)
		return read_tuple(sk, t);
	skc = &tp->inet_conn.icsk_inet.sk.__sk_common;
	family = skc->skc_family;
	if (family == NET_AF_INET) {
		map_ipv4(t->saddr, skc->skc_rcv_saddr);
		map_ipv4(t->daddr, skc->skc_daddr);
		t->family = 4;
	} else if (family == NET_AF_INET6) {
		__u32 *s = (__u32 *)t->saddr, *d = (__u32 *)t->daddr;
		int i;

		for (i = 0; i < 4; i++) {
			s[i] = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			d[i] = skc->skc_v6_daddr.in6_u.u6_addr32[i];
		}
		t->family = is_v4_mapped(t->daddr) ? 4 : 6;
	} else {
		return -1;
	}
	t->sport = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	t->dport = bpf_ntohs(skc->skc_dport);
	return 0;
}

static __always_inline int addr_ignored(const __u8 *addr)
{
	struct net_addr_key key = {.prefixlen = 128};

	__builtin_memcpy(key.addr, addr, 16);
	return bpf_map_lookup_elem(&net_ignore_addrs, &key) != NULL;
}

/* Whether configuration says not to report this connection. */
static __always_inline int ignored(const struct net_tuple *t)
{
	if (t->family == 6 && !want_ipv6)
		goto ignore;
	if (have_ignore_ports) {
		__u16 p = t->sport;

		if (bpf_map_lookup_elem(&net_ignore_ports, &p))
			goto ignore;
		p = t->dport;
		if (bpf_map_lookup_elem(&net_ignore_ports, &p))
			goto ignore;
	}
	if (have_ignore_addrs && (addr_ignored(t->saddr) || addr_ignored(t->daddr)))
		goto ignore;
	return 0;
ignore:
	stat_inc(NET_STAT_IGNORED);
	return 1;
}

static __always_inline int is_tcp(struct sock *sk, int btf)
{
	return sk && TCP_FIELD(sk, btf, sk_protocol) == IPPROTO_TCP;
}

/* The current task as the owner of a connection. */
static __always_inline void take_task(struct net_conn *c)
{
	__u64 id = bpf_get_current_pid_tgid();

	c->pid = (__u32)id;
	c->tgid = id >> 32;
	c->uid = (__u32)bpf_get_current_uid_gid();
	c->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(c->comm, sizeof(c->comm));
	c->flags |= NET_CONN_F_ATTRIBUTED;
}

/* The bytes of `w` (little-endian: the first byte lowest) from its first
 * NUL on, zeroed; `*ended` when it has one. */
static __always_inline __u64 comm_word_padded(__u64 w, int *ended)
{
	__u64 zero = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;

	if (!zero)
		return w;
	*ended = 1;
	/* The lowest flagged byte is the first NUL (flags above it may be
	 * false); the bits below its flag keep the bytes before it. */
	return w & ((zero & -zero) - 1);
}

/* take_task(), with direct loads from the current task where the kernel has
 * bpf_get_current_task_btf() (5.11+; a CO-RE constant, the other branch is
 * removed at load): three helper calls fewer at every active open and
 * accept. The same values: pid/tgid as the helper, the uid as seen from the
 * initial user namespace (its identity mapping: from_kuid() returns the
 * kuid there), the cgroup v2 id of the task's css_set (task_dfl_cgroup()),
 * and the comm NUL-padded as bpf_get_current_comm() writes it (kernels
 * before strscpy_pad in __set_task_comm may leave bytes after the NUL). */
static __always_inline void take_task_loads(struct net_conn *c)
{
	struct task_struct *task;
	__u64 id, w0, w1;
	int ended = 0;

	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		take_task(c);
		return;
	}
	task = bpf_get_current_task_btf();
	id = bpf_get_current_pid_tgid();
	c->pid = (__u32)id;
	c->tgid = id >> 32;
	c->uid = task->cred->uid.val;
	c->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	w0 = comm_word_padded(*(const __u64 *)&task->comm[0], &ended);
	w1 = ended ? 0 : comm_word_padded(*(const __u64 *)&task->comm[8], &ended);
	__builtin_memcpy(c->comm, &w0, 8);
	__builtin_memcpy(c->comm + 8, &w1, 8);
	c->flags |= NET_CONN_F_ATTRIBUTED;
}

/* Random, non-zero, and within 53 bits so that JSON consumers that read
 * numbers as doubles keep it exact. */
static __always_inline __u64 new_conn_id(void)
{
	__u64 id = ((__u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32();

	return (id & ((1ULL << 53) - 1)) | 1;
}

/* The entry of a live connection, or NULL: an entry left behind by a close
 * whose delete failed (NET_CONN_F_CLOSED) belongs to no connection. */
static __always_inline struct net_conn *conn_live(__u64 key)
{
	struct net_conn *c = bpf_map_lookup_elem(&net_conn, &key);

	return c && !(c->flags & NET_CONN_F_CLOSED) ? c : NULL;
}

/* Adds or replaces the entry of `sk`, for the active open only: no other
 * program writes the entry of a socket before it sent its SYN. Counts
 * entries really added. */
static __always_inline void conn_store(__u64 key, const struct net_conn *c)
{
	/* Usually there is no entry: one update, no lookup first. */
	int err = bpf_map_update_elem(&net_conn, &key, c, BPF_NOEXIST);

	if (err == 0)
		stat_inc(NET_STAT_CONN_INSERTED);
	else if (err != -NET_EEXIST || bpf_map_update_elem(&net_conn, &key, c, BPF_ANY) != 0)
		stat_inc(NET_STAT_CONN_INSERT_FAILED);
}

/* Adds the entry of `sk` where it has none: 0, -EEXIST, or another error
 * (counted). The kernel checks and inserts under the bucket lock: of two
 * programs adding the same key at once, exactly one succeeds. */
static __always_inline int conn_add(__u64 key, const struct net_conn *c)
{
	int err = bpf_map_update_elem(&net_conn, &key, c, BPF_NOEXIST);

	if (err == 0)
		stat_inc(NET_STAT_CONN_INSERTED);
	else if (err != -NET_EEXIST)
		stat_inc(NET_STAT_CONN_INSERT_FAILED);
	return err;
}

/* Replaces the entry of `sk`; nothing when it is gone meanwhile (closed or
 * evicted: not to be brought back). Other errors are counted. */
static __always_inline void conn_replace(__u64 key, const struct net_conn *c)
{
	int err = bpf_map_update_elem(&net_conn, &key, c, BPF_EXIST);

	if (err != 0 && err != -NET_ENOENT)
		stat_inc(NET_STAT_CONN_INSERT_FAILED);
}

static __always_inline void fill_common(struct net_tcp_event *e, const struct net_conn *c,
					const struct net_tuple *t, __u8 direction)
{
	__builtin_memcpy(e->src_ip, t->saddr, 16);
	__builtin_memcpy(e->dst_ip, t->daddr, 16);
	e->src_port = t->sport;
	e->dst_port = t->dport;
	e->family = t->family;
	e->protocol = NET_PROTO_TCP;
	e->direction = direction;
	e->pad0 = 0;
	if (c && (c->flags & NET_CONN_F_ATTRIBUTED)) {
		e->cgroup_id = c->cgroup_id;
		e->pid = c->pid;
		e->tgid = c->tgid;
		e->uid = c->uid;
		__builtin_memcpy(e->comm, c->comm, sizeof(e->comm));
		e->attributed = 1;
	} else {
		e->cgroup_id = 0;
		e->pid = 0;
		e->tgid = 0;
		e->uid = 0;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
		e->attributed = 0;
	}
	e->conn_id = c ? c->conn_id : 0;
}

/* Whether the owner filter, as it is now, lists the owner `uid`, `comm`
 * (16 bytes, NUL-padded) (not counted). */
static __always_inline int owner_listed(__u32 uid, const char *comm)
{
	__u32 zero = 0;
	struct net_filter_cfg *cfg = bpf_map_lookup_elem(&net_filter_cfg, &zero);

	if (!cfg || (!cfg->uids && !cfg->comms))
		return 0;
	if (cfg->uids && bpf_map_lookup_elem(&net_filter_uids, &uid))
		return 1;
	if (cfg->comms) {
		struct net_filter_comm key;

		__builtin_memcpy(key.comm, comm, sizeof(key.comm));
		if (bpf_map_lookup_elem(&net_filter_comms, &key))
			return 1;
	}
	return 0;
}

/* Whether the owner filter drops the events of connection `c` (not
 * counted). Connections without a known owner are never dropped by it. */
static __always_inline int owner_dropped(const struct net_conn *c)
{
	if (!c || !(c->flags & NET_CONN_F_ATTRIBUTED))
		return 0;
	return owner_listed(c->uid, c->comm);
}

/* owner_dropped(), counted. */
static __always_inline int owner_filtered(const struct net_conn *c)
{
	if (!owner_dropped(c))
		return 0;
	stat_inc(NET_STAT_FILTERED);
	return 1;
}

/* tcp_connect or tcp_accept. */
static __always_inline void emit_open(__u16 type, const struct net_conn *c,
				      const struct net_tuple *t)
{
	struct net_tcp_event *e;

	if (owner_filtered(c))
		return;
	e = leaf_reserve(conn_ring(c->conn_id), &counters, sizeof(*e), type);
	if (!e)
		return;
	fill_common(e, c, t, c->direction);
	leaf_submit(&counters, e);
}

/* ------------------------------------------------------------------------ */
/* Connection table: opens */

/* The remote port of a TCP socket, host order (net_conn.peer_port). */
static __always_inline __u16 peer_port(struct sock *sk, int btf)
{
	return bpf_ntohs(TCP_FIELD(sk, btf, __sk_common.skc_dport));
}

/* Active open: CLOSE -> SYN_SENT, in the connecting task (connect() set the
 * remote end before): the entry `c` (zeroed by the caller), stored. */
static __always_inline void active_open(struct sock *sk, struct net_conn *c, int btf)
{
	c->start_ns = bpf_ktime_get_ns();
	c->conn_id = new_conn_id();
	c->direction = NET_DIR_OUTBOUND;
	c->peer_port = peer_port(sk, btf);
	take_task_loads(c);
	conn_store((__u64)sk, c);
}

/* Passive open: SYN_RECV -> ESTABLISHED, in softirq; the process is filled
 * in when accept() returns the socket.
 *
 * The kernel queues the child for accept() before it moves it to
 * ESTABLISHED (tcp_check_req(), then tcp_child_process()), so accept() on
 * another CPU can return it before this program ran: on_accepted() then
 * adds the entry, with the process. Hence this program only adds an entry
 * where there is none (BPF_NOEXIST), atomically: a lookup then an update
 * overwrote, between the two, the entry accept() had just added, and the
 * close lost the process and the conn_id of its tcp_accept (the kernel
 * matrix's 5.10 and 6.1 guests: an inbound close in a few thousand). An
 * entry already there for this remote port (that one, or a simultaneous
 * open tracked as outbound) is left alone. One for another remote port
 * belongs to an earlier socket at this address whose close was missed: the
 * kernel skips a run of a program that an interrupt's softirq triggers
 * while the same program runs on that CPU (a recursion miss, counted in
 * leaf_bpf_program_recursion_misses_total), and tcp_close's runs at every
 * state change of every socket. That entry is replaced (lookup, then
 * update: should accept() replace it in between, the close loses the
 * process, but only after a missed close). */
/* Whether a TCP socket has sent or received payload. */
static __always_inline int moved_bytes(struct sock *sk, int btf)
{
	struct tcp_sock *tp = typed_tcp_sock(sk, btf);

	if (tp)
		return tp->bytes_received || tp->bytes_sent;
	return BPF_CORE_READ((struct tcp_sock *)sk, bytes_received) ||
	       BPF_CORE_READ((struct tcp_sock *)sk, bytes_sent);
}

static __always_inline void passive_open(struct sock *sk, int btf)
{
	struct net_conn c = {};
	__u64 key = (__u64)sk;
	__u16 peer = peer_port(sk, btf);
	struct net_conn *old = bpf_map_lookup_elem(&net_conn, &key);

	/* accept()'s own entry: the lookup spares the LRU a node allocation.
	 * Another remote port: an earlier socket's at this address, whose
	 * close was not seen (a recursion miss; left marked closed by a
	 * failed delete): replaced, else this connection's tcp_accept would be
	 * skipped as reported and its close carry the other's conn_id. */
	if (old && old->peer_port == peer)
		return;
	c.start_ns = bpf_ktime_get_ns();
	c.conn_id = new_conn_id();
	c.direction = NET_DIR_INBOUND;
	c.peer_port = peer;
	/* Payload already (TCP Fast Open): the tcp_stats iterator may have
	 * reported the socket before this entry. */
	if (emit_tcp_stats && moved_bytes(sk, btf))
		c.flags |= NET_CONN_F_PREV_MAYBE;
	if (old)
		conn_replace(key, &c);
	else
		conn_add(key, &c); /* -EEXIST: accept() added it since the lookup */
}

/* ------------------------------------------------------------------------ */
/* tcp_close: every state change */

/* A connection's counters as tcp_close and tcp_stats report them. */
struct net_tcp_totals {
	__u64 bytes_sent;
	__u64 bytes_recv;
	__u64 packets_sent;
	__u64 packets_recv;
	__u64 bytes_retrans;
	__u32 retransmits;
	__u32 rtt_us;
};

static __always_inline void net_tcp_totals(struct sock *sk, struct net_tcp_totals *out)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	unsigned long sk_flags;
	__u64 recv;

	out->bytes_retrans = BPF_CORE_READ(tp, bytes_retrans);
	out->bytes_sent = BPF_CORE_READ(tp, bytes_sent) - out->bytes_retrans;
	recv = BPF_CORE_READ(tp, bytes_received);
	sk_flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	/* The peer's FIN takes one sequence slot in bytes_received. */
	if (recv && (sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
		recv--;
	out->bytes_recv = recv;
	out->packets_sent = BPF_CORE_READ(tp, segs_out);
	out->packets_recv = BPF_CORE_READ(tp, segs_in);
	out->retransmits = BPF_CORE_READ(tp, total_retrans);
	out->rtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
}

/* net_tcp_totals(), with direct loads where `tp` (typed_tcp_sock()) is set. */
static __always_inline void tcp_totals(struct sock *sk, struct tcp_sock *tp,
				       struct net_tcp_totals *out)
{
	__u64 recv;

	if (!tp) {
		net_tcp_totals(sk, out);
		return;
	}
	out->bytes_retrans = tp->bytes_retrans;
	out->bytes_sent = tp->bytes_sent - out->bytes_retrans;
	recv = tp->bytes_received;
	if (recv && (tp->inet_conn.icsk_inet.sk.__sk_common.skc_flags &
		     (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
		recv--;
	out->bytes_recv = recv;
	out->packets_sent = tp->segs_out;
	out->packets_recv = tp->segs_in;
	out->retransmits = tp->total_retrans;
	out->rtt_us = tp->srtt_us >> 3;
}

static __always_inline void emit_close_record(struct sock *sk, struct tcp_sock *tp,
					      const struct net_conn *c, const struct net_tuple *t,
					      int oldstate)
{
	struct net_tcp_close_event *e;
	struct net_tcp_totals tot;

	if (owner_filtered(c))
		return;
	e = leaf_reserve(conn_ring(c ? c->conn_id : 0), &counters, sizeof(*e), NET_EVENT_TCP_CLOSE);
	if (!e)
		return;
	fill_common((struct net_tcp_event *)e, c, t, c ? c->direction : NET_DIR_UNKNOWN);
	tcp_totals(sk, tp, &tot);
	e->bytes_sent = tot.bytes_sent;
	e->bytes_recv = tot.bytes_recv;
	e->packets_sent = tot.packets_sent;
	e->packets_recv = tot.packets_recv;
	e->retransmits = tot.retransmits;
	e->rtt_us = tot.rtt_us;
	e->error = tp ? tp->inet_conn.icsk_inet.sk.sk_err : BPF_CORE_READ(sk, sk_err);
	e->state = (__u8)oldstate;
	e->pad1[0] = e->pad1[1] = e->pad1[2] = 0;
	e->duration_ns = c && c->start_ns ? e->hdr.timestamp_ns - c->start_ns : 0;
	leaf_submit(&counters, e);
}

static __always_inline void on_close(struct sock *sk, int oldstate, int btf)
{
	struct tcp_sock *tp = typed_tcp_sock(sk, btf);
	__u64 key = (__u64)sk;
	struct net_conn *found = bpf_map_lookup_elem(&net_conn, &key);
	struct net_conn c = {};
	struct net_tuple t = {};
	int tracked = found && !(found->flags & NET_CONN_F_CLOSED);

	if (tracked) {
		c = *found;
		/* Should the delete fail (the hash map refuses, with -EBUSY, a
		 * program that interrupted an update of the same bucket group
		 * on this CPU), the entry stays, marked closed, and no later
		 * socket at this address takes it for its own. */
		found->flags |= NET_CONN_F_CLOSED;
	} else {
		stat_inc(NET_STAT_CLOSE_UNATTRIBUTED);
	}
	/* net_tcp_prev has an entry of a tracked connection only once the
	 * iterator set NET_CONN_F_STATS (after adding it), or when it may
	 * have one from before the entry (NET_CONN_F_PREV_MAYBE): most connections
	 * never had a tcp_stats, and a delete finding nothing still takes the
	 * bucket lock. One the iterator adds while this runs stays behind with
	 * this connection's conn_id, which no later socket at this address
	 * has: the iterator takes it for another socket's and overwrites it,
	 * or the LRU evicts it. Untracked: there may be one (conn_id 0). */
	if (emit_tcp_stats && (!tracked || (c.flags & (NET_CONN_F_STATS | NET_CONN_F_PREV_MAYBE))))
		bpf_map_delete_elem(&net_tcp_prev, &key); /* -ENOENT: never reported */
	if (found) {
		if (bpf_map_delete_elem(&net_conn, &key) == 0)
			stat_inc(NET_STAT_CONN_DELETED);
		else if (tracked)
			stat_inc(NET_STAT_CONN_DELETE_FAILED);
	}
	if (tcp_tuple(sk, tp, &t) || ignored(&t))
		return;
	/* A failed active open under the tracepoint fallback (or one that
	 * failed before tcp_connect()): its tcp_connect was not reported yet. */
	if (tracked && c.direction == NET_DIR_OUTBOUND && !(c.flags & NET_CONN_F_REPORTED) &&
	    emit_connect)
		emit_open(NET_EVENT_TCP_CONNECT, &c, &t);
	if (emit_close)
		emit_close_record(sk, tp, tracked ? &c : NULL, &t, oldstate);
}

/* Runs for every state change of every socket: seven of a connection's ten
 * changes (both ends) are none of these, so the states, which come with the
 * hook, are looked at before anything is read from the socket. */
static __always_inline int on_state_change(struct sock *sk, int oldstate, int newstate, int btf)
{
	if (newstate == TCP_SYN_SENT) {
		struct net_conn c = {};

		if (is_tcp(sk, btf))
			active_open(sk, &c, btf);
	} else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
		if (is_tcp(sk, btf))
			passive_open(sk, btf);
	} else if (newstate == TCP_CLOSE) {
		/* LISTEN -> CLOSE is a listener going away, CLOSE -> CLOSE
		 * never was a connection. */
		if (oldstate != TCP_LISTEN && oldstate != TCP_CLOSE && is_tcp(sk, btf))
			on_close(sk, oldstate, btf);
	}
	return 0;
}

/* Set by the plugin after load when tcp_connect chose the same tracepoint
 * hook as tcp_close: tcp_close's program then does tcp_connect's work too,
 * and tcp_connect's program is not attached. Two programs on every state
 * change of every socket cost twice the dispatch for nothing: 20 program runs
 * per loopback connection instead of 10. */
__u8 connect_in_close = 0;

static __always_inline int connect_on_state_change(struct sock *sk, int oldstate, int newstate,
						   int btf);

/* Both probes' work, on one of the inet_sock_set_state hooks. */
static __always_inline int on_set_state(struct sock *sk, int oldstate, int newstate, int btf)
{
	on_state_change(sk, oldstate, newstate, btf);
	if (connect_in_close)
		connect_on_state_change(sk, oldstate, newstate, btf);
	return 0;
}

/* TP_PROTO(const struct sock *sk, const int oldstate, const int newstate) */
static __always_inline int close_on_set_state(__u64 *ctx, int btf)
{
	return on_set_state((struct sock *)ctx[0], (int)ctx[1], (int)ctx[2], btf);
}

SEC("fentry/tcp_set_state")
int BPF_PROG(tcp_close__fentry, struct sock *sk, int state)
{
	return on_state_change(sk, sk->__sk_common.skc_state, state, 1);
}

SEC("kprobe/tcp_set_state")
int BPF_KPROBE(tcp_close__kprobe, struct sock *sk, int state)
{
	return on_state_change(sk, BPF_CORE_READ(sk, __sk_common.skc_state), state, 0);
}

/* As LEAF_TP_BTF_RAW_TP, telling the handler whether its arguments are
 * BTF-typed (tp_btf) or not (raw_tp). */
#define NET_TP_BTF_RAW_TP_TYPED(probe, tracepoint, handler) \
	SEC("tp_btf/" #tracepoint)                          \
	int probe##__tp_btf(__u64 *ctx)                     \
	{                                                   \
		return handler(ctx, 1);                     \
	}                                                   \
	SEC("raw_tp/" #tracepoint)                          \
	int probe##__raw_tp(__u64 *ctx)                     \
	{                                                   \
		return handler(ctx, 0);                     \
	}

NET_TP_BTF_RAW_TP_TYPED(tcp_close, inet_sock_set_state, close_on_set_state)

SEC("tp/sock/inet_sock_set_state")
int tcp_close__tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return on_set_state((struct sock *)ctx->skaddr, ctx->oldstate, ctx->newstate, 0);
}

/* ------------------------------------------------------------------------ */
/* tcp_connect */

/* In the connecting task, after the local port is chosen (fentry/kprobe). */
static __always_inline int on_tcp_connect(struct sock *sk, int btf)
{
	__u64 key = (__u64)sk;
	struct net_conn *c;
	struct net_conn opened = {};
	struct net_tuple t = {};

	if (!is_tcp(sk, btf))
		return 0;
	c = conn_live(key);
	if (!c) {
		/* tcp_close's program missed SYN_SENT (not attached yet), or
		 * the table refused the entry then */
		active_open(sk, &opened, btf);
		c = conn_live(key);
		/* Refused again (counted): the connect is reported all the
		 * same; its close will come without the process. */
		if (!c)
			c = &opened;
	}
	if (c->flags & NET_CONN_F_REPORTED)
		return 0;
	c->flags |= NET_CONN_F_REPORTED;
	if (!emit_connect || tcp_tuple(sk, typed_tcp_sock(sk, btf), &t) || ignored(&t))
		return 0;
	emit_open(NET_EVENT_TCP_CONNECT, c, &t);
	return 0;
}

/* Tracepoint fallback: the active open resolved (SYN_SENT -> ESTABLISHED,
 * or SYN_RECV on a simultaneous open). Failures are tcp_close's. */
static __always_inline int connect_on_state_change(struct sock *sk, int oldstate, int newstate,
						   int btf)
{
	if (oldstate != TCP_SYN_SENT || newstate == TCP_CLOSE || !is_tcp(sk, btf))
		return 0;
	__u64 key = (__u64)sk;
	struct net_conn *c = conn_live(key);
	struct net_tuple t = {};

	if (!c || (c->flags & NET_CONN_F_REPORTED))
		return 0; /* connect() ran before Leaf started */
	c->flags |= NET_CONN_F_REPORTED;
	if (!emit_connect || tcp_tuple(sk, typed_tcp_sock(sk, btf), &t) || ignored(&t))
		return 0;
	emit_open(NET_EVENT_TCP_CONNECT, c, &t);
	return 0;
}

static __always_inline int connect_on_set_state(__u64 *ctx, int btf)
{
	return connect_on_state_change((struct sock *)ctx[0], (int)ctx[1], (int)ctx[2], btf);
}

SEC("fentry/tcp_connect")
int BPF_PROG(tcp_connect__fentry, struct sock *sk)
{
	return on_tcp_connect(sk, 1);
}

SEC("kprobe/tcp_connect")
int BPF_KPROBE(tcp_connect__kprobe, struct sock *sk)
{
	return on_tcp_connect(sk, 0);
}

NET_TP_BTF_RAW_TP_TYPED(tcp_connect, inet_sock_set_state, connect_on_set_state)

SEC("tp/sock/inet_sock_set_state")
int tcp_connect__tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return connect_on_state_change((struct sock *)ctx->skaddr, ctx->oldstate, ctx->newstate, 0);
}

/* ------------------------------------------------------------------------ */
/* tcp_accept */

/* In the accepting task, with the socket accept() returns. */
static __always_inline int on_accepted(struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct net_conn *found;
	struct net_conn c = {};
	struct net_tuple t = {};

	if (!is_tcp(sk, 0) || read_tuple(sk, &t))
		return 0;
	found = conn_live(key);
	/* Another remote port: an earlier socket's entry (passive_open()) */
	if (found && found->peer_port != t.dport)
		found = NULL;
	if (found) {
		if (found->flags & NET_CONN_F_REPORTED)
			return 0;
		c = *found;
	} else {
		/* Established before Leaf started, a TCP Fast Open child
		 * accepted before its handshake completed, or a child accepted
		 * while still in SYN_RECV (queued before its move to
		 * ESTABLISHED, which passive_open() has not seen yet). */
		stat_inc(NET_STAT_ACCEPT_UNTRACKED);
		c.start_ns = bpf_ktime_get_ns();
		c.conn_id = new_conn_id();
		c.direction = NET_DIR_INBOUND;
		c.peer_port = t.dport;
		/* the tcp_stats iterator may have seen it without an entry */
		if (emit_tcp_stats)
			c.flags |= NET_CONN_F_PREV_MAYBE;
	}
	take_task_loads(&c);
	c.flags |= NET_CONN_F_REPORTED;
	/* A connection reset while it waited in the accept queue is already
	 * closed: report it, but do not track it any more. */
	if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_CLOSE) {
		/* Seen established: replace that entry. Not seen: add ours;
		 * should passive_open() have added one since the lookup (or a
		 * closed or earlier socket's one be there), replace it: it has
		 * no process and nothing was reported with its conn_id.
		 *
		 * A replace, not writes through `found`, although the replace
		 * (a new LRU node, the old one freed) is ~30 % of this
		 * program on the tracepoint path (bench/common/bpf_callees.py):
		 * nothing holds the socket here, so a reset can close it on
		 * another CPU meanwhile, and an LRU map gives a deleted node
		 * back to its free list at once (htab_lru_map_delete_elem(),
		 * no RCU grace period). Writes through `found` could then land
		 * in another socket's entry, and a close reading the entry
		 * while they run would see half an owner. */
		if (found || conn_add(key, &c) == -NET_EEXIST)
			conn_replace(key, &c);
	}
	if (!emit_accept || ignored(&t))
		return 0;
	emit_open(NET_EVENT_TCP_ACCEPT, &c, &t);
	return 0;
}

/* The fentry and kprobe hooks: security_sock_graft(sk, parent), called by
 * sock_graft() in inet_accept() (__inet_accept() since 6.10) in the
 * accepting task, once inet_csk_accept() has returned the new socket, under
 * sk_callback_lock (bottom halves off). A call's entry, not the exit of
 * inet_csk_accept(): a trampoline or kretprobe only sees the calls that
 * enter after it is attached, so a thread already waiting in accept() when
 * Leaf started (or restarted its probes) lost its tcp_accept, and its close
 * its process. Every distribution kernel has the function (CONFIG_SECURITY);
 * where one does not, the probe falls back to the syscall exit. Other
 * protocols graft their accepted sockets through it too (unix, SCTP,
 * Bluetooth, MPTCP's own socket...): only TCP over IPv4/IPv6 is taken. */
static __always_inline int on_grafted(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family != NET_AF_INET && family != NET_AF_INET6)
		return 0;
	return on_accepted(sk);
}

SEC("fentry/security_sock_graft")
int BPF_PROG(tcp_accept__fentry, struct sock *sk, struct socket *parent)
{
	return on_grafted(sk);
}

SEC("kprobe/security_sock_graft")
int BPF_KPROBE(tcp_accept__kprobe, struct sock *sk, struct socket *parent)
{
	return on_grafted(sk);
}

/* struct fdtable's first fields, in the order every kernel has them. */
struct net_fdt_head {
	unsigned int max_fds;
	struct file **fd;
};

/* The current task's descriptor table: its size and array. */
static __always_inline int fdt_head(struct net_fdt_head *head)
{
	struct task_struct *task;
	struct fdtable *fdt;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		/* 5.11+: the task, its files and the fdtable by direct loads,
		 * three probe reads fewer than below. */
		fdt = bpf_get_current_task_btf()->files->fdt;
		if (!fdt)
			return -1;
		head->max_fds = fdt->max_fds;
		head->fd = fdt->fd;
		return 0;
	}
	task = (struct task_struct *)bpf_get_current_task();
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return -1;
	/* max_fds and fd at once where struct fdtable starts with them
	 * (checked through CO-RE at load time) */
	if (bpf_core_field_offset(struct fdtable, max_fds) == 0 &&
	    bpf_core_field_offset(struct fdtable, fd) == 8)
		return bpf_probe_read_kernel(head, sizeof(*head), fdt) ? -1 : 0;
	head->max_fds = BPF_CORE_READ(fdt, max_fds);
	head->fd = BPF_CORE_READ(fdt, fd);
	return 0;
}

/* The socket behind descriptor `fd` of the current task. The fd array holds
 * pointers to pointers, which the verifier gives as plain numbers: read with
 * probe reads from there on. */
static __always_inline struct sock *sock_of_fd(long fd)
{
	struct net_fdt_head head = {};
	struct file *f = NULL;
	struct socket *so;
	struct sock *sk;

	if (fdt_head(&head) || fd >= head.max_fds ||
	    bpf_probe_read_kernel(&f, sizeof(f), &head.fd[fd]) || !f)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	if (!so)
		return NULL;
	sk = BPF_CORE_READ(so, sk);
	/* The descriptor must still be the socket accept() made. */
	if (!sk || BPF_CORE_READ(sk, sk_socket) != so)
		return NULL;
	return sk;
}

#if defined(__TARGET_ARCH_x86)
#define NET_NR_ACCEPT  43
#define NET_NR_ACCEPT4 288
#elif defined(__TARGET_ARCH_arm64)
#define NET_NR_ACCEPT  202
#define NET_NR_ACCEPT4 242
#endif

/* TP_PROTO(struct pt_regs *regs, long ret): every syscall's exit. */
static __always_inline int accept_on_sys_exit(__u64 *ctx)
{
#ifdef NET_NR_ACCEPT
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	long ret = (long)ctx[1];
	long nr;

	if (ret < 0)
		return 0;
#if defined(__TARGET_ARCH_x86)
	nr = BPF_CORE_READ(regs, orig_ax);
#else
	nr = BPF_CORE_READ(regs, syscallno);
#endif
	if (nr != NET_NR_ACCEPT && nr != NET_NR_ACCEPT4)
		return 0;
	return on_accepted(sock_of_fd(ret));
#else
	return 0;
#endif
}

LEAF_TP_BTF_RAW_TP(tcp_accept, sys_exit, accept_on_sys_exit)

/* With tracefs mounted: only accept's and accept4's exits. */
SEC("tp/syscalls/sys_exit_accept4")
int tcp_accept__tp__accept4(struct trace_event_raw_sys_exit *ctx)
{
	return ctx->ret < 0 ? 0 : on_accepted(sock_of_fd(ctx->ret));
}

SEC("tp/syscalls/sys_exit_accept")
int tcp_accept__tp__accept(struct trace_event_raw_sys_exit *ctx)
{
	return ctx->ret < 0 ? 0 : on_accepted(sock_of_fd(ctx->ret));
}

/* ------------------------------------------------------------------------ */
/* tcp_stats: an iterator over the TCP sockets, read once per interval */

#include "tcp_stats.bpf.h"

/* ------------------------------------------------------------------------ */
/* udp_flow: datagrams counted per flow in the kernel, drained per interval */

#include "udp_flow.bpf.h"

char LICENSE[] SEC("license") = "GPL";
