// Field tables of process_exec, process_fork and process_exit (SPEC.md §2),
// written from the very structs process.bpf.c fills (process.h).
#include "process_schema.hpp"

#include "process.h"

namespace leaf::process {

using sdk::Category;
using sdk::EventTypeDesc;
using sdk::FieldDesc;

namespace {

const FieldDesc kExecFields[] = {
    LEAF_FIELD(process_exec_event, pid, U32),
    LEAF_FIELD(process_exec_event, tgid, U32),
    LEAF_FIELD(process_exec_event, ppid, U32),
    LEAF_FIELD(process_exec_event, uid, U32),
    LEAF_FIELD(process_exec_event, gid, U32),
    LEAF_FIELD(process_exec_event, comm, Chars),
    LEAF_FIELD(process_exec_event, filename, VarChars),
    LEAF_FIELD(process_exec_event, cmdline, VarChars),
    LEAF_FIELD(process_exec_event, cmdline_truncated, Bool),
    LEAF_FIELD(process_exec_event, cgroup_id, U64),
    LEAF_FIELD(process_exec_event, old_pid, U32),
};

const FieldDesc kForkFields[] = {
    LEAF_FIELD(process_fork_event, pid, U32),
    LEAF_FIELD(process_fork_event, tgid, U32),
    LEAF_FIELD(process_fork_event, ppid, U32),
    LEAF_FIELD(process_fork_event, parent_tgid, U32),
    LEAF_FIELD(process_fork_event, comm, Chars),
    LEAF_FIELD(process_fork_event, is_thread, Bool),
    LEAF_FIELD(process_fork_event, cgroup_id, U64),
};

const FieldDesc kExitFields[] = {
    LEAF_FIELD(process_exit_event, pid, U32),
    LEAF_FIELD(process_exit_event, tgid, U32),
    LEAF_FIELD(process_exit_event, ppid, U32),
    LEAF_FIELD(process_exit_event, comm, Chars),
    LEAF_FIELD(process_exit_event, exit_code, I32),
    LEAF_FIELD(process_exit_event, signal, U32),
    LEAF_FIELD(process_exit_event, utime_ns, DurationNs),
    LEAF_FIELD(process_exit_event, stime_ns, DurationNs),
    LEAF_FIELD(process_exit_event, min_flt, U64),
    LEAF_FIELD(process_exit_event, maj_flt, U64),
    LEAF_FIELD(process_exit_event, duration_ns, DurationNs),
    LEAF_FIELD(process_exit_event, cgroup_id, U64),
    LEAF_FIELD(process_exit_event, core_dumped, Bool),
    LEAF_FIELD(process_exit_event, is_thread, Bool),
    LEAF_FIELD(process_exit_event, exec_count, U32),
};

template <class T, uint32_t N>
constexpr uint32_t count(const T (&)[N]) {
  return N;
}

}  // namespace

const EventTypeDesc kTypes[] = {
    {.name = "process_exec",
     .category = Category::Process,
     .fields = kExecFields,
     .field_count = count(kExecFields),
     .fixed_size = sizeof(process_exec_event),
     .max_size = PROCESS_EXEC_MAX_SIZE,
     .key_field = nullptr,
     .description = "a task replaced its program (execve): filename, command line, credentials"},
    {.name = "process_fork",
     .category = Category::Process,
     .fields = kForkFields,
     .field_count = count(kForkFields),
     .fixed_size = sizeof(process_fork_event),
     .max_size = sizeof(process_fork_event),
     .key_field = nullptr,
     .description = "a process (or, when enabled, a thread) was created"},
    {.name = "process_exit",
     .category = Category::Process,
     .fields = kExitFields,
     .field_count = count(kExitFields),
     .fixed_size = sizeof(process_exit_event),
     .max_size = sizeof(process_exit_event),
     .key_field = nullptr,
     .description = "a process ended: exit code or signal, CPU time, page faults, lifetime"},
};

const uint32_t kTypeCount = count(kTypes);

static_assert(PROCESS_EVENT_EXEC == 0 && PROCESS_EVENT_FORK == 1 && PROCESS_EVENT_EXIT == 2,
              "kTypes is indexed by process_event_type");
static_assert(PROCESS_EVENT_TYPES == 3);
static_assert(PROCESS_EXEC_MAX_SIZE <= 0xffff, "leaf_var offsets are 16 bits");

}  // namespace leaf::process
