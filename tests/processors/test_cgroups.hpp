// Test support: cgroups created under the cgroup v2 mount (found as leaf-host
// finds it: /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts), named
// as container runtimes name theirs, removed at the end; and processes run
// inside them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace leaf::test {

class TestCgroup {
 public:
  // `path` inside the v2 hierarchy, e.g. "/leaf-test-1/docker/<id>"; every
  // missing directory on the way is created (and removed by the destructor).
  explicit TestCgroup(const std::string& path);
  ~TestCgroup();
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  const std::string& path() const { return path_; }  // inside the hierarchy
  std::string dir() const;                           // on the file system
  uint64_t id() const;  // the inode number: the cgroup id the kernel reports
  // Removes the directories now (they must be empty of processes).
  void remove();

 private:
  std::string path_;
  std::vector<std::string> created_;  // file system paths, outermost first
};

std::string cgroup2_mount();

// Forks a child that moves itself into `cg` and execs argv; returns its pid.
pid_t spawn_in(const TestCgroup* cg, const std::vector<std::string>& argv, uid_t uid = 0);
// Waits for it; returns its exit status (or -1).
int wait_for_exit(pid_t pid);

}  // namespace leaf::test
