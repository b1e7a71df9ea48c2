// Workloads with known scheduler behaviour, run in child processes.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace leaf::performance::test {

// Two processes passing one byte back and forth over pipes: every round trip
// blocks each of them once in read(). Between start() and finish() both are
// asleep except while run() runs, so /proc read around run() brackets the
// pair's switches exactly.
class PingPong {
 public:
  explicit PingPong(int cpu = -1);  // -1: unpinned; otherwise both on that CPU
  ~PingPong();
  PingPong(const PingPong&) = delete;
  PingPong& operator=(const PingPong&) = delete;

  // N round trips; returns when both are asleep again.
  void run(uint64_t round_trips);
  pid_t a() const { return a_; }
  pid_t b() const { return b_; }
  void finish();  // lets both exit and reaps them

 private:
  pid_t a_ = -1, b_ = -1;
  int go_ = -1, done_ = -1;
};

// A child spinning on the CPU until killed, pinned to `cpu`: the constructor
// returns once it runs there (its switches before that, while it was moved
// from the CPU it was forked on, happened elsewhere).
class Spinner {
 public:
  explicit Spinner(int cpu);
  ~Spinner();
  Spinner(const Spinner&) = delete;
  Spinner& operator=(const Spinner&) = delete;
  pid_t pid() const { return pid_; }
  void stop();

 private:
  pid_t pid_ = -1;
};

uint64_t monotonic_ns();

}  // namespace leaf::performance::test
