#include "harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace leaf::test {

std::string host_binary() { return LEAF_TEST_HOST_BINARY; }
std::string built_plugin(const std::string& name) {
  return std::string(LEAF_TEST_PLUGIN_DIR) + "/leaf_" + name + ".so";
}
std::string source_dir() { return LEAF_TEST_SOURCE_DIR; }

std::chrono::milliseconds scaled(std::chrono::milliseconds t) {
  static const double scale = [] {
    const char* v = std::getenv("LEAF_TEST_TIMEOUT_SCALE");
    double x = v ? std::atof(v) : 1.0;
    return x >= 1.0 ? x : 1.0;
  }();
  return std::chrono::milliseconds(static_cast<int64_t>(t.count() * scale));
}

int bpf_test_gate() {
  const char* require = std::getenv("LEAF_REQUIRE_BPF");
  bool required = require && std::string(require) == "1";
  std::string why;
  if (geteuid() != 0)
    why = "needs root (CAP_BPF, CAP_PERFMON) to load BPF programs";
  else if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    why = "needs kernel BTF at /sys/kernel/btf/vmlinux";
  if (why.empty()) return -1;
  if (required) {
    std::cerr << "FAIL: this test " << why << ", and LEAF_REQUIRE_BPF=1 forbids skipping\n";
    return 1;
  }
  std::cerr << "SKIP: this test " << why << " (set LEAF_REQUIRE_BPF=1 to make this a failure)\n";
  return 77;
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "leaf-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  fs::path p = fs::path(path_) / name;
  fs::create_directories(p.parent_path());
  std::ofstream(p) << content;
  return p.string();
}

LeafHost::LeafHost(HostOptions options) : options_(std::move(options)) {
  config_dir_ = dir_.path() + "/conf.d";
  plugins_dir_ = dir_.path() + "/plugins";
  fs::create_directories(config_dir_);
  fs::create_directories(plugins_dir_);
  chmod(plugins_dir_.c_str(), 0755);
  for (const auto& [name, text] : options_.config) dir_.write("conf.d/" + name, text);
  for (const auto& p : options_.plugins) {
    std::string src = p.find('/') != std::string::npos ? p : built_plugin(p);
    fs::create_symlink(src, fs::path(plugins_dir_) / fs::path(src).filename());
  }
}

LeafHost::~LeafHost() {
  if (pid_ > 0 && status_ < 0) {
    try {
      stop(10s);
    } catch (...) {
    }
  }
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
}

const std::string& LeafHost::config_dir() const { return config_dir_; }
const std::string& LeafHost::plugins_dir() const { return plugins_dir_; }

void LeafHost::start() {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  std::vector<std::string> args = {host_binary(), "--config",    config_dir_,       "--plugins-dir",
                                   plugins_dir_,  "--log-level", options_.log_level};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  args.insert(args.begin(), options_.command_prefix.begin(), options_.command_prefix.end());
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    // A test killed before its stop() (ctest's timeout, a broken pipe) takes
    // its leaf-host with it: an orphan would keep its probes attached and its
    // ports, and feed events to the tests that follow.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
    dup2(out[1], 1);
    dup2(err[1], 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  out_thread_ = std::thread([this, fd = out[0]] { read_loop(fd, true); });
  err_thread_ = std::thread([this, fd = err[0]] { read_loop(fd, false); });

  auto deadline = std::chrono::steady_clock::now() + scaled(options_.start_timeout);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stderr_.find("leaf-host running") != std::string::npos) return;
    }
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      if (err_thread_.joinable()) err_thread_.join();
      throw std::runtime_error("leaf-host exited with status " + std::to_string(status_) +
                               " before running:\n" + stderr_text());
    }
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("leaf-host did not start in time:\n" + stderr_text());
}

int LeafHost::stop(std::chrono::milliseconds timeout) {
  if (status_ >= 0) return status_;
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int st = 0;
  while (true) {
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
  return status_;
}

void LeafHost::read_loop(int fd, bool is_stdout) {
  std::string pending;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    if (!is_stdout) {
      std::lock_guard<std::mutex> lock(mu_);
      stderr_.append(buf, n);
      continue;
    }
    pending.append(buf, n);
    size_t start = 0, nl;
    std::vector<Json> parsed;
    std::vector<std::string> bad;
    while ((nl = pending.find('\n', start)) != std::string::npos) {
      std::string line = pending.substr(start, nl - start);
      start = nl + 1;
      if (line.empty()) continue;
      try {
        parsed.push_back(Json::parse(line));
      } catch (...) {
        bad.push_back(line);
      }
    }
    pending.erase(0, start);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& j : parsed) events_.push_back(std::move(j));
    for (auto& b : bad) invalid_.push_back(std::move(b));
  }
  close(fd);
}

std::vector<Json> LeafHost::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

std::vector<std::string> LeafHost::invalid_lines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return invalid_;
}

std::string LeafHost::stderr_text() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stderr_;
}

std::vector<Json> LeafHost::matching(const std::function<bool(const Json&)>& match) const {
  std::vector<Json> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : events_)
    if (match(e)) out.push_back(e);
  return out;
}

std::vector<Json> LeafHost::wait_for_count(const std::function<bool(const Json&)>& match, size_t n,
                                           std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  while (true) {
    auto found = matching(match);
    if (found.size() >= n) return found;
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("timed out waiting for " + std::to_string(n) + " events, saw " +
                               std::to_string(found.size()) + "; leaf-host stderr:\n" +
                               stderr_text());
    std::this_thread::sleep_for(10ms);
  }
}

Json LeafHost::wait_for(const std::function<bool(const Json&)>& match,
                        std::chrono::milliseconds timeout) const {
  return wait_for_count(match, 1, timeout).front();
}

void LeafHost::sighup_and_wait(const std::string& line, std::chrono::milliseconds timeout) const {
  size_t from = stderr_text().size();
  if (::kill(pid_, SIGHUP) != 0)
    throw std::runtime_error(std::string("SIGHUP to leaf-host: ") + std::strerror(errno));
  auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  while (stderr_text().find(line, from) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("leaf-host did not log \"" + line +
                               "\" after SIGHUP; leaf-host stderr:\n" + stderr_text());
    std::this_thread::sleep_for(10ms);
  }
}

int run_command(const std::vector<std::string>& argv_in, std::string* output) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    std::vector<char*> argv;
    std::vector<std::string> copy = argv_in;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(p[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (output) *output = out;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace leaf::test
