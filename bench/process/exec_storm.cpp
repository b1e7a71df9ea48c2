// bench_process: what the process probe costs an exec-heavy host, and whether
// it keeps up. Runs, in one process and one sitting:
//   1. an exec storm (fork + execve of a short program + wait, N times) with
//      nothing loaded;
//   2. leaf-host with only leaf_process, JSON lines to a file, and the same
//      storm; then leaf-host is stopped and its file read back;
//   3. the storm with nothing loaded again.
// Steps 2-3 repeat --rounds times; each loaded storm is compared with the
// unloaded storms on either side, and the median ratio is printed with its
// spread (background load drifts between rounds).
// Prints execs performed, process_exec events delivered for them (it must be
// all of them), what was missing, and the storm's rate in each phase. Then,
// still loaded (first round), a storm of N/4 execs with the kernel's BPF run-time
// statistics on (not timed): per program of leaf-host, runs and ns per run,
// and the BPF time per exec, a figure a noisy machine disturbs far less.
//
//   sudo build/bench/process/bench_process [--execs N] [--rounds R] [--program PATH]
//                                          [--leaf-host PATH] [--settle-ms MS]
// --settle-ms (default 1000): a pause after leaf-host starts and after it
// stops, before the next timed storm (bench/common/settle.hpp says why).
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bpf_prog_stats.hpp"
#include "settle.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double cpu_seconds() {
  rusage self{}, children{};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return sec(self.ru_utime) + sec(self.ru_stime) + sec(children.ru_utime) + sec(children.ru_stime);
}

struct Storm {
  std::vector<pid_t> pids;
  double seconds = 0;
  double cpu = 0;  // CPU seconds of this process and its children: less noisy than wall time
  double cpu_us_per_exec() const { return pids.empty() ? 0 : cpu * 1e6 / pids.size(); }
  double rate() const { return seconds > 0 ? static_cast<double>(pids.size()) / seconds : 0; }
};

Storm exec_storm(const std::string& program, int count) {
  Storm s;
  s.pids.reserve(static_cast<size_t>(count));
  char* const argv[] = {const_cast<char*>(program.c_str()), const_cast<char*>("leaf-bench-storm"),
                        nullptr};
  auto start = Clock::now();
  double cpu_start = cpu_seconds();
  for (int i = 0; i < count; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      std::exit(1);
    }
    if (pid == 0) {
      execv(argv[0], argv);
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) {
      std::cerr << "exec of " << program << " failed\n";
      std::exit(1);
    }
    s.pids.push_back(pid);
  }
  s.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  s.cpu = cpu_seconds() - cpu_start;
  return s;
}

struct Host {
  pid_t pid = -1;
  std::string stderr_path;
};

bool file_contains(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find(needle) != std::string::npos;
}

Host start_host(const std::string& binary, const fs::path& dir, const fs::path& events_file) {
  fs::create_directories(dir / "conf.d");
  fs::create_directories(dir / "plugins");
  std::ofstream(dir / "conf.d" / "leaf.toml")
      << "[jsonl]\npath = \"" << events_file.string() << "\"\n";
  std::ofstream(dir / "conf.d" / "process.toml") << "ring_buffer_size = \"8M\"\n";
  fs::create_symlink(LEAF_PROCESS_PLUGIN, dir / "plugins" / "leaf_process.so");
  Host h;
  h.stderr_path = (dir / "leaf-host.log").string();
  h.pid = fork();
  if (h.pid == 0) {
    int out = open("/dev/null", O_WRONLY);
    int err = open(h.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    std::string conf = (dir / "conf.d").string(), plugins = (dir / "plugins").string();
    execl(binary.c_str(), binary.c_str(), "--config", conf.c_str(), "--plugins-dir",
          plugins.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 600; ++i) {
    if (file_contains(h.stderr_path, "leaf-host running")) return h;
    int status;
    if (waitpid(h.pid, &status, WNOHANG) == h.pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cerr << "leaf-host did not start; its log:\n" << std::ifstream(h.stderr_path).rdbuf();
  std::exit(1);
}

int stop_host(const Host& h) {
  kill(h.pid, SIGTERM);
  int status = 0;
  waitpid(h.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct Delivered {
  size_t exec_events = 0;  // process_exec events whose pid is one of the storm's
  size_t all_events = 0;   // every line in the file
};

Delivered count_events(const fs::path& file, const std::vector<pid_t>& pids) {
  std::unordered_set<int64_t> wanted(pids.begin(), pids.end());
  std::unordered_set<int64_t> seen;
  Delivered d;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    ++d.all_events;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("data")) continue;
    const auto& data = j["data"];
    if (data.value("type", "") != "process_exec") continue;
    int64_t pid = data.value("pid", -1);
    if (wanted.count(pid) &&
        data.value("cmdline", "").find("leaf-bench-storm") != std::string::npos)
      seen.insert(pid);
  }
  d.exec_events = seen.size();
  return d;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t k = v.size();
  return k == 0 ? 0 : k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

struct LoadedRound {
  Storm loaded;
  std::vector<pid_t> pids;  // the timed storm's and the statistics storm's
  Delivered delivered;
  int host_status = 0;
  std::vector<std::string> loss_lines;  // the host's own loss counters, verbatim
};

// The pause after leaf-host starts and stops (settle.hpp, --settle-ms).
leaf::bench::Settle settle;

// leaf-host up, the timed storm, the statistics storm (stats_execs > 0),
// drain, leaf-host stopped; its process_exec events of the storms counted.
LoadedRound loaded_round(const std::string& binary, const std::string& program, int execs,
                         int stats_execs, leaf::bench::ProgTotals& bpf) {
  char tmpl[] = "/tmp/leaf-bench-process-XXXXXX";
  if (!mkdtemp(tmpl)) std::exit(1);
  fs::path dir = tmpl;
  fs::path events_file = dir / "events.jsonl";
  LoadedRound r;
  Host host = start_host(binary, dir, events_file);
  settle();
  r.loaded = exec_storm(program, execs);
  r.pids = r.loaded.pids;
  if (stats_execs > 0) {
    leaf::bench::BpfStatsOn on;
    auto ids = leaf::bench::prog_ids_of(host.pid);
    auto before_stats = leaf::bench::snapshot(ids);
    Storm s = exec_storm(program, stats_execs);
    if (on.ok()) leaf::bench::add_delta(bpf, before_stats, leaf::bench::snapshot(ids));
    r.pids.insert(r.pids.end(), s.pids.begin(), s.pids.end());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the host drain
  r.host_status = stop_host(host);
  settle();
  r.delivered = count_events(events_file, r.pids);
  std::ifstream log(host.stderr_path);
  for (std::string line; std::getline(log, line);)
    if (line.find("lost") != std::string::npos || line.find("dropped") != std::string::npos)
      r.loss_lines.push_back(line);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int execs = 5000, rounds = 1;
  std::string program = "/bin/true", binary = LEAF_HOST_BINARY;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--execs" && i + 1 < argc) {
      execs = std::atoi(argv[++i]);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--program" && i + 1 < argc) {
      program = argv[++i];
    } else if (a == "--leaf-host" && i + 1 < argc) {
      binary = argv[++i];
    } else if (a == "--settle-ms" && i + 1 < argc) {
      settle.set_ms(argv[++i]);
    } else {
      std::cerr << "usage: bench_process [--execs N] [--rounds R] [--program PATH] "
                   "[--leaf-host PATH] [--settle-ms MS]\n"
                   "  R rounds of: leaf-host with leaf_process up, N execs (the first round\n"
                   "  also N/4 with BPF statistics on), leaf-host stopped, N execs; each\n"
                   "  loaded storm against the unloaded storms on either side, median.\n";
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::cerr << "bench_process: run as root (leaf-host loads BPF programs)\n";
    return 77;
  }

  exec_storm(program, execs / 10);  // warm-up: page cache, binaries
  Storm without = exec_storm(program, execs);
  std::printf("exec storm: fork + exec %s + wait, %d per phase, %d rounds\n", program.c_str(),
              execs, rounds);
  leaf::bench::ProgTotals bpf;
  int stats_execs = std::max(execs / 4, 1);
  std::vector<double> rate_ratios, cpu_ratios;
  size_t performed = 0, delivered = 0;
  bool host_ok = true;
  for (int round = 0; round < rounds; ++round) {
    LoadedRound r = loaded_round(binary, program, execs, round == 0 ? stats_execs : 0, bpf);
    Storm next = exec_storm(program, execs);
    double base_rate = (without.rate() + next.rate()) / 2;
    double base_cpu = (without.cpu_us_per_exec() + next.cpu_us_per_exec()) / 2;
    double rate_ratio = base_rate > 0 ? r.loaded.rate() / base_rate : 0;
    double cpu_ratio = base_cpu > 0 ? r.loaded.cpu_us_per_exec() / base_cpu : 0;
    rate_ratios.push_back(rate_ratio);
    cpu_ratios.push_back(cpu_ratio);
    std::printf(
        "round %d: without %.0f execs/s (%.1f us CPU/exec), with %.0f (%.1f), without %.0f "
        "(%.1f): ratio %.3f (rate) %.3f (CPU per exec)\n",
        round + 1, without.rate(), without.cpu_us_per_exec(), r.loaded.rate(),
        r.loaded.cpu_us_per_exec(), next.rate(), next.cpu_us_per_exec(), rate_ratio, cpu_ratio);
    std::printf("  execs %zu, process_exec delivered %zu, missing %zu, leaf-host exit %d\n",
                r.pids.size(), r.delivered.exec_events, r.pids.size() - r.delivered.exec_events,
                r.host_status);
    for (const auto& line : r.loss_lines) std::printf("  host log: %s\n", line.c_str());
    performed += r.pids.size();
    delivered += r.delivered.exec_events;
    host_ok = host_ok && r.host_status == 0;
    without = next;
  }
  auto [rmin, rmax] = std::minmax_element(rate_ratios.begin(), rate_ratios.end());
  std::printf(
      "loaded / not loaded, median of %d: %.3f (rate; spread %.3f-%.3f), %.3f (CPU per "
      "exec)\n",
      rounds, median(rate_ratios), *rmin, *rmax, median(cpu_ratios));
  std::printf("BPF run time, %d execs with statistics on:\n", stats_execs);
  leaf::bench::print_totals(bpf, stats_execs, "exec");
  std::printf("execs performed (loaded)   %9zu\n", performed);
  std::printf("process_exec delivered     %9zu\n", delivered);
  std::printf("missing (dropped)          %9zu\n", performed - delivered);
  return delivered == performed && host_ok ? 0 : 1;
}
