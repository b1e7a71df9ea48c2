#include "stats_json.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "schema.hpp"

namespace leaf::performance {

namespace {

void append_string(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {  // control bytes and anything not ASCII
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void field(std::string& out, const char* name, uint64_t v, bool first = false) {
  if (!first) out += ',';
  out += '"';
  out += name;
  out += "\":";
  out += std::to_string(v);
}

std::string counts_json(const std::vector<uint64_t>& per_cpu, const std::vector<uint32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(per_cpu[ids[i]]);
  }
  return out + "]";
}

// {"count":..,"sum_ns":..,"p50_ns":..,..,"hist_log2_ns":[..]} without braces.
void hist_fields(std::string& out, const leaf_perf_hist& h) {
  field(out, "count", h.count);
  field(out, "sum_ns", h.sum_ns);
  field(out, "p50_ns", hist_quantile_ns(h, 0.50));
  field(out, "p99_ns", hist_quantile_ns(h, 0.99));
  out += ",\"hist_log2_ns\":";
  out += hist_json(h);
}

std::string cpus_json(const StatsDelta& d) {
  std::string out = "[";
  for (size_t i = 0; i < d.cpu_ids.size(); ++i) {
    const leaf_perf_cpu_stats& c = d.cpus[d.cpu_ids[i]];
    out += i ? ",{" : "{";
    field(out, "cpu", d.cpu_ids[i], true);
    field(out, "context_switches", c.context_switches);
    field(out, "preemptions", c.preemptions);
    field(out, "irq_count", c.irq_count);
    field(out, "softirq_count", c.softirq_count);
    field(out, "wakeups", c.wakeups);
    field(out, "runq_count", c.runq.count);
    field(out, "runq_sum_ns", c.runq.sum_ns);
    out += '}';
  }
  return out + "]";
}

std::string softirqs_json(const StatsDelta& d) {
  std::string out = "[";
  for (uint32_t vec = 0; vec < PERF_SOFTIRQ_VECS; ++vec) {
    out += vec ? ",{" : "{";
    field(out, "vec", vec, true);
    out += ",\"name\":";
    append_string(out, kSoftirqNames[vec]);
    hist_fields(out, d.softirqs[vec].total);
    out += ",\"per_cpu\":";
    out += counts_json(d.softirqs[vec].per_cpu, d.cpu_ids);
    out += '}';
  }
  return out + "]";
}

// `detail`: histograms and per-CPU counts; `limit`: most IRQs listed (busiest first).
std::string irqs_json(const StatsDelta& d, bool detail, size_t limit) {
  std::vector<std::pair<uint32_t, const HistTable*>> order;
  for (const auto& [irq, t] : d.irqs) order.emplace_back(irq, &t);
  if (order.size() > limit) {
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
      return a.second->total.count > b.second->total.count;
    });
    order.resize(limit);
    std::sort(order.begin(), order.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  std::string out = "[";
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& [irq, t] = order[i];
    out += i ? ",{" : "{";
    field(out, "irq", irq, true);
    auto name = d.irq_names.find(irq);
    out += ",\"name\":";
    append_string(out, name == d.irq_names.end() ? std::string() : name->second);
    if (detail) {
      hist_fields(out, t->total);
      out += ",\"per_cpu\":";
      out += counts_json(t->per_cpu, d.cpu_ids);
    } else {
      field(out, "count", t->total.count);
      field(out, "sum_ns", t->total.sum_ns);
    }
    out += '}';
  }
  return out + "]";
}

std::string runq_json(const StatsDelta& d) {
  std::string out = "{";
  hist_fields(out, d.total.runq);
  out.erase(1, 1);  // the leading comma
  field(out, "untracked", d.total.runq_untracked);
  return out + "}";
}

std::string suppressed_json(const StatsDelta& d) {
  std::string out = "{";
  for (uint32_t i = 0; i < PERF_RAW_TYPES; ++i)
    field(out, kRawTypeNames[i], d.total.raw_suppressed[i], i == 0);
  return out + "}";
}

}  // namespace

std::string hist_json(const leaf_perf_hist& h) {
  size_t used = PERF_HIST_SLOTS;
  while (used > 0 && h.slots[used - 1] == 0) --used;
  std::string out = "[";
  for (size_t i = 0; i < used; ++i) {
    if (i) out += ',';
    out += std::to_string(h.slots[i]);
  }
  return out + "]";
}

uint64_t hist_quantile_ns(const leaf_perf_hist& h, double q) {
  uint64_t total = 0;
  for (uint64_t s : h.slots) total += s;
  if (total == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total) + 0.5);
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (uint32_t i = 0; i < PERF_HIST_SLOTS; ++i) {
    seen += h.slots[i];
    if (seen >= rank) return (2ull << i) - 1;
  }
  return (2ull << (PERF_HIST_SLOTS - 1)) - 1;
}

std::vector<uint8_t> build_stats_record(const StatsDelta& d, uint64_t timestamp_ns, uint16_t type) {
  std::string parts[5] = {cpus_json(d), irqs_json(d, true, d.irqs.size()), softirqs_json(d),
                          runq_json(d), suppressed_json(d)};
  const size_t fixed = sizeof(leaf_perf_stats_record);
  auto total = [&] {
    size_t n = fixed;
    for (const auto& p : parts) n += p.size();
    return n;
  };
  uint32_t truncated = 0;
  if (total() > PERF_STATS_MAX_SIZE) {
    truncated = 1;
    parts[1] = irqs_json(d, false, d.irqs.size());
    for (size_t limit = d.irqs.size(); total() > PERF_STATS_MAX_SIZE && limit > 0; limit /= 2)
      parts[1] = irqs_json(d, false, limit / 2);
    if (total() > PERF_STATS_MAX_SIZE) throw std::runtime_error("perf_stats snapshot too large");
  }

  std::vector<uint8_t> rec(total());
  leaf_perf_stats_record r{};
  r.hdr.timestamp_ns = timestamp_ns;
  r.hdr.type = type;
  r.interval_ns = d.interval_ns;
  r.context_switches = d.total.context_switches;
  r.preemptions = d.total.preemptions;
  r.irq_count = d.total.irq_count;
  r.softirq_count = d.total.softirq_count;
  r.ncpus = static_cast<uint32_t>(d.cpu_ids.size());
  r.truncated = truncated;
  leaf_var* vars[5] = {&r.cpus, &r.irqs, &r.softirqs, &r.runq_latency, &r.raw_suppressed};
  size_t offset = fixed;
  for (int i = 0; i < 5; ++i) {
    vars[i]->offset = static_cast<uint16_t>(offset);
    vars[i]->length = static_cast<uint16_t>(parts[i].size());
    std::memcpy(rec.data() + offset, parts[i].data(), parts[i].size());
    offset += parts[i].size();
  }
  std::memcpy(rec.data(), &r, fixed);
  return rec;
}

}  // namespace leaf::performance
