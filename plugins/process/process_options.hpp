// Configuration keys of the process plugin (conf.d/process.toml), declared to
// the host, which validates the file against them before the plugin reads it.
#pragma once

#include <leaf/sdk/config.h>

#include "process.h"

namespace leaf::process {

inline constexpr sdk::ConfigOption kOptions[] = {
    {"events.exec", sdk::OptionType::Bool, "true", 0, 0, nullptr, "report process_exec events"},
    {"events.fork", sdk::OptionType::Bool, "true", 0, 0, nullptr, "report process_fork events"},
    {"events.exit", sdk::OptionType::Bool, "true", 0, 0, nullptr, "report process_exit events"},
    {"thread_events", sdk::OptionType::Bool, "false", 0, 0, nullptr,
     "also report thread creation (process_fork with is_thread) and every thread's exit"},
    {"cmdline_max", sdk::OptionType::Int, "512", 0, PROCESS_CMDLINE_MAX, nullptr,
     "bytes of command line kept (argv joined by spaces); longer ones are cut and flagged"},
    {"ring_buffer_size", sdk::OptionType::Size, "\"4M\"", 4096, 1LL << 30, nullptr,
     "ring buffer size in bytes (rounded up to a power of two)"},
    {"proc_table_size", sdk::OptionType::Int, "65536", 1024, 4194304, nullptr,
     "live processes tracked at once in the kernel (the proc_info table)"},
    {"hooks.skip", sdk::OptionType::StringList, "[]", 0, 0, nullptr,
     "hook kinds not to use even when available (tp_btf, raw_tp, tracepoint)"},
    {"filter.drop_uids", sdk::OptionType::IntList, "[]", 0, 4294967295, nullptr,
     "in the kernel: drop exec, fork and exit events of tasks with these uids (SIGHUP applies)",
     sdk::kOptionLive},
    {"filter.drop_comms", sdk::OptionType::StringList, "[]", 0, 0, nullptr,
     "in the kernel: drop exec, fork and exit events of tasks with exactly this comm (1..15 "
     "characters; SIGHUP applies)",
     sdk::kOptionLive},
};

}  // namespace leaf::process
