// Test support: run the real leaf-host as a child process with a private
// plugins directory and configuration, and read its JSON-lines output.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace leaf::test {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// Paths of the build tree (compile definitions of leaf_test_support).
std::string host_binary();                          // build/core/leaf-host
std::string built_plugin(const std::string& name);  // build/plugins/leaf_<name>.so
std::string source_dir();                           // the repository root

// A bounded wait multiplied by LEAF_TEST_TIMEOUT_SCALE (>= 1; the kernel
// matrix sets it for guests under qemu's emulation). Waits only end early
// on success, so a larger scale never hides a failure, it only waits longer.
std::chrono::milliseconds scaled(std::chrono::milliseconds t);

// For tests that need root and BPF, called first from main(): returns -1
// when the test may run, otherwise the exit code to return: 77 (ctest's
// skip code) with the reason printed, or 1 when LEAF_REQUIRE_BPF=1 says
// that skipping is a failure.
int bpf_test_gate();

// A private temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

struct HostOptions {
  // Plugins to load, by name: build/plugins/leaf_<name>.so is linked into a
  // private plugins directory. Absolute paths of .so files are taken as they are.
  std::vector<std::string> plugins;
  // conf.d contents: file name -> TOML text ("leaf.toml", "process.toml").
  std::map<std::string, std::string> config;
  std::vector<std::string> extra_args;
  // Run leaf-host through this command (absolute path first), e.g.
  // {"/usr/bin/setpriv", "--reuid=65534", ...}.
  std::vector<std::string> command_prefix;
  std::string log_level = "info";
  // Seconds to wait for leaf-host to say it is running.
  std::chrono::milliseconds start_timeout = 30s;
};

class LeafHost {
 public:
  explicit LeafHost(HostOptions options);
  ~LeafHost();  // stops it (SIGKILL if it does not stop on SIGTERM)
  LeafHost(const LeafHost&) = delete;
  LeafHost& operator=(const LeafHost&) = delete;

  // Spawns leaf-host and waits until it logs "leaf-host running". Throws
  // std::runtime_error with its stderr when it exits or times out first.
  void start();
  // SIGTERM, then waits for exit; returns the exit status (or 128+signal).
  int stop(std::chrono::milliseconds timeout = 20s);

  // Every JSON line printed so far (stdout), parsed. A line that is not
  // valid JSON fails the test run (it is kept in invalid_lines()).
  std::vector<Json> events() const;
  std::vector<std::string> invalid_lines() const;
  // Waits until an event matches; throws on timeout.
  Json wait_for(const std::function<bool(const Json&)>& match,
                std::chrono::milliseconds timeout = 10s) const;
  // Waits until at least n events match; returns them all (maybe more).
  std::vector<Json> wait_for_count(const std::function<bool(const Json&)>& match, size_t n,
                                   std::chrono::milliseconds timeout = 10s) const;
  std::vector<Json> matching(const std::function<bool(const Json&)>& match) const;
  std::string stderr_text() const;
  // Sends SIGHUP and waits until leaf-host logs `line` after the signal (an
  // earlier reload's line does not count); throws with its log on timeout.
  void sighup_and_wait(const std::string& line, std::chrono::milliseconds timeout = 10s) const;
  pid_t pid() const { return pid_; }
  const std::string& config_dir() const;
  const std::string& plugins_dir() const;

 private:
  void read_loop(int fd, bool is_stdout);

  HostOptions options_;
  TempDir dir_;
  std::string config_dir_, plugins_dir_;
  pid_t pid_ = -1;
  int status_ = -1;
  std::thread out_thread_, err_thread_;
  mutable std::mutex mu_;
  std::vector<Json> events_;
  std::vector<std::string> invalid_;
  std::string stderr_;
};

// Runs a command line (argv) to completion; returns its exit status.
int run_command(const std::vector<std::string>& argv, std::string* output = nullptr);

// Matchers for wait_for.
inline std::function<bool(const Json&)> event_type(const std::string& type) {
  return
      [type](const Json& e) { return e.contains("data") && e["data"].value("type", "") == type; };
}

}  // namespace leaf::test
