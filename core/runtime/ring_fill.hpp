// How full a BPF ring buffer is: the bytes the kernel has written and the
// dispatcher not yet consumed (producer_pos - consumer_pos), over the ring's
// size. The two positions are read from the ring's own pages, mapped
// read-only (the kernel's BPF_MAP_TYPE_RINGBUF mmap layout: consumer page,
// producer page): two loads per sample, no system call. libbpf 1.1.2 (Debian
// 12) has no ring__avail_data_size() yet (libbpf 1.3), hence the mapping.
//
// The dispatcher samples every ring when it starts draining it (the fullest
// moment) and the metrics collector when it scrapes; a scrape reports the
// highest fill since the previous one, so pressure between scrapes shows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace leaf::core {

class RingFill {
 public:
  RingFill() = default;
  ~RingFill();
  RingFill(const RingFill&) = delete;
  RingFill& operator=(const RingFill&) = delete;

  // Maps the positions of the ring `map_fd`. Returns why not (then fill is
  // never reported), or an empty string.
  std::string open(int map_fd);
  bool ok() const { return base_ != nullptr; }
  // The ring map's name, as the kernel knows it (at most 15 characters).
  const std::string& name() const { return name_; }

  // The current fill, 0..1; remembered as the peak when higher.
  double sample() {
    if (!base_) return 0;
    uint64_t cons = __atomic_load_n(cons_, __ATOMIC_ACQUIRE);
    uint64_t prod = __atomic_load_n(prod_, __ATOMIC_ACQUIRE);
    double f = prod > cons ? static_cast<double>(prod - cons) / size_ : 0;
    if (f > 1) f = 1;
    if (f > peak_) peak_ = f;
    return f;
  }
  // The highest fill since the previous call (sampling once more now).
  double take_peak() {
    sample();
    double p = peak_;
    peak_ = 0;
    return p;
  }

 private:
  void* base_ = nullptr;
  size_t mapped_ = 0;
  const uint64_t* cons_ = nullptr;
  const uint64_t* prod_ = nullptr;
  uint32_t size_ = 0;
  double peak_ = 0;
  std::string name_;
};

}  // namespace leaf::core
