/* SPDX-License-Identifier: GPL-2.0 */
/* udp_flow's per-socket cache: a socket's datagrams counted in the socket's
 * own storage instead of the flow table (part of network.bpf.c's object,
 * included by udp_flow.bpf.h).
 *
 * The flow table costs each datagram a map-in-map lookup and a hash lookup
 * of its 44-byte key (~300 instructions of a program run's ~850 under qemu,
 * plugins/network/README.md). A socket usually talks to one peer for one
 * process: its first datagram puts that flow (key and owner) in the
 * socket's local storage (BPF_MAP_TYPE_SK_STORAGE, found through the socket
 * itself), and every later datagram of the same flow is two atomic adds
 * there. Datagrams of another flow (an unconnected socket's other peers,
 * another process sharing the socket) go to the table as before.
 *
 * Nothing stays in a cache: its counts are moved into the flow table
 *   - every interval, before the plugin switches tables, by udp_flush's
 *     iterator (iter/task_file: every socket file of every process, as
 *     tcp_stats walks them; bpf_sock_from_file, 5.11+);
 *   - when the socket is destroyed, by udp_close (fentry on
 *     udp_destroy_sock / udpv6_destroy_sock).
 * The two never move the same counts: the iterator holds a reference on the
 * file it visits, and a socket is destroyed only once its file is released.
 * A flush reads each count, adds it to the table and subtracts it from the
 * cache (atomic adds only, which every kernel has): a datagram counted
 * meanwhile stays for the next flush. Only sockets with a file get a cache
 * (kernel sockets are not in any process's files). The plugin turns the
 * cache on (udp_cache_on) only once both flush paths are attached, and only
 * fentry/fexit programs use it. */

struct net_udp_sk {
	struct net_udp_key key; /* the cached flow (key.tgid: its owner) */
	__u32 pad;
	struct net_udp_val val; /* counts since the last flush, owner, times */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct net_udp_sk);
} net_udp_sk SEC(".maps");

/* Set by the plugin once udp_flush and udp_close are attached. */
__u8 udp_cache_on = 0;

static __always_inline int udp_same_key(const struct net_udp_key *a, const struct net_udp_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	int i;

	for (i = 0; i < (int)(sizeof(*a) / 4); i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

/* The cache of `sk` (a socket a process holds), made for flow `k` when the
 * socket has none: NULL when it cannot have one. An owner the filter drops
 * gets one too: the filter is applied when the counts are flushed
 * (udp_flush), so its datagrams do not read the task each, and a filter
 * changed by SIGHUP applies to sockets cached before. */
static __always_inline struct net_udp_sk *udp_cache_of(struct sock *sk, const struct net_udp_key *k)
{
	struct net_udp_sk *c = bpf_sk_storage_get(&net_udp_sk, sk, 0, 0);
	struct net_udp_sk init = {};
	struct net_conn owner = {};
	struct socket *so;

	if (c)
		return c;
	so = sk->sk_socket;
	if (!so || !so->file)
		return 0;
	take_task(&owner);
	init.key = *k;
	init.val.cgroup_id = owner.cgroup_id;
	init.val.pid = owner.pid;
	init.val.uid = owner.uid;
	__builtin_memcpy(init.val.comm, owner.comm, sizeof(init.val.comm));
	/* Another CPU making it first: NULL (-EEXIST), the table counts this
	 * datagram; the counts start at 0 either way. */
	return bpf_sk_storage_get(&net_udp_sk, sk, &init, BPF_SK_STORAGE_GET_F_CREATE);
}

/* Counts one datagram of flow `k` in the cache of `sk`. 0: not counted
 * there (another flow, no cache): the caller counts it in the table. */
static __always_inline int udp_cached(struct sock *sk, struct net_udp_key *k, int sent, __u64 bytes)
{
	struct net_udp_sk *c;
	__u64 tick;

	k->tgid = bpf_get_current_pid_tgid() >> 32;
	c = udp_cache_of(sk, k);
	if (!c || !udp_same_key(&c->key, k))
		return 0;
	if (sent) {
		__sync_fetch_and_add(&c->val.bytes_sent, bytes);
		__sync_fetch_and_add(&c->val.datagrams_sent, 1);
	} else {
		__sync_fetch_and_add(&c->val.bytes_recv, bytes);
		__sync_fetch_and_add(&c->val.datagrams_recv, 1);
	}
	/* Times as udp_account takes them; a flush racing this may lose a
	 * time (never a count). */
	tick = bpf_jiffies64();
	if (c->val.last_tick != tick || !c->val.first_ns) {
		c->val.last_tick = tick;
		c->val.last_ns = bpf_ktime_get_ns();
		if (!c->val.first_ns)
			c->val.first_ns = c->val.last_ns;
	}
	return 1;
}

/* Moves the counts of cache `c` into the current flow table, or, when the
 * owner filter as it is now drops the cached owner, counts its datagrams
 * as filtered: the decision the table path takes once per flow and
 * interval (udp_account), taken here once per socket and interval. */
static __always_inline void udp_flush(struct net_udp_sk *c)
{
	struct net_udp_val add = c->val;
	__u32 zero = 0;
	void *flows;

	if (!add.datagrams_sent && !add.datagrams_recv)
		return;
	c->val.first_ns = 0;
	if (owner_listed(add.uid, add.comm)) {
		stat_add(NET_STAT_FILTERED, add.datagrams_sent + add.datagrams_recv);
	} else {
		flows = bpf_map_lookup_elem(&net_udp_flows, &zero);
		if (flows)
			udp_merge(flows, &c->key, &add);
	}
	__sync_fetch_and_add(&c->val.bytes_sent, -add.bytes_sent);
	__sync_fetch_and_add(&c->val.datagrams_sent, -add.datagrams_sent);
	__sync_fetch_and_add(&c->val.bytes_recv, -add.bytes_recv);
	__sync_fetch_and_add(&c->val.datagrams_recv, -add.datagrams_recv);
}

/* Every UDP socket a process holds, in every network namespace. */
SEC("iter/task_file")
int udp_flush__iter(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct net_udp_sk *c;
	struct socket *so;
	struct sock *sk;

	if (!file || !ctx->task)
		return 0;
	so = bpf_sock_from_file(file); /* NULL for other files */
	if (!so)
		return 0;
	sk = so->sk;
	if (!sk || sk->sk_protocol != IPPROTO_UDP)
		return 0;
	c = bpf_sk_storage_get(&net_udp_sk, sk, 0, 0);
	if (c)
		udp_flush(c);
	return 0;
}

static __always_inline int udp_destroyed(struct sock *sk)
{
	struct net_udp_sk *c = bpf_sk_storage_get(&net_udp_sk, sk, 0, 0);

	if (c)
		udp_flush(c);
	return 0;
}

SEC("fentry/udp_destroy_sock")
int BPF_PROG(udp_close__fentry, struct sock *sk)
{
	return udp_destroyed(sk);
}

SEC("fentry/udpv6_destroy_sock")
int BPF_PROG(udp_close__fentry__v6, struct sock *sk)
{
	return udp_destroyed(sk);
}
