// tcp_stats in user space: one round of the iter/tcp program (tcp_stats.bpf.h)
// per interval, its records handed to the host. See README.md.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "network.h"

namespace leaf::network {

class TcpStatsIterator {
 public:
  // `prog`: the loaded tcp_stats__iter program; `since_ns`: its
  // tcp_stats_since_ns variable (the skeleton's .bss). Throws
  // std::runtime_error when the iterator cannot be attached.
  TcpStatsIterator(bpf_program* prog, volatile unsigned long long* since_ns);
  ~TcpStatsIterator();
  TcpStatsIterator(const TcpStatsIterator&) = delete;
  TcpStatsIterator& operator=(const TcpStatsIterator&) = delete;

  // Starts the first interval at `now_ns` (CLOCK_MONOTONIC).
  void baseline(uint64_t now_ns) { *since_ns_ = now_ns; }

  // Walks the TCP sockets once: `emit` gets every record, in socket order.
  // Returns false (errno set) when the walk failed part way; the records
  // read until then were emitted and are remembered by the kernel.
  bool round(uint64_t now_ns, const std::function<void(const net_tcp_stats_event&)>& emit);

 private:
  bpf_link* link_ = nullptr;
  volatile unsigned long long* since_ns_;
  std::vector<char> buf_;
};

}  // namespace leaf::network
