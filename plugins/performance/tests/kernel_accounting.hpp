// The kernel's own accounting, read from /proc, to check the plugin against.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace leaf::performance::test {

// /proc/softirqs: vector name in lower case ("net_rx") -> count per CPU.
std::map<std::string, std::vector<uint64_t>> read_softirqs();

struct IrqLine {
  std::vector<uint64_t> per_cpu;
  std::string description;  // the rest of the line: chip, hwirq, action names
};
// /proc/interrupts, numbered IRQs only: irq -> counts per CPU.
std::map<uint32_t, IrqLine> read_interrupts();

struct CtxSwitches {
  uint64_t voluntary = 0;
  uint64_t involuntary = 0;
};
// voluntary_ctxt_switches / nonvoluntary_ctxt_switches of /proc/<pid>/status.
CtxSwitches read_ctx_switches(pid_t pid);

// Total run-queue wait of a thread, ns: run_delay, the second field of
// /proc/<pid>/schedstat (CONFIG_SCHED_INFO), grown when the thread gets a CPU.
uint64_t read_run_delay_ns(pid_t pid);

// The state letter of /proc/<pid>/stat ('R', 'S'...).
char task_state(pid_t pid);
// Waits until the task sleeps ('S'), i.e. is blocked in a read.
void wait_until_sleeping(pid_t pid);

uint64_t sum(const std::vector<uint64_t>& v);

}  // namespace leaf::performance::test
