#include "udp_flow.hpp"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>

namespace leaf::network {

net_udp_flow_event udp_flow_event(const net_udp_key& k, const net_udp_val& v, uint64_t now_ns,
                                  uint64_t interval_ns) {
  net_udp_flow_event e{};
  e.hdr.timestamp_ns = now_ns;
  e.hdr.type = NET_EVENT_UDP_FLOW;
  std::memcpy(e.src_ip, k.src_ip, sizeof(e.src_ip));
  std::memcpy(e.dst_ip, k.dst_ip, sizeof(e.dst_ip));
  e.src_port = k.src_port;
  e.dst_port = k.dst_port;
  e.family = k.family;
  e.protocol = NET_PROTO_UDP;
  e.tgid = k.tgid;
  e.pid = v.pid;
  e.uid = v.uid;
  e.cgroup_id = v.cgroup_id;
  std::memcpy(e.comm, v.comm, sizeof(e.comm));
  e.bytes_sent = v.bytes_sent;
  e.bytes_recv = v.bytes_recv;
  e.datagrams_sent = v.datagrams_sent;
  e.datagrams_recv = v.datagrams_recv;
  e.first_seen = v.first_ns;
  e.last_seen = v.last_ns;
  e.interval_ns = interval_ns;
  return e;
}

bool UdpFlowTable::round(uint64_t now_ns,
                         const std::function<void(const net_udp_flow_event&)>& emit) {
  int next = 1 - active_;
  uint32_t zero = 0;
  int next_fd = tables_[next];
  // An update of a map-in-map from user space returns once no BPF program
  // can still hold the old inner map (an RCU grace period).
  if (bpf_map_update_elem(outer_, &zero, &next_fd, BPF_ANY) != 0) return false;
  int old = tables_[active_];
  active_ = next;
  uint64_t interval = now_ns - since_ns_;
  since_ns_ = now_ns;
  net_udp_key key{};
  net_udp_val val{};
  while (bpf_map_get_next_key(old, nullptr, &key) == 0) {
    if (bpf_map_lookup_elem(old, &key, &val) == 0) {
      emit(udp_flow_event(key, val, now_ns, interval));
      ++flows_;
    }
    if (bpf_map_delete_elem(old, &key) != 0 && errno != ENOENT) break;
  }
  return true;
}

}  // namespace leaf::network
