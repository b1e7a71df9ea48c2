#include "test_cgroups.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "processors/cgroup_cache.hpp"

namespace leaf::test {

std::string cgroup2_mount() {
  std::string m = leaf::core::find_cgroup2_mount();
  if (m.empty()) throw std::runtime_error("no cgroup v2 hierarchy is mounted");
  return m;
}

TestCgroup::TestCgroup(const std::string& path) : path_(path) {
  std::string dir = cgroup2_mount();
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    dir += "/" + path.substr(i, j - i);
    if (::mkdir(dir.c_str(), 0755) == 0) {
      created_.push_back(dir);
    } else if (errno != EEXIST) {
      throw std::runtime_error("mkdir " + dir + ": " + std::strerror(errno));
    }
    i = j + 1;
  }
}

TestCgroup::~TestCgroup() { remove(); }

void TestCgroup::remove() {
  while (!created_.empty()) {
    ::rmdir(created_.back().c_str());
    created_.pop_back();
  }
}

std::string TestCgroup::dir() const { return cgroup2_mount() + path_; }

uint64_t TestCgroup::id() const {
  struct stat st {};
  if (::stat(dir().c_str(), &st) != 0) return 0;
  return st.st_ino;
}

pid_t spawn_in(const TestCgroup* cg, const std::vector<std::string>& argv, uid_t uid) {
  std::string procs = cg ? cg->dir() + "/cgroup.procs" : "";
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (!procs.empty()) {
      int fd = ::open(procs.c_str(), O_WRONLY);
      if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(120);
      ::close(fd);
    }
    if (uid != 0 && ::setuid(uid) != 0) ::_exit(121);
    ::execv(args[0], args.data());
    ::_exit(122);
  }
  return pid;
}

int wait_for_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace leaf::test
