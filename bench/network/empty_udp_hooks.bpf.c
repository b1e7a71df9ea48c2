// SPDX-License-Identifier: GPL-2.0
/* The floor of bench_traffic's UDP part: empty programs on the very hooks
 * the network plugin's udp_send / udp_recv / udp_addr probes use, through
 * the same hook kinds. Whatever they cost is the price of being attached at
 * all, before any accounting. Two sets (bench_traffic --floor):
 *   fentry  fexit on udp_sendmsg and udpv6_sendmsg, fentry on
 *           skb_consume_udp (what a distribution kernel runs);
 *   traced  tp_btf on sock:sock_send_length and sock:sock_recv_length, and
 *           the syscalls:sys_exit_recvfrom / sys_exit_recvmsg tracepoints
 *           (the tracepoint path: kernels without fentry and kprobes). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("fexit/udp_sendmsg")
int BPF_PROG(fentry_udp_sendmsg, struct sock *sk, struct msghdr *msg, size_t len, int ret)
{
	return 0;
}

SEC("fexit/udpv6_sendmsg")
int BPF_PROG(fentry_udpv6_sendmsg, struct sock *sk, struct msghdr *msg, size_t len, int ret)
{
	return 0;
}

SEC("fentry/skb_consume_udp")
int BPF_PROG(fentry_skb_consume_udp, struct sock *sk, struct sk_buff *skb, int len)
{
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(traced_sock_send_length, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(traced_sock_recv_length, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp/syscalls/sys_exit_recvfrom")
int traced_sys_exit_recvfrom(void *ctx)
{
	return 0;
}

SEC("tp/syscalls/sys_exit_recvmsg")
int traced_sys_exit_recvmsg(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
