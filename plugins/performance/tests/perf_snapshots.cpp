#include "perf_snapshots.hpp"

#include <cstring>
#include <stdexcept>

namespace leaf::performance::test {

std::vector<Json> tick(TestHost& host) {
  host.take_emitted();
  host.fire_timers();
  std::vector<Json> out;
  for (const auto& r : host.take_emitted()) {
    if (r.type != "perf_stats") throw std::runtime_error("unexpected emitted type " + r.type);
    out.push_back(decode_perf_stats(r.bytes.data(), static_cast<uint32_t>(r.bytes.size())));
  }
  return out;
}

Json decode_perf_stats(const uint8_t* record, uint32_t size) {
  leaf_perf_stats_record r;
  std::memcpy(&r, record, sizeof(r));
  auto var = [&](const leaf_var& v) {
    if (v.offset < sizeof(r) || v.offset + v.length > size)
      throw std::runtime_error("perf_stats: a VarJson field points outside the record");
    return Json::parse(std::string(reinterpret_cast<const char*>(record) + v.offset, v.length));
  };
  Json j;
  j["type"] = "perf_stats";
  j["timestamp_mono_ns"] = r.hdr.timestamp_ns;
  j["interval_ns"] = r.interval_ns;
  j["ncpus"] = r.ncpus;
  j["context_switches"] = r.context_switches;
  j["preemptions"] = r.preemptions;
  j["irq_count"] = r.irq_count;
  j["softirq_count"] = r.softirq_count;
  j["truncated"] = r.truncated != 0;
  j["cpus"] = var(r.cpus);
  j["irqs"] = var(r.irqs);
  j["softirqs"] = var(r.softirqs);
  j["runq_latency"] = var(r.runq_latency);
  j["raw_suppressed"] = var(r.raw_suppressed);
  return j;
}

}  // namespace leaf::performance::test
