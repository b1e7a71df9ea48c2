#include "metrics/process_stats.hpp"

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace leaf::core::metrics {

namespace {

int64_t monotonic_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

uint64_t count_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  uint64_t n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n > 0 ? n - 1 : 0;  // not the descriptor of the listing itself
}

}  // namespace

std::optional<ProcessSample> read_process_sample() {
  FILE* f = std::fopen("/proc/self/stat", "re");
  if (!f) return std::nullopt;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // The command name (field 2) may hold spaces and parentheses: fields
  // are counted from the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (!p) return std::nullopt;
  unsigned long long utime = 0, stime = 0, threads = 0, vsize = 0;
  long long rss_pages = 0;
  // Fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime stime cutime cstime priority nice num_threads itrealvalue
  // starttime vsize rss
  int got = std::sscanf(p + 1,
                        " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                        "%llu %*d %*u %llu %lld",
                        &utime, &stime, &threads, &vsize, &rss_pages);
  if (got != 5) return std::nullopt;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  ProcessSample s;
  s.taken_ns = monotonic_ns();
  // CPU time in nanoseconds when the kernel gives it (ticks are 10 ms).
  timespec cpu;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0)
    s.cpu_seconds = static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) / 1e9;
  else
    s.cpu_seconds = static_cast<double>(utime + stime) / ticks;
  s.rss_bytes = static_cast<uint64_t>(rss_pages > 0 ? rss_pages : 0) * page;
  s.virtual_bytes = vsize;
  s.threads = threads;
  s.open_fds = count_fds();
  return s;
}

CpuUsage::CpuUsage(int64_t min_interval_ns) : min_interval_ns_(min_interval_ns) {
  if (auto s = read_process_sample()) base_ = *s;
}

double CpuUsage::percent(const ProcessSample& now) {
  int64_t dt = now.taken_ns - base_.taken_ns;
  if (dt < min_interval_ns_) return last_percent_;
  last_percent_ = 100.0 * (now.cpu_seconds - base_.cpu_seconds) / (static_cast<double>(dt) / 1e9);
  if (last_percent_ < 0) last_percent_ = 0;
  base_ = now;
  return last_percent_;
}

}  // namespace leaf::core::metrics
