// leaf-host's command line, parsed.
#pragma once

#include <optional>
#include <string>

namespace leaf::core {

struct CliOptions {
  std::string config;       // file or conf.d directory; empty: the default
  std::string plugins_dir;  // empty: from the configuration
  std::string log_level;    // empty: from the configuration
  std::optional<double> duration_s;
  bool list_plugins = false;
  bool check = false;
  bool check_json = false;
};

// Exit codes (SPEC.md §1).
enum ExitCode : int {
  kExitOk = 0,
  kExitFatal = 1,
  kExitUsage = 2,        // bad command line or configuration
  kExitNothing = 3,      // nothing could be loaded
  kExitCheckFailed = 1,  // --check: an enabled plugin cannot run
};

}  // namespace leaf::core
