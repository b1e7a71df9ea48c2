#include "stats_reader.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace leaf::performance {

namespace {

// Both structs are made of __u64 counters that only grow; they are walked
// as arrays of __u64 (their members' own type: `uint64_t` would be another
// type, and the compiler may assume the two never alias).
template <class T>
void subtract(T& out, const T& now, const T& before) {
  static_assert(sizeof(T) % sizeof(__u64) == 0);
  auto* o = reinterpret_cast<__u64*>(&out);
  auto* n = reinterpret_cast<const __u64*>(&now);
  auto* b = reinterpret_cast<const __u64*>(&before);
  for (size_t i = 0; i < sizeof(T) / sizeof(__u64); ++i) o[i] = n[i] - b[i];
}

template <class T>
void accumulate(T& out, const T& v) {
  auto* o = reinterpret_cast<__u64*>(&out);
  auto* x = reinterpret_cast<const __u64*>(&v);
  for (size_t i = 0; i < sizeof(T) / sizeof(__u64); ++i) o[i] += x[i];
}

// Per-CPU map values come as one value per possible CPU, each rounded up
// to 8 bytes; both value types are multiples of 8 already.
template <class T>
std::vector<T> lookup_percpu(int fd, uint32_t key, uint32_t ncpus) {
  static_assert(sizeof(T) % 8 == 0);
  std::vector<T> values(ncpus);
  if (bpf_map_lookup_elem(fd, &key, values.data()) != 0)
    throw std::runtime_error(std::string("reading a per-CPU map: ") + std::strerror(errno));
  return values;
}

// /sys/devices/system/cpu/online: "0-3,5".
std::vector<bool> online_cpus(uint32_t ncpus) {
  std::vector<bool> online(ncpus, false);
  std::ifstream in("/sys/devices/system/cpu/online");
  std::string list;
  if (!(in >> list)) return std::vector<bool>(ncpus, true);
  std::stringstream ss(list);
  std::string range;
  while (std::getline(ss, range, ',')) {
    auto dash = range.find('-');
    uint32_t lo = std::stoul(range.substr(0, dash));
    uint32_t hi = dash == std::string::npos ? lo : std::stoul(range.substr(dash + 1));
    for (uint32_t c = lo; c <= hi && c < ncpus; ++c) online[c] = true;
  }
  return online;
}

}  // namespace

StatsReader::StatsReader(StatsMaps maps) : maps_(maps) {
  int n = libbpf_num_possible_cpus();
  if (n <= 0) throw std::runtime_error("cannot count the possible CPUs");
  ncpus_ = static_cast<uint32_t>(n);
  online_ = online_cpus(ncpus_);
}

StatsReader::Reading StatsReader::read() const {
  Reading r;
  r.cpus = lookup_percpu<leaf_perf_cpu_stats>(maps_.cpu_stats, 0, ncpus_);
  r.softirqs.reserve(PERF_SOFTIRQ_VECS);
  for (uint32_t vec = 0; vec < PERF_SOFTIRQ_VECS; ++vec)
    r.softirqs.push_back(lookup_percpu<leaf_perf_hist>(maps_.softirq_stats, vec, ncpus_));
  uint32_t key = 0, next = 0;
  const void* cursor = nullptr;
  while (bpf_map_get_next_key(maps_.irq_stats, cursor, &next) == 0) {
    r.irqs[next] = lookup_percpu<leaf_perf_hist>(maps_.irq_stats, next, ncpus_);
    key = next;
    cursor = &key;
  }
  return r;
}

void StatsReader::read_names() {
  uint32_t key = 0, next = 0;
  const void* cursor = nullptr;
  while (bpf_map_get_next_key(maps_.irq_names, cursor, &next) == 0) {
    char name[PERF_IRQ_NAME_LEN + 1] = {};
    if (!names_.count(next) && bpf_map_lookup_elem(maps_.irq_names, &next, name) == 0)
      names_[next] = name;
    key = next;
    cursor = &key;
  }
}

void StatsReader::baseline(uint64_t now_ns) {
  prev_ = read();
  prev_ns_ = now_ns;
}

StatsDelta StatsReader::next(uint64_t now_ns) {
  Reading now = read();
  StatsDelta d;
  d.interval_ns = now_ns - prev_ns_;

  d.cpus.resize(ncpus_);
  for (uint32_t c = 0; c < ncpus_; ++c) {
    subtract(d.cpus[c], now.cpus[c], prev_.cpus[c]);
    accumulate(d.total, d.cpus[c]);
    if (online_[c] || d.cpus[c].context_switches || d.cpus[c].irq_count || d.cpus[c].softirq_count)
      d.cpu_ids.push_back(c);
  }

  for (uint32_t vec = 0; vec < PERF_SOFTIRQ_VECS; ++vec) {
    HistTable& t = d.softirqs[vec];
    t.per_cpu.resize(ncpus_);
    for (uint32_t c = 0; c < ncpus_; ++c) {
      leaf_perf_hist h{};
      subtract(h, now.softirqs[vec][c], prev_.softirqs[vec][c]);
      t.per_cpu[c] = h.count;
      accumulate(t.total, h);
    }
  }

  bool unnamed = false;
  const std::vector<leaf_perf_hist> zeros(ncpus_);
  for (const auto& [irq, values] : now.irqs) {
    auto before = prev_.irqs.find(irq);
    const auto& base = before == prev_.irqs.end() ? zeros : before->second;
    HistTable t;
    t.per_cpu.resize(ncpus_);
    for (uint32_t c = 0; c < ncpus_; ++c) {
      leaf_perf_hist h{};
      subtract(h, values[c], base[c]);
      t.per_cpu[c] = h.count;
      accumulate(t.total, h);
    }
    if (t.total.count == 0) continue;
    unnamed = unnamed || !names_.count(irq);
    d.irqs.emplace(irq, std::move(t));
  }
  if (unnamed) read_names();
  for (const auto& [irq, t] : d.irqs) {
    auto n = names_.find(irq);
    if (n != names_.end()) d.irq_names[irq] = n->second;
  }

  prev_ = std::move(now);
  prev_ns_ = now_ns;
  return d;
}

leaf_perf_cpu_stats StatsReader::cumulative() const {
  leaf_perf_cpu_stats total{};
  for (const auto& c : lookup_percpu<leaf_perf_cpu_stats>(maps_.cpu_stats, 0, ncpus_))
    accumulate(total, c);
  return total;
}

}  // namespace leaf::performance
