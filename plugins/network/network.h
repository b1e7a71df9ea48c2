/* Records and tables shared by network.bpf.c and the network plugin.
 *
 * Event types (SPEC.md §2): tcp_connect, tcp_accept, tcp_close (ring
 * buffer) and tcp_stats (the iter/tcp program's output, read by the plugin
 * once per interval). The kernel writes these structs; schema.cpp describes
 * them field by field to the host. Plain C, usable from .bpf.c (vmlinux.h)
 * and from C++ (<linux/types.h>). */
#ifndef LEAF_PLUGIN_NETWORK_H
#define LEAF_PLUGIN_NETWORK_H

#include "leaf_event.h"

/* Index of each event type in the plugin's EventTypeDesc table. */
enum net_event_type {
	NET_EVENT_TCP_CONNECT = 0,
	NET_EVENT_TCP_ACCEPT = 1,
	NET_EVENT_TCP_CLOSE = 2,
	NET_EVENT_TCP_STATS = 3, /* tcp_stats.bpf.h: written by the iterator */
	NET_EVENT_UDP_FLOW = 4,	 /* udp_flow.bpf.h: built from the flow table */
	NET_EVENT_TYPE_COUNT = 5,
};

/* `direction` values (an Enum field). */
enum net_direction {
	NET_DIR_UNKNOWN = 0, /* connection opened before Leaf started */
	NET_DIR_OUTBOUND = 1,
	NET_DIR_INBOUND = 2,
};

/* `protocol` values (an Enum field). */
enum net_l4_protocol {
	NET_PROTO_TCP = 0,
	NET_PROTO_UDP = 1,
};

/* The fields every event carries, in this order, so that a tcp_close
 * record starts with a complete tcp_connect-shaped record. */
#define NET_TCP_COMMON_FIELDS                                              \
	struct leaf_event_header hdr;                                      \
	__u8 src_ip[16]; /* local end; IPv4 as ::ffff:a.b.c.d */           \
	__u8 dst_ip[16]; /* remote end */                                  \
	__u64 cgroup_id; /* of the process, taken at connect/accept */     \
	__u64 conn_id;	 /* random id shared by one connection's events */ \
	__u32 pid;	 /* thread that connected / accepted */            \
	__u32 tgid;                                                        \
	__u32 uid;                                                         \
	__u16 src_port;                                                    \
	__u16 dst_port;                                                    \
	char comm[16];                                                     \
	__u8 family;	 /* 4 or 6 */                                      \
	__u8 protocol;	 /* enum net_l4_protocol */                        \
	__u8 direction;	 /* enum net_direction */                          \
	__u8 attributed; /* 1: pid/comm/uid/cgroup_id are the owner's */   \
	__u32 pad0

/* tcp_connect (direction outbound) and tcp_accept (direction inbound). */
struct net_tcp_event {
	NET_TCP_COMMON_FIELDS;
};

/* tcp_close: the common fields, then the connection's totals. */
struct net_tcp_close_event {
	NET_TCP_COMMON_FIELDS;
	__u64 bytes_sent;   /* payload bytes sent (first transmissions) */
	__u64 bytes_recv;   /* payload bytes received in order */
	__u64 packets_sent; /* segments sent, SYN/FIN/ACK-only included */
	__u64 packets_recv; /* segments received */
	__u64 duration_ns;  /* from connect() / establishment to close; 0 when unknown */
	__u32 retransmits;  /* segments retransmitted */
	__u32 rtt_us;	    /* smoothed round-trip time at close */
	__s32 error;	    /* socket error at close (ECONNREFUSED, ECONNRESET...), 0 */
	__u8 state;	    /* TCP state left for CLOSE (TCP_ESTABLISHED = 1...) */
	__u8 pad1[3];
};

/* tcp_stats: the common fields, then one interval of a live connection.
 * Counts as tcp_close's (the same kernel counters, read the same way), so a
 * connection's intervals add up to its tcp_close totals. */
struct net_tcp_stats_event {
	NET_TCP_COMMON_FIELDS;
	__u64 bytes_sent; /* in the interval */
	__u64 bytes_recv;
	__u64 packets_sent;
	__u64 packets_recv;
	__u64 bytes_sent_total; /* since the connection opened */
	__u64 bytes_recv_total;
	__u64 packets_sent_total;
	__u64 packets_recv_total;
	__u64 bytes_retrans; /* bytes retransmitted in the interval */
	__u64 interval_ns;   /* since the previous round of the iterator */
	__u32 retransmits;   /* segments retransmitted in the interval */
	__u32 retransmits_total;
	__u32 rtt_us; /* smoothed round-trip time now */
	__u8 state;   /* TCP state now */
	__u8 pad1[3];
};

/* net_tcp_prev: what the last tcp_stats of a connection reported (totals),
 * keyed by the struct sock address; deleted at close. */
struct net_tcp_prev {
	__u64 conn_id; /* of net_conn (0: not tracked); another id: a new socket */
	__u64 bytes_sent;
	__u64 bytes_recv;
	__u64 packets_sent;
	__u64 packets_recv;
	__u64 bytes_retrans;
	__u32 retransmits;
	__u32 pad;
};

/* UDP flows (udp_flow.bpf.h): one entry per owner process, local end and
 * remote end, counted in the kernel, drained by the plugin every interval. */
struct net_udp_key {
	__u8 src_ip[16]; /* the socket's local address (:: / 0.0.0.0 when bound to any) */
	__u8 dst_ip[16]; /* the remote end; :: with port 0 when unknown */
	__u32 tgid;	 /* owner process */
	__u16 src_port;
	__u16 dst_port;
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
};

struct net_udp_val {
	__u64 first_ns;	 /* CLOCK_MONOTONIC: first and last datagram of the interval */
	__u64 last_ns;	 /* within one kernel tick of the last datagram (udp_account) */
	__u64 last_tick; /* jiffies when last_ns was taken */
	__u64 bytes_sent;
	__u64 bytes_recv;
	__u64 datagrams_sent;
	__u64 datagrams_recv;
	__u64 cgroup_id;
	__u32 pid; /* the thread that moved the first datagram */
	__u32 uid;
	char comm[16];
};

/* udp_flow: one flow's interval, built by the plugin from the table. */
struct net_udp_flow_event {
	struct leaf_event_header hdr;
	__u8 src_ip[16];
	__u8 dst_ip[16];
	__u64 cgroup_id;
	__u64 bytes_sent; /* payload bytes, as the application sent and read them */
	__u64 bytes_recv;
	__u64 datagrams_sent;
	__u64 datagrams_recv;
	__u64 first_seen; /* CLOCK_MONOTONIC */
	__u64 last_seen;
	__u64 interval_ns;
	__u32 pid;
	__u32 tgid;
	__u32 uid;
	__u16 src_port;
	__u16 dst_port;
	char comm[16];
	__u8 family;
	__u8 protocol; /* NET_PROTO_UDP */
	__u8 pad[6];
};

#define NET_UDP_TABLE_DEFAULT 65536

/* net_conn: one entry per live connection seen opening, keyed by the
 * kernel's struct sock address (never shown to users). */
struct net_conn {
	__u64 start_ns; /* CLOCK_MONOTONIC: connect() or establishment */
	__u64 cgroup_id;
	__u64 conn_id;
	__u32 pid;
	__u32 tgid;
	__u32 uid;
	__u8 direction; /* enum net_direction */
	__u8 flags;	/* NET_CONN_F_* */
	/* The remote port (host order) of the socket the entry was made for:
	 * an entry whose close the kernel did not report (a run of tcp_close's
	 * program skipped as a recursion miss) stays behind, and a later
	 * socket at the same address must not take it for its own. */
	__u16 peer_port;
	char comm[16];
};

/* Per thread, between a syscall's entry and its UDP hook (the tracepoint
 * hooks and the kprobe fallback of udp_send): the address the application
 * passed, or the datagram waiting for the source address recvfrom/recvmsg
 * write back. */
struct net_udp_pending {
	__u64 sk;	 /* kprobe udp_send: the socket of udp_sendmsg's entry */
	__u64 user_addr; /* recvfrom/recvmsg: where the kernel writes the source */
	__u64 recv_bytes;
	__u8 daddr[16]; /* kprobe udp_send: the destination */
	__u16 dport;
	__u8 have_daddr; /* daddr/dport valid */
	__u8 have_recv;	 /* recv_key/recv_bytes wait for the syscall's exit */
	__u32 pad;
	struct net_udp_key recv_key;
	__u32 pad2; /* no implicit padding: verifiers before 5.12 refuse uninitialized stack bytes
		     */
};

#define NET_CONN_F_ATTRIBUTED 0x1 /* pid/comm/uid/cgroup_id are known */
#define NET_CONN_F_REPORTED   0x2 /* tcp_connect / tcp_accept already emitted */
#define NET_CONN_F_CLOSED     0x4 /* closed, but the delete failed: treated as absent */
#define NET_CONN_F_STATS      0x8 /* net_tcp_prev holds its last tcp_stats */
/* net_tcp_prev may hold an entry made while the socket had no net_conn entry
 * (the iterator saw it moving bytes before accept() or establishment added
 * one): tcp_close deletes it like an untracked connection's. */
#define NET_CONN_F_PREV_MAYBE 0x10

/* Per-CPU statistics the plugin reports through read_counters(). */
enum net_stat {
	NET_STAT_CONN_INSERTED = 0, /* entries added to net_conn */
	NET_STAT_CONN_DELETED = 1,  /* entries removed at close */
	NET_STAT_CONN_INSERT_FAILED = 2,
	NET_STAT_CLOSE_UNATTRIBUTED = 3, /* closes of connections not seen opening */
	NET_STAT_ACCEPT_UNTRACKED = 4,	 /* accept() of a connection not seen established */
	NET_STAT_IGNORED = 5,		 /* events dropped by the ignore lists or ipv6 = false */
	NET_STAT_FILTERED = 6,		 /* events dropped by the owner filter ([filter]) */
	NET_STAT_CONN_DELETE_FAILED = 7, /* deletes at close that failed (entry left as closed) */
	NET_STAT_TCP_PREV_FAILED = 8, /* net_tcp_prev refused an entry (next interval re-counts) */
	NET_STAT_TCP_PREV_LOST = 9,   /* net_tcp_prev entry evicted: one interval not reported */
	NET_STAT_UDP_TABLE_FULL = 10, /* datagrams not counted: the flow table was full */
	NET_STAT_UDP_NO_REMOTE = 11,  /* datagrams of unconnected sockets, remote end unknown */
	NET_STAT_COUNT = 12,
};

/* Owner filter (network.toml [filter]): events of connections whose owner's
 * uid or comm is listed are dropped before the ring buffer. Hash maps the
 * plugin fills at load and on SIGHUP; net_filter_cfg says which are in use. */
#define NET_FILTER_MAX 1024

struct net_filter_cfg {
	__u8 uids;
	__u8 comms;
	__u8 pad[6];
};

struct net_filter_comm {
	char comm[16]; /* NUL-padded, as bpf_get_current_comm() writes it */
};

/* Key of the ignore.addresses LPM trie: prefix length, then the address
 * in IPv6 form (IPv4 mapped into ::ffff:0:0/96). */
struct net_addr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

#define NET_IGNORE_PORTS_MAX 1024
#define NET_IGNORE_ADDRS_MAX 1024

#endif
