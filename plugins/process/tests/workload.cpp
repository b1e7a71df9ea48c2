#include "workload.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace leaf::process::test {

namespace {

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

int reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) check(errno == EINTR, "waitpid");
  return status;
}

pid_t fork_or_throw() {
  pid_t pid = fork();
  check(pid >= 0, "fork");
  return pid;
}

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void write_all(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(120);
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void read_all(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    check(n > 0, "read from child");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

pid_t gettid_now() { return static_cast<pid_t>(syscall(SYS_gettid)); }

}  // namespace

pid_t run_exec(const std::vector<std::string>& argv, int* status) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork_or_throw();
  if (pid == 0) {
    execv(args[0], args.data());
    _exit(127);
  }
  int st = reap(pid);
  if (status) *status = st;
  return pid;
}

pid_t run_exit(int code) {
  pid_t pid = fork_or_throw();
  if (pid == 0) _exit(code);
  reap(pid);
  return pid;
}

pid_t run_killed(int sig, int* status) {
  int ready[2];
  check(pipe(ready) == 0, "pipe");
  pid_t pid = fork_or_throw();
  if (pid == 0) {
    close(ready[0]);
    write_all(ready[1], "r", 1);
    for (;;) pause();
  }
  close(ready[1]);
  char c;
  read_all(ready[0], &c, 1);
  close(ready[0]);
  check(kill(pid, sig) == 0, "kill");
  int st = reap(pid);
  if (status) *status = st;
  return pid;
}

ProcStat read_proc_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) throw std::runtime_error("cannot read /proc/<pid>/stat");
  // Fields after "(comm)": field 3 (state) is tokens[0], field k is tokens[k - 3].
  std::istringstream rest(line.substr(close_paren + 2));
  std::vector<std::string> tokens;
  for (std::string t; rest >> t;) tokens.push_back(t);
  if (tokens.size() < 13) throw std::runtime_error("short /proc/<pid>/stat");
  const uint64_t tick_ns = 1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  ProcStat s;
  s.min_flt = std::stoull(tokens[10 - 3]);
  s.maj_flt = std::stoull(tokens[12 - 3]);
  s.utime_ns = std::stoull(tokens[14 - 3]) * tick_ns;
  s.stime_ns = std::stoull(tokens[15 - 3]) * tick_ns;
  return s;
}

namespace {
void burn_user_cpu(int cpu_ms) {
  const uint64_t until = thread_cpu_ns() + static_cast<uint64_t>(cpu_ms) * 1000000ull;
  volatile uint64_t x = 0;
  while (thread_cpu_ns() < until)
    for (int i = 0; i < 1000000; ++i) x = x + static_cast<uint64_t>(i);
}

struct BurnerThread {
  int cpu_ms;
  int done_fd;
};

void* burn_then_block(void* arg) {
  auto* b = static_cast<BurnerThread*>(arg);
  burn_user_cpu(b->cpu_ms);
  write_all(b->done_fd, "d", 1);
  for (;;) pause();
  return nullptr;
}
}  // namespace

Burn run_cpu_burn(int cpu_ms, int pages, int threads) {
  pid_t pid = fork_or_throw();
  if (pid == 0) {
    int done[2];
    if (pipe(done) != 0) _exit(124);
    BurnerThread arg{cpu_ms, done[1]};
    for (int i = 0; i < threads; ++i) {
      pthread_t t;
      if (pthread_create(&t, nullptr, burn_then_block, &arg) != 0) _exit(123);
    }
    for (int i = 0; i < threads; ++i) {
      char c;
      if (read(done[0], &c, 1) != 1) _exit(125);
    }
    const long page = sysconf(_SC_PAGESIZE);
    auto* mem = static_cast<volatile char*>(mmap(nullptr, static_cast<size_t>(pages) * page,
                                                 PROT_READ | PROT_WRITE,
                                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (mem == MAP_FAILED) _exit(121);
    madvise(const_cast<char*>(mem), static_cast<size_t>(pages) * page, MADV_NOHUGEPAGE);
    for (int i = 0; i < pages; ++i) mem[static_cast<long>(i) * page] = 1;
    burn_user_cpu(cpu_ms);
    raise(SIGSTOP);
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, WUNTRACED) < 0) check(errno == EINTR, "waitpid");
  if (!WIFSTOPPED(status)) throw std::runtime_error("the CPU burner did not stop");
  Burn b;
  b.pid = pid;
  b.before_exit = read_proc_stat(pid);
  check(kill(pid, SIGCONT) == 0, "kill SIGCONT");
  reap(pid);
  return b;
}

namespace {
void* thread_report_tid(void* arg) {
  *static_cast<pid_t*>(arg) = gettid_now();
  return nullptr;
}
}  // namespace

Family run_family(int children, bool with_thread) {
  int report[2];
  check(pipe(report) == 0, "pipe");
  pid_t parent = fork_or_throw();
  if (parent == 0) {
    close(report[0]);
    for (int i = 0; i < children; ++i) {
      pid_t c = fork();
      if (c < 0) _exit(122);
      if (c == 0) _exit(0);
      write_all(report[1], &c, sizeof(c));
      waitpid(c, nullptr, 0);
    }
    pid_t tid = -1;
    if (with_thread) {
      pthread_t t;
      if (pthread_create(&t, nullptr, thread_report_tid, &tid) != 0) _exit(123);
      pthread_join(t, nullptr);
    }
    write_all(report[1], &tid, sizeof(tid));
    _exit(0);
  }
  close(report[1]);
  Family f;
  f.parent = parent;
  for (int i = 0; i < children; ++i) {
    pid_t c;
    read_all(report[0], &c, sizeof(c));
    f.children.push_back(c);
  }
  read_all(report[0], &f.thread, sizeof(f.thread));
  close(report[0]);
  reap(parent);
  return f;
}

Threaded run_threaded(int threads, int code) {
  int report[2];
  check(pipe(report) == 0, "pipe");
  pid_t pid = fork_or_throw();
  if (pid == 0) {
    close(report[0]);
    for (int i = 0; i < threads; ++i) {
      pthread_t t;
      pid_t tid = -1;
      if (pthread_create(&t, nullptr, thread_report_tid, &tid) != 0) _exit(123);
      pthread_join(t, nullptr);
      write_all(report[1], &tid, sizeof(tid));
    }
    _exit(code);
  }
  close(report[1]);
  Threaded r;
  r.pid = pid;
  for (int i = 0; i < threads; ++i) {
    pid_t tid;
    read_all(report[0], &tid, sizeof(tid));
    r.threads.push_back(tid);
  }
  close(report[0]);
  reap(pid);
  return r;
}

}  // namespace leaf::process::test
