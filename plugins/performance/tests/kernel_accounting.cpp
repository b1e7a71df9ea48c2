#include "kernel_accounting.hpp"

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace leaf::performance::test {

std::map<std::string, std::vector<uint64_t>> read_softirqs() {
  std::ifstream in("/proc/softirqs");
  std::string line;
  std::getline(in, line);  // CPU0 CPU1 ...
  std::map<std::string, std::vector<uint64_t>> out;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string name;
    ss >> name;
    if (name.empty() || name.back() != ':') continue;
    name.pop_back();
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    uint64_t v;
    while (ss >> v) out[name].push_back(v);
  }
  if (out.empty()) throw std::runtime_error("cannot read /proc/softirqs");
  return out;
}

std::map<uint32_t, IrqLine> read_interrupts() {
  std::ifstream in("/proc/interrupts");
  std::string line;
  std::getline(in, line);
  size_t ncpus = 0;
  {
    std::istringstream ss(line);
    std::string cpu;
    while (ss >> cpu) ++ncpus;
  }
  std::map<uint32_t, IrqLine> out;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string label;
    ss >> label;
    if (label.empty() || label.back() != ':' || !std::isdigit(static_cast<unsigned char>(label[0])))
      continue;
    IrqLine irq;
    for (size_t c = 0; c < ncpus; ++c) {
      uint64_t v = 0;
      ss >> v;
      irq.per_cpu.push_back(v);
    }
    std::getline(ss, irq.description);
    out[static_cast<uint32_t>(std::stoul(label))] = irq;
  }
  return out;
}

uint64_t read_run_delay_ns(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
  uint64_t run_time = 0, run_delay = 0;
  if (!(in >> run_time >> run_delay))
    throw std::runtime_error("cannot read /proc/" + std::to_string(pid) + "/schedstat");
  return run_delay;
}

CtxSwitches read_ctx_switches(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) throw std::runtime_error("cannot read /proc/" + std::to_string(pid) + "/status");
  CtxSwitches c;
  std::string key;
  while (in >> key) {
    if (key == "voluntary_ctxt_switches:")
      in >> c.voluntary;
    else if (key == "nonvoluntary_ctxt_switches:")
      in >> c.involuntary;
  }
  return c;
}

char task_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return '?';
  return text[paren + 2];
}

void wait_until_sleeping(pid_t pid) {
  for (int i = 0; i < 100000 && task_state(pid) != 'S'; ++i) usleep(100);
  if (task_state(pid) != 'S') throw std::runtime_error("task did not go to sleep");
}

uint64_t sum(const std::vector<uint64_t>& v) {
  uint64_t s = 0;
  for (auto x : v) s += x;
  return s;
}

}  // namespace leaf::performance::test
