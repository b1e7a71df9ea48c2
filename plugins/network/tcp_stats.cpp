#include "tcp_stats.hpp"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace leaf::network {

TcpStatsIterator::TcpStatsIterator(bpf_program* prog, volatile unsigned long long* since_ns)
    : since_ns_(since_ns), buf_(64 * 1024) {
  link_ = prog ? bpf_program__attach_iter(prog, nullptr) : nullptr;
  if (!link_)
    throw std::runtime_error(std::string("attaching the tcp_stats iterator: ") +
                             std::strerror(prog ? errno : ENOENT));
}

TcpStatsIterator::~TcpStatsIterator() { bpf_link__destroy(link_); }

bool TcpStatsIterator::round(uint64_t now_ns,
                             const std::function<void(const net_tcp_stats_event&)>& emit) {
  int fd = bpf_iter_create(bpf_link__fd(link_));
  if (fd < 0) return false;
  // Records are written whole (bpf_seq_write); a read may end inside one,
  // so the tail of a read waits for the next.
  size_t have = 0;
  bool ok = true;
  while (true) {
    ssize_t n = read(fd, buf_.data() + have, buf_.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      break;
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
    size_t whole = have - have % sizeof(net_tcp_stats_event);
    for (size_t off = 0; off < whole; off += sizeof(net_tcp_stats_event)) {
      net_tcp_stats_event e;
      std::memcpy(&e, buf_.data() + off, sizeof(e));
      emit(e);
    }
    std::memmove(buf_.data(), buf_.data() + whole, have - whole);
    have -= whole;
  }
  int saved = errno;
  close(fd);
  *since_ns_ = now_ns;
  errno = saved;
  return ok;
}

}  // namespace leaf::network
