#include "plugins/trial_load.hpp"

#include <fcntl.h>
#include <leaf/sdk/abi.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/dll/shared_library.hpp>
#include <boost/dll/shared_library_load_mode.hpp>
#include <cstdio>
#include <cstring>
#include <vector>

#include "plugins/plugin_loader.hpp"

extern char** environ;

namespace leaf::core {

namespace {

constexpr int kChildFd = 3;  // where the library's descriptor lands in the child

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return std::string("killed by SIG") + (abbrev ? abbrev : "?") + " (signal " +
           std::to_string(sig) + ")";
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

pid_t spawn_child(int fd, int out_fd, const std::string& exe) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, kChildFd);  // dup2 clears close-on-exec
  std::string fd_arg = std::to_string(kChildFd);
  std::vector<char*> argv = {const_cast<char*>(exe.c_str()), const_cast<char*>(kTrialLoadSwitch),
                             fd_arg.data(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  return pid;
}

// Reads the child's stdout until EOF or the deadline. False on timeout.
bool read_until_eof(int fd, std::string* out, std::chrono::steady_clock::time_point deadline) {
  char buf[512];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    if (out->size() < 4096) out->append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

std::string trial_load(int fd, std::chrono::milliseconds timeout, const std::string& exe) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return std::string("trial load: pipe: ") + std::strerror(errno);
  pid_t pid = spawn_child(fd, out[1], exe);
  int spawn_errno = errno;
  close(out[1]);
  if (pid < 0) {
    close(out[0]);
    return "trial load: cannot start " + exe + ": " + std::strerror(spawn_errno);
  }
  std::string said;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool eof = read_until_eof(out[0], &said, deadline);
  close(out[0]);
  int status = 0;
  // After EOF the child is exiting; allow it the rest of the time to do so.
  while (eof && waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      eof = false;
      break;
    }
    usleep(1000);
  }
  if (!eof) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return "did not finish loading within " + std::to_string(timeout.count()) +
           " ms in a trial process (its constructor or entry point hangs); not loaded";
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && said.rfind("ok\n", 0) == 0) return {};
  if (said.rfind("error: ", 0) == 0) {
    std::string msg = said.substr(7);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return msg;
  }
  return describe_status(status) +
         " while its constructors and entry point ran in a trial process; not loaded";
}

int run_trial_load(const char* fd_arg) {
  std::string path = std::string("/proc/self/fd/") + fd_arg;
  auto fail = [](const std::string& why) {
    std::printf("error: %s\n", why.c_str());
    std::fflush(stdout);
    return 2;
  };
  boost::dll::shared_library lib;
  try {
    lib.load(path, plugin_load_mode());
  } catch (const std::exception& e) {
    const char* dl = dlerror();
    return fail(std::string("not a loadable library: ") + (dl ? dl : e.what()));
  }
  if (!lib.has(sdk::kEntryPointName))
    return fail(std::string("not a Leaf plugin: no entry point '") + sdk::kEntryPointName + "'");
  const sdk::PluginDescriptor* d = lib.get_alias<sdk::EntryPoint>(sdk::kEntryPointName)();
  if (!d) return fail("entry point returned no descriptor");
  std::printf("ok\n");
  std::fflush(stdout);
  // No destructors, no dlclose: only the load and the entry point are tried.
  _exit(0);
}

}  // namespace leaf::core
