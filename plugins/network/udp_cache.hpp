// udp_flow's per-socket caches in user space (udp_cache.bpf.h): once per
// interval, before the flow table is switched, the udp_flush iterator moves
// what every socket's cache counted into the table.
#pragma once

#include <bpf/libbpf.h>

namespace leaf::network {

class UdpCacheFlush {
 public:
  // Attaches the iterator program (udp_flush__iter, loaded); throws
  // std::runtime_error when it cannot.
  explicit UdpCacheFlush(bpf_program* prog);
  ~UdpCacheFlush();
  UdpCacheFlush(const UdpCacheFlush&) = delete;
  UdpCacheFlush& operator=(const UdpCacheFlush&) = delete;

  // One walk of every socket file of every process (the program writes
  // nothing: reading to the end runs it). False (errno set) when the walk
  // failed: the caches keep their counts for the next one (or the close).
  bool run();

 private:
  bpf_link* link_ = nullptr;
};

}  // namespace leaf::network
