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
  // offset taken from their midpoint. A thread preempted between the readings
  // (a loaded machine, a vCPU descheduled by its hypervisor) gets a wide
  // bracket and an offset off by up to half its width, so the narrowest of a
  // few brackets is kept: its error is at most half of that width.
  void refresh() {
    int64_t best_width = INT64_MAX;
    int64_t best_offset = 0;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      timespec r1, m, r2;
      clock_gettime(CLOCK_REALTIME, &r1);
      clock_gettime(CLOCK_MONOTONIC, &m);
      clock_gettime(CLOCK_REALTIME, &r2);
      int64_t width = ns(r2) - ns(r1);
      if (width < best_width) {
        best_width = width;
        best_offset = (ns(r1) + ns(r2)) / 2 - ns(m);
      }
    }
    offset_.store(best_offset, std::memory_order_relaxed);
  }

  int64_t offset() const { return offset_.load(std::memory_order_relaxed); }

  static int64_t monotonic_now() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return ns(t);
  }

 private:
  static constexpr int kAttempts = 8;
  static int64_t ns(const timespec& t) { return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }
  std::atomic<int64_t> offset_{0};
};

}  // namespace leaf::core
