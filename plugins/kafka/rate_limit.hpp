// At most one log line per interval; counts what it held back.
#pragma once

#include <chrono>
#include <cstdint>

namespace leaf::kafka {

class RateLimit {
 public:
  explicit RateLimit(std::chrono::nanoseconds interval = std::chrono::seconds(10))
      : interval_(interval) {}
  void set_interval(std::chrono::nanoseconds interval) { interval_ = interval; }

  // True when a line may be logged now; otherwise counts one suppressed.
  bool allow() {
    auto now = std::chrono::steady_clock::now();
    if (now < next_) {
      ++suppressed_;
      return false;
    }
    next_ = now + interval_;
    return true;
  }
  // Lines held back since the last allowed one (and resets the count).
  uint64_t take_suppressed() {
    uint64_t n = suppressed_;
    suppressed_ = 0;
    return n;
  }

 private:
  std::chrono::nanoseconds interval_;
  std::chrono::steady_clock::time_point next_{};
  uint64_t suppressed_ = 0;
};

}  // namespace leaf::kafka
