// The README's run command, `bash scripts/run.sh`: the dependency check and
// the build (a no-op rebuild of this build tree) go to stderr, stdout has
// nothing but JSON events, so `bash scripts/run.sh | jq` works. Needs root
// (install-deps.sh and the BPF probes).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "harness.hpp"

using namespace leaf::test;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A copy of the shipped conf.d that serves /metrics on a free port (other
// leaf-hosts on this machine may hold the default 9464).
std::string config_copy(const TempDir& dir) {
  std::string conf = dir.path() + "/conf.d";
  REQUIRE(run_command({"cp", "-r", source_dir() + "/conf.d", conf}) == 0);
  std::string leaf = read_file(conf + "/leaf.toml");
  auto at = leaf.find("listen = \"127.0.0.1:9464\"");
  REQUIRE(at != std::string::npos);
  leaf.replace(at, 25, "listen = \"127.0.0.1:0\"");
  dir.write("conf.d/leaf.toml", leaf);
  return conf;
}

}  // namespace

TEST_CASE("bash scripts/run.sh: build output on stderr, only JSON events on stdout") {
  TempDir dir;
  std::string conf = config_copy(dir);
  std::string out = dir.path() + "/stdout", err = dir.path() + "/stderr";
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setenv("LEAF_BUILD_DIR", LEAF_TEST_BINARY_DIR, 1);
    setenv("LEAF_CONFIG_DIR", conf.c_str(), 1);
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::string script = source_dir() + "/scripts/run.sh";
    execl("/bin/bash", "bash", script.c_str(), "--duration", "4", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Once leaf-host runs, a few execs give it events to print.
  auto deadline = std::chrono::steady_clock::now() + scaled(std::chrono::minutes(5));
  while (read_file(err).find("leaf-host running") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline && waitpid(pid, nullptr, WNOHANG) == 0)
    std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 5; ++i) run_command({"/bin/true"});
  int status = 0;
  waitpid(pid, &status, 0);
  std::string err_text = read_file(err);
  REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), err_text);

  // The build's own output went to stderr.
  CHECK(err_text.find("install-deps:") != std::string::npos);
  CHECK(err_text.find("Built target leaf-host") != std::string::npos);
  // stdout: JSON events, one per line, nothing else.
  std::istringstream lines(read_file(out));
  int events = 0;
  for (std::string line; std::getline(lines, line);) {
    Json j = Json::parse(line, nullptr, false);
    CHECK_MESSAGE((j.is_object() && j.contains("data") && j["data"].contains("type")),
                  "not an event on stdout: " << line);
    events += j.is_object();
  }
  CHECK(events >= 5);
}
