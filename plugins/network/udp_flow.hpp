// udp_flow in user space: every interval, the kernel's flow table is
// switched to its twin and drained into udp_flow events (udp_flow.bpf.h).
#pragma once

#include <cstdint>
#include <functional>

#include "network.h"

namespace leaf::network {

class UdpFlowTable {
 public:
  // `outer`: net_udp_flows (array of one map, pointing at `a` after load);
  // `a`, `b`: the two tables.
  UdpFlowTable(int outer, int a, int b) : outer_(outer), tables_{a, b} {}

  // Starts the first interval at `now_ns` (CLOCK_MONOTONIC).
  void baseline(uint64_t now_ns) { since_ns_ = now_ns; }

  // Switches the kernel to the other table (the kernel waits until no
  // program still counts into the old one), then emits and deletes every
  // flow of the old one. Returns false (errno set) when the switch failed:
  // the kernel then keeps counting into the same table, drained next time.
  bool round(uint64_t now_ns, const std::function<void(const net_udp_flow_event&)>& emit);

  // Flows drained so far.
  uint64_t flows() const { return flows_; }

 private:
  int outer_;
  int tables_[2];
  int active_ = 0;  // index into tables_ of the table the kernel counts into
  uint64_t since_ns_ = 0;
  uint64_t flows_ = 0;
};

// The event of one drained flow.
net_udp_flow_event udp_flow_event(const net_udp_key& k, const net_udp_val& v, uint64_t now_ns,
                                  uint64_t interval_ns);

}  // namespace leaf::network
