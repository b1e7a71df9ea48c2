// Test peers: TCP clients and servers in child processes of their own (so
// that pid, comm and the connection's owner differ from the test's), which
// report to the test through a pipe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace leaf::network::test {

// What a peer reports: a local port, how long it held a connection open,
// an errno.
struct PeerReport {
  uint64_t port = 0;
  uint64_t held_ns = 0;
  uint64_t error = 0;
};

// A forked child running `body`; the child exits when body returns.
class ChildProcess {
 public:
  explicit ChildProcess(std::function<void(ChildProcess&)> body);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void send(const PeerReport& r);  // in the child
  PeerReport receive();            // in the parent; throws when the child died first
  int wait();                      // exit status (128 + signal when killed)
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int status_ = -1;
};

struct ServerSpec {
  int family = 4;  // 4 or 6
  std::string address = "127.0.0.1";
  std::string netns;          // run inside this `ip netns` (empty: ours)
  uint64_t expect_bytes = 0;  // read exactly this much from each client
  uint64_t reply_bytes = 0;   // then write this much
  int connections = 1;
  // accept() on a non-blocking listener, retried at once on EAGAIN: the
  // server takes each connection as soon as it is queued, often before the
  // kernel has moved it from SYN_RECV to ESTABLISHED on the other CPU.
  bool spin_accept = false;
};

struct ClientSpec {
  int family = 4;
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  std::string netns;
  uint64_t send_bytes = 0;
  uint64_t expect_bytes = 0;
  uint64_t hold_ms = 0;  // keep the connection open this long before close()
  int connections = 1;
  bool report_exchanged = false;  // also report once the bytes went both ways
};

// Server: names itself "leafnet-server", listens on an ephemeral port,
// reports {port}, then for each connection accepts, reads expect_bytes,
// writes reply_bytes, waits for the client's EOF, closes and reports
// {port, held_ns: accept() return to close()}.
void run_server(ChildProcess& self, const ServerSpec& spec);

// Client: names itself "leafnet-client"; for each connection connects,
// writes send_bytes, reads expect_bytes, waits hold_ms, closes and reports
// {local port, held_ns: connect() return to close(), errno of a failure}
// (and {local port} before the wait when report_exchanged).
void run_client(ChildProcess& self, const ClientSpec& spec);

// Runs a shell command line; throws with its output when it fails.
void shell(const std::string& command);

// The TCP segments the kernel retransmitted in one `ip netns` (empty: ours):
// RetransSegs of its /proc/net/snmp. Every retransmission adds to it and to
// the socket's total_retrans alike (tcp_output.c), so in a namespace that
// holds one connection it is that connection's count, exactly.
uint64_t tcp_retrans_segs(const std::string& netns);

}  // namespace leaf::network::test
