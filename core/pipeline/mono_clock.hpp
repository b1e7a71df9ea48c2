// Converts the kernel's CLOCK_MONOTONIC event times to Unix-epoch time.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

namespace leaf::core {

class MonoClock {
 public:
  MonoClock() { refresh(); }

  // Re-measures the offset (call now and then: NTP slews the wall clock).
  // The monotonic reading is bracketed by two wall-clock readings and the
  // offset taken from their midpoint.
  void refresh() {
    timespec r1, m, r2;
    clock_gettime(CLOCK_REALTIME, &r1);
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_REALTIME, &r2);
    int64_t real = (ns(r1) + ns(r2)) / 2;
    offset_.store(real - ns(m), std::memory_order_relaxed);
  }

  int64_t offset() const { return offset_.load(std::memory_order_relaxed); }

  static int64_t monotonic_now() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return ns(t);
  }

 private:
  static int64_t ns(const timespec& t) { return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }
  std::atomic<int64_t> offset_{0};
};

}  // namespace leaf::core
