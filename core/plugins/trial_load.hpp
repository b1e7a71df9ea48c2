// A plugin's constructors and entry point run first in a child process
// (issue 17, defect 5): a plugin that aborts, crashes, calls exit() or hangs
// while it loads is named and refused, and leaf-host runs on.
//
// Why a child and not only static checks: the ELF checks (plugin_file.hpp)
// cannot tell what a constructor does. Why exec and not a bare fork: a fork of
// a process with threads (librdkafka's, spdlog's) may inherit a held lock and
// then deadlock in dlopen; posix_spawn + exec starts a clean leaf-host that
// does nothing but load the library (main.cpp: --plugin-trial-load FD).
#pragma once

#include <chrono>
#include <string>

namespace leaf::core {

// The hidden command-line switch of the child.
inline constexpr const char* kTrialLoadSwitch = "--plugin-trial-load";

// Loads the library open on `fd` in a child `exe` (leaf-host: /proc/self/exe)
// and waits at most `timeout`. Returns "" when the child loaded it and found
// a descriptor, else the reason (naming the signal, exit status or timeout).
std::string trial_load(int fd, std::chrono::milliseconds timeout,
                       const std::string& exe = "/proc/self/exe");

// The child's side: dlopen("/proc/self/fd/FD"), call the entry point, print
// "ok" on stdout. Returns the process exit code.
int run_trial_load(const char* fd_arg);

}  // namespace leaf::core
