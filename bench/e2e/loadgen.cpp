// e2e-loadgen: the kernel load generators of the end-to-end benchmark.
//   e2e-loadgen tick RATE SECONDS     getppid() calls from a thread named "e2e-tick"
//                                     (each one a bench_tick event when leaf_e2e_tick runs)
//   e2e-loadgen exec RATE SECONDS     posix_spawn + wait of /bin/true (process_exec/fork/exit)
//   e2e-loadgen connect RATE SECONDS  loopback TCP connect + accept + close (tcp_* events)
// RATE is operations per second (0: as fast as possible). Prints one JSON line:
//   {"mode":"tick","ops":N,"seconds":S,"rate":R}
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

extern char** environ;

namespace {

double now_s() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// Runs op() at `rate` per second (0: flat out) for `seconds`, in bursts of
// `batch` between clock reads; sleeps when ahead of schedule.
template <class Op>
uint64_t paced(double rate, double seconds, uint64_t batch, Op op) {
  const double start = now_s();
  const double end = start + seconds;
  uint64_t done = 0;
  for (;;) {
    double t = now_s();
    if (t >= end) break;
    if (rate > 0) {
      double due = (t - start) * rate;
      if (double(done) >= due) {
        double wait = (double(done) + double(batch) - due) / rate;
        if (wait > 0.0002) wait = 0.0002;
        timespec ts{0, long(wait * 1e9)};
        nanosleep(&ts, nullptr);
        continue;
      }
    }
    for (uint64_t i = 0; i < batch; ++i) op();
    done += batch;
  }
  return done;
}

uint64_t run_tick(double rate, double seconds) {
  prctl(PR_SET_NAME, "e2e-tick", 0, 0, 0);
  return paced(rate, seconds, 16, [] { syscall(SYS_getppid); });
}

uint64_t run_exec(double rate, double seconds) {
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  return paced(rate, seconds, 1, [&] {
    pid_t pid;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) == 0) {
      int st;
      waitpid(pid, &st, 0);
    }
  });
}

uint64_t run_connect(double rate, double seconds) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) || listen(lfd, 4096)) {
    perror("e2e-loadgen: listen");
    std::exit(1);
  }
  socklen_t len = sizeof(addr);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::atomic<bool> stop{false};
  std::thread acceptor([&] {
    while (!stop.load()) {
      int c = accept(lfd, nullptr, nullptr);
      if (c >= 0) close(c);
    }
  });
  // Linger 0: the client's close is a reset, so no TIME_WAIT piles up and the
  // ephemeral ports last for any rate and duration.
  const linger lg{1, 0};
  uint64_t n = paced(rate, seconds, 1, [&] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) perror("connect");
    close(fd);
  });
  stop = true;
  int fd = socket(AF_INET, SOCK_STREAM, 0);  // wake the acceptor
  connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  close(fd);
  acceptor.join();
  close(lfd);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: e2e-loadgen tick|exec|connect RATE SECONDS\n");
    return 2;
  }
  std::string mode = argv[1];
  double rate = std::atof(argv[2]), seconds = std::atof(argv[3]);
  double t0 = now_s();
  uint64_t ops = 0;
  if (mode == "tick")
    ops = run_tick(rate, seconds);
  else if (mode == "exec")
    ops = run_exec(rate, seconds);
  else if (mode == "connect")
    ops = run_connect(rate, seconds);
  else {
    std::fprintf(stderr, "e2e-loadgen: unknown mode '%s'\n", mode.c_str());
    return 2;
  }
  double dt = now_s() - t0;
  std::printf("{\"mode\":\"%s\",\"ops\":%llu,\"seconds\":%.4f,\"rate\":%.1f}\n", mode.c_str(),
              static_cast<unsigned long long>(ops), dt, double(ops) / dt);
  return 0;
}
