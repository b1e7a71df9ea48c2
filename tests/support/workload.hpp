// Test support: the workload side of a host test — programs whose comm is
// their own name, run to completion, a free loopback port, an HTTP GET of
// leaf-host's /metrics or /healthz, and matchers for the events they cause.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace leaf::test {

// A private directory of symlinks to one target, so that each name runs as
// a process whose comm is that name (the kernel takes comm from the path).
class AliasDir {
 public:
  AliasDir(const std::string& target, const std::vector<std::string>& names);
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }

 private:
  TempDir dir_;
};

// The running test binary itself: a test whose main() exits 0 at once when
// its name starts with a prefix (see plugin_watch_test) aliases itself.
std::string self_binary();

// fork + exec `program`; requires it to exit 0; returns its pid.
pid_t run_to_exit(const std::string& program);

// A loopback TCP port that was free a moment ago (bound, then released).
int free_loopback_port();

// GET `path` from 127.0.0.1:`port` over HTTP/1.0 (the body ends with the
// connection); returns the whole response, status line and headers included.
std::string http_get_raw(int port, const std::string& path);

// The value of one series in a /metrics answer: `name{labels}` exactly as
// leaf-host writes it, e.g. leaf_plugin_up{plugin="process"}. -1: absent.
double metric_series(const std::string& metrics, const std::string& name_and_labels);

// Matchers for LeafHost::wait_for / matching.
std::function<bool(const Json&)> event_of(const std::string& type, pid_t pid);
std::function<bool(const Json&)> exec_by_comm(const std::string& comm);

}  // namespace leaf::test
