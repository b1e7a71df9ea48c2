/* SPDX-License-Identifier: GPL-2.0 */
/* udp_flow: UDP datagrams counted in the kernel per (owner process, local
 * end, remote end), drained by the plugin once per interval.
 *
 * Part of network.bpf.c's object (included at its end: it shares the
 * ignore lists and the owner filter). Two probes, each with its hooks in
 * order of preference:
 *
 *   udp_send  fexit/udp_sendmsg + fexit/udpv6_sendmsg (the destination from
 *             the call's msghdr, else the connected socket's);
 *             kprobe + kretprobe on the same;
 *             sock:sock_send_length (tp_btf, raw_tp, tracepoint; 6.3+),
 *             the destination of an unconnected socket from the sockaddr
 *             the sendto/sendmsg call passed (the task's saved syscall
 *             registers).
 *   udp_recv  fentry/kprobe on skb_consume_udp (every datagram a process
 *             reads, both families, the source from the packet's headers);
 *             sock:sock_recv_length (6.3+), the source of an unconnected
 *             socket's datagram from udp_addr.
 *   udp_addr  classic tracepoints (tracefs) on the exits of recvfrom and
 *             recvmsg (the source address the kernel wrote back). Loaded
 *             only under sock_recv_length; without it, datagrams read on
 *             unconnected sockets are counted with an unknown remote end
 *             (NET_STAT_UDP_NO_REMOTE).
 *
 * The flow table is double-buffered: net_udp_flows (an array of one map)
 * points at net_udp_flows_a or _b; the plugin points it at the other one,
 * which makes the kernel wait until no program still uses the old one
 * (map-in-map updates wait for an RCU grace period), then drains the old
 * one. No datagram is counted twice or lost between two intervals. A full
 * table refuses new flows: their datagrams are counted in
 * NET_STAT_UDP_TABLE_FULL. */

#define NET_MSG_PEEK 2

struct net_udp_table {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NET_UDP_TABLE_DEFAULT); /* udp_table_size */
	__type(key, struct net_udp_key);
	__type(value, struct net_udp_val);
};

struct net_udp_table net_udp_flows_a SEC(".maps");
struct net_udp_table net_udp_flows_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct net_udp_table);
} net_udp_flows SEC(".maps") = {
	.values = {[0] = &net_udp_flows_a},
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct net_udp_pending);
} net_udp_pending SEC(".maps");

/* The thread's entry of net_udp_pending, made when missing. */
static __always_inline struct net_udp_pending *pending_of_thread(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct net_udp_pending zero, *p = bpf_map_lookup_elem(&net_udp_pending, &id);

	if (p)
		return p;
	__builtin_memset(&zero, 0, sizeof(zero));
	bpf_map_update_elem(&net_udp_pending, &id, &zero, BPF_ANY);
	return bpf_map_lookup_elem(&net_udp_pending, &id);
}

/* A field of a socket: a direct load where `btf` says the program got the
 * socket as a BTF-typed argument (fentry/fexit, tp_btf), else a CO-RE probe
 * read (kprobe, raw_tp, tracepoint: the verifier refuses direct loads
 * there). `btf` is a constant at every call site: the other branch is
 * compiled out. A direct load is one instruction; a probe read is a helper
 * call (these run for every datagram, and sock_*_length for every read and
 * write of every socket). */
#define SK_FIELD(sk, btf, path) ((btf) ? (sk)->path : BPF_CORE_READ(sk, path))

static __always_inline int is_udp(struct sock *sk, int btf)
{
	return sk && SK_FIELD(sk, btf, sk_protocol) == IPPROTO_UDP;
}

/* read_tuple() for a UDP socket. With `btf`: direct loads, the local port
 * from skc_num (a socket sending or reading datagrams is bound). */
static __always_inline int udp_tuple(struct sock *sk, struct net_tuple *t, int btf)
{
	__u16 family;
	int i;

	if (!btf)
		return read_tuple(sk, t);
	family = sk->__sk_common.skc_family;
	if (family == NET_AF_INET) {
		map_ipv4(t->saddr, sk->__sk_common.skc_rcv_saddr);
		map_ipv4(t->daddr, sk->__sk_common.skc_daddr);
		t->family = 4;
	} else if (family == NET_AF_INET6) {
		__u32 *s = (__u32 *)t->saddr, *d = (__u32 *)t->daddr;

		for (i = 0; i < 4; i++) {
			s[i] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			d[i] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];
		}
		t->family = is_v4_mapped(t->daddr) ? 4 : 6;
	} else {
		return -1;
	}
	t->sport = sk->__sk_common.skc_num;
	t->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	return 0;
}

/* A struct sockaddr_in or _in6 (user or kernel memory) as an IPv6-form
 * address and a port. */
static __always_inline int sockaddr_read(const void *addr, int user, __u8 *out, __u16 *port)
{
	struct sockaddr_in6 sa = {};
	long err;

	if (!addr)
		return -1;
	err = user ? bpf_probe_read_user(&sa, sizeof(struct sockaddr_in), addr)
		   : bpf_probe_read_kernel(&sa, sizeof(struct sockaddr_in), addr);
	if (err)
		return -1;
	if (sa.sin6_family == NET_AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;

		map_ipv4(out, in->sin_addr.s_addr);
		*port = bpf_ntohs(in->sin_port);
		return 0;
	}
	if (sa.sin6_family != NET_AF_INET6)
		return -1;
	err = user ? bpf_probe_read_user(&sa, sizeof(sa), addr)
		   : bpf_probe_read_kernel(&sa, sizeof(sa), addr);
	if (err)
		return -1;
	__builtin_memcpy(out, &sa.sin6_addr, 16);
	*port = bpf_ntohs(sa.sin6_port);
	return 0;
}

/* The flow key of a datagram of `sk`: the socket's local end, the remote
 * end `raddr`/`rport` when `have` says they hold it, else the connected
 * socket's (unknown: unspecified address, port 0; counted). -1: not
 * reported (ignore lists). `raddr` always points at 16 bytes: a pointer
 * that may be NULL, chosen by a condition the compiler keeps in another
 * register, is refused by verifiers before 5.13 (they lose the link
 * between the two: "R8 invalid mem access 'inv'" on 5.10). */
static __always_inline int udp_key(struct sock *sk, const __u8 *raddr, int have, __u16 rport,
				   struct net_udp_key *k, int btf)
{
	struct net_tuple t = {};

	if (udp_tuple(sk, &t, btf))
		return -1;
	if (have) {
		__builtin_memcpy(t.daddr, raddr, 16);
		t.dport = rport;
		t.family = is_v4_mapped(t.daddr) ? 4 : 6;
	} else if (t.dport == 0) {
		stat_inc(NET_STAT_UDP_NO_REMOTE);
	}
	if (ignored(&t))
		return -1;
	__builtin_memcpy(k->src_ip, t.saddr, 16);
	__builtin_memcpy(k->dst_ip, t.daddr, 16);
	k->src_port = t.sport;
	k->dst_port = t.dport;
	k->family = t.family;
	return 0;
}

/* The owner of a datagram: the current task, unless the owner filter
 * drops it (counted). */
static __always_inline int udp_owner(struct net_conn *owner)
{
	take_task(owner);
	return owner_filtered(owner);
}

/* Adds one datagram of `bytes` of the current task to its flow. The owner's
 * details and the owner filter are taken when the flow enters the table
 * (once per flow and interval), not per datagram. The clock is read when
 * the flow enters the table and then once per kernel tick (jiffy) in which
 * the flow moves datagrams: last_ns is the time of the first datagram of
 * the flow's last tick, within one tick (1/HZ) of its last datagram. A
 * datagram costs a load of jiffies_64 instead of a clock read (the
 * coarse clock, bpf_ktime_get_coarse_ns, is refused to tracing programs). */
/* Adds `add` (counts, and the owner and times a new flow enters with) to
 * flow `k` of the table `flows`. A full table refuses a new flow: its
 * datagrams are counted in NET_STAT_UDP_TABLE_FULL. */
static __always_inline void udp_merge(void *flows, const struct net_udp_key *k,
				      const struct net_udp_val *add)
{
	struct net_udp_val *v = bpf_map_lookup_elem(flows, k);
	int err;

	if (!v) {
		err = bpf_map_update_elem(flows, k, add, BPF_NOEXIST);
		if (err == 0)
			return;
		if (err != -NET_EEXIST) {
			stat_add(NET_STAT_UDP_TABLE_FULL,
				 add->datagrams_sent + add->datagrams_recv);
			return;
		}
		v = bpf_map_lookup_elem(flows, k); /* another CPU added it meanwhile */
		if (!v)
			return;
	}
	__sync_fetch_and_add(&v->bytes_sent, add->bytes_sent);
	__sync_fetch_and_add(&v->datagrams_sent, add->datagrams_sent);
	__sync_fetch_and_add(&v->bytes_recv, add->bytes_recv);
	__sync_fetch_and_add(&v->datagrams_recv, add->datagrams_recv);
	if (add->first_ns < v->first_ns)
		v->first_ns = add->first_ns;
	if (add->last_ns > v->last_ns) {
		v->last_ns = add->last_ns;
		v->last_tick = add->last_tick;
	}
}

static __always_inline void udp_account(struct net_udp_key *k, int sent, __u64 bytes)
{
	struct net_udp_val nv = {}, *v;
	struct net_conn owner = {};
	__u64 tick = bpf_jiffies64();
	__u32 zero = 0;
	void *flows;

	k->tgid = bpf_get_current_pid_tgid() >> 32;
	flows = bpf_map_lookup_elem(&net_udp_flows, &zero);
	if (!flows)
		return;
	v = bpf_map_lookup_elem(flows, k);
	if (!v) {
		if (udp_owner(&owner))
			return;
		nv.first_ns = nv.last_ns = bpf_ktime_get_ns();
		nv.last_tick = tick;
		nv.cgroup_id = owner.cgroup_id;
		nv.pid = owner.pid;
		nv.uid = owner.uid;
		__builtin_memcpy(nv.comm, owner.comm, sizeof(nv.comm));
		if (sent) {
			nv.bytes_sent = bytes;
			nv.datagrams_sent = 1;
		} else {
			nv.bytes_recv = bytes;
			nv.datagrams_recv = 1;
		}
		udp_merge(flows, k, &nv);
		return;
	}
	if (sent) {
		__sync_fetch_and_add(&v->bytes_sent, bytes);
		__sync_fetch_and_add(&v->datagrams_sent, 1);
	} else {
		__sync_fetch_and_add(&v->bytes_recv, bytes);
		__sync_fetch_and_add(&v->datagrams_recv, 1);
	}
	if (v->last_tick != tick) {
		v->last_tick = tick;
		v->last_ns = bpf_ktime_get_ns();
	}
}

#include "udp_cache.bpf.h"

/* One datagram of `bytes` sent or read by the current task on `sk`, to or
 * from `raddr`/`rport` when `have` (else the connected socket's peer);
 * `btf`: see SK_FIELD; `cache`: a program that may count in the socket's
 * cache (fentry/fexit: udp_cache.bpf.h). */
static __always_inline int udp_datagram(struct sock *sk, const __u8 *raddr, int have, __u16 rport,
					int sent, long bytes, int btf, int cache)
{
	struct net_udp_key k = {};

	if (bytes < 0 || !is_udp(sk, btf) || udp_key(sk, raddr, have, rport, &k, btf))
		return 0;
	if (cache && udp_cache_on && udp_cached(sk, &k, sent, bytes))
		return 0;
	udp_account(&k, sent, bytes);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* udp_send */

/* udp_sendmsg/udpv6_sendmsg returned `ret`: the destination is the
 * msghdr's (a kernel copy of sendto's or sendmsg's address) or the
 * connected socket's. */
static __always_inline int udp_sent_msg(struct sock *sk, struct msghdr *msg, int ret)
{
	__u8 daddr[16] = {};
	__u16 dport = 0;
	void *name;
	int have;

	if (ret < 0)
		return 0;
	name = msg->msg_name; /* fexit: BTF-typed arguments */
	have = name && sockaddr_read(name, 0, daddr, &dport) == 0;
	return udp_datagram(sk, daddr, have, dport, 1, ret, 1, 1);
}

/* udpv6_sendmsg hands IPv4 destinations to udp_sendmsg: datagrams of
 * AF_INET6 sockets are counted at udpv6_sendmsg only. */
static __always_inline int is_inet4_sock(struct sock *sk, int btf)
{
	return SK_FIELD(sk, btf, __sk_common.skc_family) == NET_AF_INET;
}

SEC("fexit/udp_sendmsg")
int BPF_PROG(udp_send__fentry, struct sock *sk, struct msghdr *msg, size_t len, int ret)
{
	return is_inet4_sock(sk, 1) ? udp_sent_msg(sk, msg, ret) : 0;
}

SEC("fexit/udpv6_sendmsg")
int BPF_PROG(udp_send__fentry__v6, struct sock *sk, struct msghdr *msg, size_t len, int ret)
{
	return udp_sent_msg(sk, msg, ret);
}

/* kprobe fallback: the entry remembers the socket and the destination. */
static __always_inline int udp_send_enter(struct sock *sk, struct msghdr *msg)
{
	struct net_udp_pending p;
	__u64 id = bpf_get_current_pid_tgid();
	void *name = BPF_CORE_READ(msg, msg_name);

	__builtin_memset(&p, 0, sizeof(p));
	p.sk = (__u64)sk;
	p.have_daddr = name && sockaddr_read(name, 0, p.daddr, &p.dport) == 0;
	bpf_map_update_elem(&net_udp_pending, &id, &p, BPF_ANY);
	return 0;
}

static __always_inline int udp_send_return(int ret, int want_inet6)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct net_udp_pending *p = bpf_map_lookup_elem(&net_udp_pending, &id);
	struct sock *sk;
	__u8 daddr[16];
	__u16 dport;
	int have;

	if (!p || !p->sk)
		return 0;
	sk = (struct sock *)p->sk;
	if (!want_inet6 && !is_inet4_sock(sk, 0))
		return 0; /* udp_sendmsg under udpv6_sendmsg: its return counts */
	have = p->have_daddr;
	__builtin_memcpy(daddr, p->daddr, 16);
	dport = p->dport;
	bpf_map_delete_elem(&net_udp_pending, &id);
	if (ret < 0)
		return 0;
	return udp_datagram(sk, daddr, have, dport, 1, ret, 0, 0);
}

SEC("kprobe/udp_sendmsg")
int BPF_KPROBE(udp_send__kprobe, struct sock *sk, struct msghdr *msg)
{
	return is_inet4_sock(sk, 0) ? udp_send_enter(sk, msg) : 0;
}

SEC("kretprobe/udp_sendmsg")
int BPF_KRETPROBE(udp_send__kprobe__ret, int ret)
{
	return udp_send_return(ret, 0);
}

SEC("kprobe/udpv6_sendmsg")
int BPF_KPROBE(udp_send__kprobe__v6, struct sock *sk, struct msghdr *msg)
{
	return udp_send_enter(sk, msg);
}

SEC("kretprobe/udpv6_sendmsg")
int BPF_KRETPROBE(udp_send__kprobe__v6ret, int ret)
{
	return udp_send_return(ret, 1);
}

/* The syscall the current task is in, from its saved user registers
 * (bpf_task_pt_regs, 5.15+: every kernel with the sock_*_length
 * tracepoints has it; a BTF-typed pointer: direct loads, no probe reads). Its arguments are read
 * where the syscall's own tracepoints would have shown them, without running a program at every
 * sendto/recvfrom of every process (the syscalls:* tracepoints also put
 * every syscall of every task on the kernel's slow path). */
#if defined(__TARGET_ARCH_x86)
#define NET_NR_SENDTO	     44
#define NET_NR_RECVFROM	     45
#define NET_NR_SENDMSG	     46
#define NET_NR_RECVMSG	     47
#define NET_SYSCALL_NR(regs) ((regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define NET_NR_SENDTO	     206
#define NET_NR_RECVFROM	     207
#define NET_NR_SENDMSG	     211
#define NET_NR_RECVMSG	     212
#define NET_SYSCALL_NR(regs) ((regs)->syscallno)
#endif

/* The user address of the sockaddr the current sendto/sendmsg names
 * (`send`), or that recvfrom/recvmsg asked to be filled with the source
 * (!`send`); 0 for other syscalls (sendmmsg, recvmmsg, write, read,
 * io_uring) and when none was given. */
static __always_inline __u64 syscall_sockaddr(int send)
{
#ifdef NET_NR_SENDTO
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	struct user_msghdr *m;
	void *name = NULL;
	long nr;

	if (!regs)
		return 0;
	nr = NET_SYSCALL_NR(regs);
	if (nr == (send ? NET_NR_SENDTO : NET_NR_RECVFROM))
		return PT_REGS_PARM5_SYSCALL(regs);
	if (nr != (send ? NET_NR_SENDMSG : NET_NR_RECVMSG))
		return 0;
	m = (struct user_msghdr *)PT_REGS_PARM2_SYSCALL(regs);
	if (!m || bpf_probe_read_user(&name, sizeof(name), &m->msg_name))
		return 0;
	return (__u64)name;
#else
	return 0;
#endif
}

/* sock_send_length: every sendmsg of every socket, after the fact. The
 * destination: the sockaddr the syscall passed (read from the user's
 * memory, which the kernel has just copied), else the connected socket's.
 * The caller checked that `sk` is a UDP socket. */
static __always_inline int udp_send_traced(struct sock *sk, int ret, int btf)
{
	__u8 daddr[16] = {};
	__u16 dport = 0;
	int have;

	if (ret < 0)
		return 0;
	have = sockaddr_read((const void *)syscall_sockaddr(1), 1, daddr, &dport) == 0;
	return udp_datagram(sk, daddr, have, dport, 1, ret, btf, 0);
}

/* TP_PROTO(struct sock *sk, int ret, int flags). Every write of every
 * socket (TCP too): the protocol first, by a direct load. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(udp_send__tp_btf, struct sock *sk, int ret, int flags)
{
	if (!sk || sk->sk_protocol != IPPROTO_UDP)
		return 0;
	return udp_send_traced(sk, ret, 1);
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(udp_send__raw_tp, struct sock *sk, int ret, int flags)
{
	if (!is_udp(sk, 0))
		return 0;
	return udp_send_traced(sk, ret, 0);
}

SEC("tp/sock/sock_send_length")
int udp_send__tp(struct trace_event_raw_sock_msg_length *ctx)
{
	if (ctx->protocol != IPPROTO_UDP)
		return 0;
	return udp_send_traced((struct sock *)ctx->sk, ctx->ret, 0);
}

/* ------------------------------------------------------------------------ */
/* udp_recv */

/* skb_consume_udp(sk, skb, len): a datagram read (len < 0: peeked, not
 * consumed). The source is in the packet's headers: one read of the IP
 * header's first 24 bytes (the version, and the source address of either
 * family: 12..15 for IPv4, 8..23 for IPv6; a UDP packet has at least 28
 * bytes of headers), one of the UDP source port. `btf`: the skb's fields
 * by direct loads (fentry). */
static __always_inline int udp_consumed(struct sock *sk, struct sk_buff *skb, int len, int btf)
{
	unsigned char *head = btf ? skb->head : BPF_CORE_READ(skb, head);
	__u16 nh = btf ? skb->network_header : BPF_CORE_READ(skb, network_header);
	__u16 th = btf ? skb->transport_header : BPF_CORE_READ(skb, transport_header);
	__u8 ip[24], saddr[16];
	__be16 sport = 0;
	__be32 a;

	if (len < 0 || !head)
		return 0;
	if (bpf_probe_read_kernel(ip, sizeof(ip), head + nh))
		return 0;
	if ((ip[0] >> 4) == 4) {
		__builtin_memcpy(&a, ip + 12, 4); /* iphdr.saddr */
		map_ipv4(saddr, a);
	} else if ((ip[0] >> 4) == 6) {
		__builtin_memcpy(saddr, ip + 8, 16); /* ipv6hdr.saddr */
	} else {
		return 0;
	}
	if (bpf_probe_read_kernel(&sport, 2, head + th))
		return 0;
	return udp_datagram(sk, saddr, 1, bpf_ntohs(sport), 0, len, btf, btf);
}

SEC("fentry/skb_consume_udp")
int BPF_PROG(udp_recv__fentry, struct sock *sk, struct sk_buff *skb, int len)
{
	return udp_consumed(sk, skb, len, 1);
}

SEC("kprobe/skb_consume_udp")
int BPF_KPROBE(udp_recv__kprobe, struct sock *sk, struct sk_buff *skb, int len)
{
	return udp_consumed(sk, skb, len, 0);
}

/* Set by the plugin once udp_addr's syscall exits are attached: only then
 * does an unconnected socket's datagram wait for them. */
__u8 udp_addr_on = 0;

/* sock_recv_length: after the datagram was read. A connected socket names
 * its peer; an unconnected one's datagram waits for the exit of
 * recvfrom/recvmsg (udp_addr), which has written the source to the
 * sockaddr the application passed (noted here). Without one it is counted
 * with an unknown remote end. The caller checked that `sk` is a UDP
 * socket. */
static __always_inline int udp_recv_traced(struct sock *sk, int ret, int flags, int btf)
{
	struct net_udp_pending *p;
	struct net_tuple t = {};
	__u8 none[16] = {};
	__u64 uaddr;

	if (ret < 0 || (flags & NET_MSG_PEEK))
		return 0;
	if (SK_FIELD(sk, btf, __sk_common.skc_dport) != 0 || !udp_addr_on)
		return udp_datagram(sk, none, 0, 0, 0, ret, btf, 0);
	uaddr = syscall_sockaddr(0);
	if (!uaddr || !(p = pending_of_thread()))
		return udp_datagram(sk, none, 0, 0, 0, ret, btf, 0); /* counted: no remote */
	if (udp_tuple(sk, &t, btf))
		return 0;
	__builtin_memcpy(p->recv_key.src_ip, t.saddr, 16);
	p->recv_key.src_port = t.sport;
	p->recv_key.family = t.family;
	p->user_addr = uaddr;
	p->recv_bytes = (__u64)ret;
	p->have_recv = 1;
	return 0;
}

/* TP_PROTO(struct sock *sk, int ret, int flags). Every read of every
 * socket (TCP too): the protocol first, by a direct load. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(udp_recv__tp_btf, struct sock *sk, int ret, int flags)
{
	if (!sk || sk->sk_protocol != IPPROTO_UDP)
		return 0;
	return udp_recv_traced(sk, ret, flags, 1);
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(udp_recv__raw_tp, struct sock *sk, int ret, int flags)
{
	if (!is_udp(sk, 0))
		return 0;
	return udp_recv_traced(sk, ret, flags, 0);
}

SEC("tp/sock/sock_recv_length")
int udp_recv__tp(struct trace_event_raw_sock_msg_length *ctx)
{
	if (ctx->protocol != IPPROTO_UDP)
		return 0;
	return udp_recv_traced((struct sock *)ctx->sk, ctx->ret, ctx->flags, 0);
}

/* ------------------------------------------------------------------------ */
/* udp_addr: the source addresses of datagrams read on unconnected sockets,
 * at the exit of recvfrom/recvmsg (classic tracepoints, tracefs), for the
 * sock_recv_length hooks. */

/* recvfrom/recvmsg exit: the datagram sock_recv_length held, with the
 * source address the kernel has now written. */
static __always_inline int source_written(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct net_udp_pending *p = bpf_map_lookup_elem(&net_udp_pending, &id);
	struct net_udp_key k;
	struct net_tuple t = {};
	__u64 bytes;

	if (!p || !p->have_recv)
		return 0;
	p->have_recv = 0;
	k = p->recv_key;
	bytes = p->recv_bytes;
	__builtin_memcpy(t.saddr, k.src_ip, 16);
	t.sport = k.src_port;
	t.family = k.family;
	if (sockaddr_read((const void *)p->user_addr, 1, t.daddr, &t.dport) == 0)
		t.family = is_v4_mapped(t.daddr) ? 4 : 6;
	else
		stat_inc(NET_STAT_UDP_NO_REMOTE);
	if (ignored(&t))
		return 0;
	__builtin_memcpy(k.dst_ip, t.daddr, 16);
	k.dst_port = t.dport;
	k.family = t.family;
	udp_account(&k, 0, bytes);
	return 0;
}

SEC("tp/syscalls/sys_exit_recvfrom")
int udp_addr__tp__recvfrom_exit(struct trace_event_raw_sys_exit *ctx)
{
	return source_written();
}

SEC("tp/syscalls/sys_exit_recvmsg")
int udp_addr__tp__recvmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	return source_written();
}
