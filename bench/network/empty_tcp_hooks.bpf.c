// SPDX-License-Identifier: GPL-2.0
/* The floor of bench_network's connect storm: empty programs on the very
 * hooks the network plugin's tcp_close / tcp_connect / tcp_accept probes
 * use, through the same hook kinds. Two sets (bench_network --floor):
 *   fentry  fentry on tcp_set_state, tcp_connect and security_sock_graft
 *           (what a distribution kernel runs);
 *   traced  tp_btf on sock:inet_sock_set_state (tcp_close, with
 *           tcp_connect's work folded in) and the syscalls:sys_exit_accept4
 *           / sys_exit_accept tracepoints (tcp_accept): the tracepoint path. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("fentry/tcp_set_state")
int BPF_PROG(fentry_tcp_set_state, struct sock *sk, int state)
{
	return 0;
}

SEC("fentry/tcp_connect")
int BPF_PROG(fentry_tcp_connect, struct sock *sk)
{
	return 0;
}

SEC("fentry/security_sock_graft")
int BPF_PROG(fentry_security_sock_graft, struct sock *sk, struct socket *parent)
{
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(traced_inet_sock_set_state, const struct sock *sk, const int oldstate,
	     const int newstate)
{
	return 0;
}

SEC("tp/syscalls/sys_exit_accept4")
int traced_sys_exit_accept4(void *ctx)
{
	return 0;
}

SEC("tp/syscalls/sys_exit_accept")
int traced_sys_exit_accept(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
