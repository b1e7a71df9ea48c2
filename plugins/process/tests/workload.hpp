// Real processes for the process probe's tests: each helper makes the
// kernel do one thing (exec, exit with a code, die by a signal, burn CPU,
// fork a family) and returns the ids and figures the test expects to see.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace leaf::process::test {

// fork() + execv(argv[0], argv); waits for the child. Returns its pid;
// *status gets the wait status.
pid_t run_exec(const std::vector<std::string>& argv, int* status = nullptr);

// A child that calls _exit(code). Returns its pid once reaped.
pid_t run_exit(int code);

// A child that waits in pause() until the parent sends `sig`. Returns its
// pid once reaped; *status gets the wait status.
pid_t run_killed(int sig, int* status = nullptr);

// Figures of /proc/<pid>/stat (fields 10, 12, 14, 15), times in ns.
struct ProcStat {
  uint64_t min_flt = 0;
  uint64_t maj_flt = 0;
  uint64_t utime_ns = 0;
  uint64_t stime_ns = 0;
};
ProcStat read_proc_stat(pid_t pid);

// A child that burns at least `cpu_ms` of user CPU time and touches
// `pages` fresh pages, then stops itself (SIGSTOP). The parent reads its
// /proc/<pid>/stat while it is stopped, lets it continue, and the child
// exits at once with code 0. With `threads` > 0, that many extra threads
// burn `cpu_ms` each first and are still alive (blocked) when the process
// exits: exit_group() ends them.
struct Burn {
  pid_t pid = -1;
  ProcStat before_exit;
};
Burn run_cpu_burn(int cpu_ms, int pages, int threads = 0);

// A process P that forks `children` children (each exits at once), and,
// when `with_thread`, starts one thread, then exits after all of them.
struct Family {
  pid_t parent = -1;
  std::vector<pid_t> children;
  pid_t thread = -1;  // the thread's id (gettid), -1 without one
};
Family run_family(int children, bool with_thread);

// A process with `threads` extra threads that each exit on their own
// before the main thread exits with code `code`.
struct Threaded {
  pid_t pid = -1;
  std::vector<pid_t> threads;
};
Threaded run_threaded(int threads, int code);

}  // namespace leaf::process::test
