#include "udp_cache.hpp"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace leaf::network {

UdpCacheFlush::UdpCacheFlush(bpf_program* prog) {
  link_ = prog ? bpf_program__attach_iter(prog, nullptr) : nullptr;
  if (!link_)
    throw std::runtime_error(std::string("attaching the udp_flush iterator: ") +
                             std::strerror(prog ? errno : ENOENT));
}

UdpCacheFlush::~UdpCacheFlush() { bpf_link__destroy(link_); }

bool UdpCacheFlush::run() {
  int fd = bpf_iter_create(bpf_link__fd(link_));
  if (fd < 0) return false;
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) != 0) {
    if (n < 0 && errno != EINTR) break;
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return n == 0;
}

}  // namespace leaf::network
