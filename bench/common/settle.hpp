// A pause between a benchmark's setup or teardown (leaf-host started or
// stopped, empty programs attached or detached) and its next timed storm
// (--settle-ms). bench_network's storms right after a leaf-host stop ran
// slower, and the phases compared with them were biased; the cause was not
// found (e2e-loadgen's storms right after a leaf-host stop showed no
// slowdown). 2-core VM, 5,000 connections per phase, 5 rounds: without a
// pause, storms without Leaf ran at 15.1K conn/s after a leaf-host and 17.2K
// after the empty programs, and the plugin's ratio came out 0.984, above its
// own floor (0.918); with 1 s, every storm without Leaf ran at 16.2-17.6K,
// floor 0.992, plugin 0.903. Header-only.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

namespace leaf::bench {

class Settle {
 public:
  // --settle-ms's value; 0 or less: no pause.
  void set_ms(const std::string& value) { ms_ = std::max(0, std::stoi(value)); }
  void operator()() const { std::this_thread::sleep_for(std::chrono::milliseconds(ms_)); }

 private:
  int ms_ = 1000;
};

}  // namespace leaf::bench
