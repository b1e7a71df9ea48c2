#include "workloads.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

#include "kernel_accounting.hpp"

namespace leaf::performance::test {

namespace {

void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

void must(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(what);
}

bool read_all(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

PingPong::PingPong(int cpu) {
  int go[2], done[2], ab[2], ba[2];
  must(pipe(go) == 0 && pipe(done) == 0 && pipe(ab) == 0 && pipe(ba) == 0, "pipe");
  b_ = fork();
  must(b_ >= 0, "fork");
  if (b_ == 0) {  // B: echo every byte from A back
    pin(cpu);
    close(ab[1]);
    close(ba[0]);
    close(go[0]), close(go[1]), close(done[0]), close(done[1]);
    char c;
    while (read(ab[0], &c, 1) == 1)
      if (write(ba[1], &c, 1) != 1) _exit(1);
    _exit(0);
  }
  a_ = fork();
  must(a_ >= 0, "fork");
  if (a_ == 0) {  // A: on "go" (a count), that many round trips, then "done"
    pin(cpu);
    close(ab[0]);
    close(ba[1]);
    close(go[1]);
    close(done[0]);
    uint64_t n = 0;
    while (read_all(go[0], &n, sizeof(n))) {
      char c = 'x';
      for (uint64_t i = 0; i < n; ++i)
        if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) _exit(1);
      if (write(done[1], &n, sizeof(n)) != sizeof(n)) _exit(1);
    }
    _exit(0);
  }
  close(ab[0]), close(ab[1]), close(ba[0]), close(ba[1]);
  close(go[0]);
  close(done[1]);
  go_ = go[1];
  done_ = done[0];
  wait_until_sleeping(a_);
  wait_until_sleeping(b_);
}

PingPong::~PingPong() {
  try {
    finish();
  } catch (...) {
  }
}

void PingPong::run(uint64_t round_trips) {
  must(write(go_, &round_trips, sizeof(round_trips)) == sizeof(round_trips), "write go");
  uint64_t n = 0;
  must(read_all(done_, &n, sizeof(n)), "read done");
  wait_until_sleeping(a_);
  wait_until_sleeping(b_);
}

void PingPong::finish() {
  if (go_ >= 0) close(go_), go_ = -1;  // A sees EOF, exits; then B sees EOF
  if (done_ >= 0) close(done_), done_ = -1;
  if (a_ > 0) waitpid(a_, nullptr, 0), a_ = -1;
  if (b_ > 0) waitpid(b_, nullptr, 0), b_ = -1;
}

Spinner::Spinner(int cpu) {
  int ready[2];
  must(pipe(ready) == 0, "pipe");
  pid_ = fork();
  must(pid_ >= 0, "fork");
  if (pid_ == 0) {
    close(ready[0]);
    pin(cpu);  // returns once the child runs on `cpu`
    char c = 1;
    if (write(ready[1], &c, 1) != 1) _exit(1);
    close(ready[1]);
    volatile uint64_t x = 0;
    for (;;) x = x + 1;
  }
  close(ready[1]);
  char c = 0;
  bool pinned = read_all(ready[0], &c, 1);
  close(ready[0]);
  must(pinned, "spinner did not start");
}

Spinner::~Spinner() { stop(); }

void Spinner::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace leaf::performance::test
