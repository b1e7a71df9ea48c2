// leaf-host: the Leaf daemon. Parses the command line and hands over to the host.
#include <leaf/sdk/abi.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "host/host.hpp"
#include "host/install_paths.hpp"
#include "plugins/trial_load.hpp"
#include "runtime/logging.hpp"

#ifndef LEAF_VERSION
#define LEAF_VERSION "unknown"
#endif

namespace po = boost::program_options;

int main(int argc, char** argv) {
  // The child of a plugin's trial load (core/plugins/trial_load.hpp).
  if (argc == 3 && std::string(argv[1]) == leaf::core::kTrialLoadSwitch)
    return leaf::core::run_trial_load(argv[2]);
  using leaf::core::CliOptions;
  CliOptions o;
  double duration = 0;
  const std::string conf_dir = leaf::core::installed_config_dir();
  const std::string plugins_dir = leaf::core::installed_plugins_dir();
  po::options_description desc(
      "leaf-host: an eBPF system probe. Loads probe plugins (leaf_*.so) from a directory,\n"
      "drains their BPF ring buffers and writes every event as JSON to its sinks\n"
      "(JSON lines on stdout by default; Kafka with the kafka plugin).\n\n"
      "Usage: leaf-host [options]\n\nOptions");
  desc.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
      "config,c", po::value(&o.config)->value_name("PATH"),
      ("a conf.d directory (leaf.toml + <plugin>.toml) or one TOML file; default " + conf_dir +
       " (built-in defaults when it does not exist)")
          .c_str())(
      "plugins-dir,p", po::value(&o.plugins_dir)->value_name("DIR"),
      ("directory of plugin .so files (overrides plugins_dir in leaf.toml; default " + plugins_dir +
       "); every plugin found there runs unless its <name>.toml says "
       "enabled = false; while leaf-host runs, a leaf_<name>.so dropped in, removed or renamed "
       "over is started, stopped or upgraded (plugins_watch in leaf.toml)")
          .c_str())("list-plugins", po::bool_switch(&o.list_plugins),
                    "list the plugins found, their event types and options, and exit")(
      "check", po::bool_switch(&o.check),
      "for each plugin and probe: can it load and attach on this kernel, and through which "
      "hook; exit 1 if an enabled plugin cannot run")("check-json", po::bool_switch(&o.check_json),
                                                      "with --check: print the report as JSON")(
      "log-level,l", po::value(&o.log_level)->value_name("LEVEL"),
      "trace, debug, info, warn or error (overrides log.level)")(
      "duration,d", po::value(&duration)->value_name("SECONDS"),
      "run that long, then shut down as on SIGTERM");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "leaf-host: " << e.what() << "\nTry 'leaf-host --help'.\n";
    return leaf::core::kExitUsage;
  }
  if (vm.count("help")) {
    std::cout
        << desc
        << "\nExit status: 0 clean shutdown; 1 fatal error (or --check failed); "
           "2 bad command line or configuration;\n3 nothing could be loaded (the plugins there all "
           "failed; an empty plugins directory is waited on while plugins_watch is "
           "on).\n";
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "leaf-host " << LEAF_VERSION << " (plugin ABI " << leaf::sdk::kAbiMajor << "."
              << leaf::sdk::kAbiMinor << ")\n";
    return 0;
  }
  if (vm.count("duration")) {
    // nan, inf and 1e300 used to pass and overflow the timer's milliseconds.
    constexpr double kMaxDuration = 1e9;  // about 31 years
    if (!(duration > 0) || !(duration <= kMaxDuration)) {
      std::cerr << "leaf-host: --duration must be a positive number of seconds, at most 1e9\n";
      return leaf::core::kExitUsage;
    }
    o.duration_s = duration;
  }
  if (!o.log_level.empty() && !leaf::core::valid_log_level(o.log_level)) {
    std::cerr << "leaf-host: --log-level must be trace, debug, info, warn or error\n";
    return leaf::core::kExitUsage;
  }
  if (o.check_json) o.check = true;
  return leaf::core::run_host(o);
}
