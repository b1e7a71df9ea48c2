#include "runtime/tracefs.hpp"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace leaf::core {

std::string ensure_tracefs(std::string* action) {
  if (access("/sys/kernel/tracing/events", F_OK) == 0) return {};
  // Mounted but mode 0700 (the default): for a non-root user access() fails
  // with EACCES. Saying "not mounted" then contradicted --check, which reads
  // the mount table.
  if (errno == EACCES)
    return "tracefs at /sys/kernel/tracing is mounted but not readable by uid " +
           std::to_string(geteuid());
  if (access("/sys/kernel/debug/tracing/events", F_OK) == 0) return {};
  if (geteuid() != 0)
    return "tracefs is not mounted at /sys/kernel/tracing (and not root to mount it)";
  if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    return std::string("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: ") +
           std::strerror(errno);
  if (action)
    *action = "mounted tracefs at /sys/kernel/tracing (classic tracepoints attach through it)";
  return {};
}

}  // namespace leaf::core
