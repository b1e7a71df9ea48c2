/* Records and tables shared by network.bpf.c and the network plugin.
 *
 * Three event types (SPEC.md §2): tcp_connect, tcp_accept, tcp_close. The
 * kernel writes these structs into the ring buffer; schema.cpp describes
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
	NET_EVENT_TYPE_COUNT = 3,
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
};

/* The fields every event carries, in this order, so that a tcp_close
 * record starts with a complete tcp_connect-shaped record. */
#define NET_TCP_COMMON_FIELDS                                                   \
	struct leaf_event_header hdr;                                           \
	__u8 src_ip[16];     /* local end; IPv4 as ::ffff:a.b.c.d */          \
	__u8 dst_ip[16];     /* remote end */                                   \
	__u64 cgroup_id;     /* of the process, taken at connect/accept */     \
	__u64 conn_id;       /* random id shared by one connection's events */ \
	__u32 pid;           /* thread that connected / accepted */            \
	__u32 tgid;                                                             \
	__u32 uid;                                                              \
	__u16 src_port;                                                         \
	__u16 dst_port;                                                         \
	char comm[16];                                                          \
	__u8 family;         /* 4 or 6 */                                       \
	__u8 protocol;       /* enum net_l4_protocol */                            \
	__u8 direction;      /* enum net_direction */                           \
	__u8 attributed;     /* 1: pid/comm/uid/cgroup_id are the owner's */    \
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
	__u32 rtt_us;       /* smoothed round-trip time at close */
	__s32 error;        /* socket error at close (ECONNREFUSED, ECONNRESET...), 0 */
	__u8 state;         /* TCP state left for CLOSE (TCP_ESTABLISHED = 1...) */
	__u8 pad1[3];
};

/* net_conn: one entry per live connection seen opening, keyed by the
 * kernel's struct sock address (never shown to users). */
struct net_conn {
	__u64 start_ns;  /* CLOCK_MONOTONIC: connect() or establishment */
	__u64 cgroup_id;
	__u64 conn_id;
	__u32 pid;
	__u32 tgid;
	__u32 uid;
	__u8 direction;  /* enum net_direction */
	__u8 flags;      /* NET_CONN_F_* */
	__u16 pad;
	char comm[16];
};

#define NET_CONN_F_ATTRIBUTED 0x1 /* pid/comm/uid/cgroup_id are known */
#define NET_CONN_F_REPORTED 0x2   /* tcp_connect / tcp_accept already emitted */
#define NET_CONN_F_CLOSED 0x4     /* closed, but the delete failed: treated as absent */

/* Per-CPU statistics the plugin reports through read_counters(). */
enum net_stat {
	NET_STAT_CONN_INSERTED = 0, /* entries added to net_conn */
	NET_STAT_CONN_DELETED = 1,  /* entries removed at close */
	NET_STAT_CONN_INSERT_FAILED = 2,
	NET_STAT_CLOSE_UNATTRIBUTED = 3, /* closes of connections not seen opening */
	NET_STAT_ACCEPT_UNTRACKED = 4,   /* accept() of a connection not seen established */
	NET_STAT_IGNORED = 5,            /* events dropped by the ignore lists or ipv6 = false */
	NET_STAT_FILTERED = 6,           /* events dropped by the owner filter ([filter]) */
	NET_STAT_CONN_DELETE_FAILED = 7, /* deletes at close that failed (entry left as closed) */
	NET_STAT_COUNT = 8,
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
