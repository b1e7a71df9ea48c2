// Per-event hot path: ring-buffer record -> schema -> JSON line, for a
// 10-field event shaped like tcp_connect. Prints ns/event for
//   encode     schema-driven encode_event() alone
//   pipeline   Pipeline::handle(): type lookup, size check, encode, key, one sink
// and, as baselines measured in the same run on the same record:
//   snprintf   a hand-written encoder for this one struct (what a plugin
//              author would write without schemas)
//   nlohmann   building and dumping an nlohmann::json object
// Usage: pipeline_bench [events per repetition] [repetitions]
#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "leaf_event.h"
#include "pipeline/event_encoder.hpp"
#include "pipeline/pipeline.hpp"

using namespace leaf;

namespace {

struct conn_event {
  leaf_event_header hdr;
  uint32_t pid, tgid, uid;
  uint16_t family, src_port, dst_port, pad;
  uint8_t src_ip[16], dst_ip[16];
  uint64_t cgroup_id;
  char comm[16];
};

const sdk::FieldDesc kFields[] = {
    LEAF_FIELD(conn_event, pid, U32),      LEAF_FIELD(conn_event, tgid, U32),
    LEAF_FIELD(conn_event, uid, U32),      LEAF_FIELD(conn_event, comm, Chars),
    LEAF_FIELD(conn_event, family, U16),   LEAF_FIELD(conn_event, src_ip, IpAddr),
    LEAF_FIELD(conn_event, src_port, U16), LEAF_FIELD(conn_event, dst_ip, IpAddr),
    LEAF_FIELD(conn_event, dst_port, U16), LEAF_FIELD(conn_event, cgroup_id, U64),
};
const sdk::EventTypeDesc kType = {.name = "tcp_connect",
                                  .category = sdk::Category::Network,
                                  .fields = kFields,
                                  .field_count = 10,
                                  .fixed_size = sizeof(conn_event),
                                  .max_size = sizeof(conn_event),
                                  .key_field = nullptr,
                                  .description = ""};

// Counts and discards: the cost of a sink that does nothing.
class NullSink final : public sdk::ISink {
 public:
  uint64_t bytes = 0;
  const char* last_error() const noexcept override { return ""; }
  void destroy() noexcept override {}
  void* query_interface(sdk::InterfaceId id) noexcept override {
    return id == sdk::ISink::kId ? static_cast<sdk::ISink*>(this) : nullptr;
  }
  sdk::Status open() noexcept override { return sdk::Status::Ok; }
  sdk::Status write(const sdk::SinkMessage* m) noexcept override {
    bytes += m->json.size + m->key.size;
    return sdk::Status::Ok;
  }
  void poll() noexcept override {}
  sdk::Status flush(uint32_t) noexcept override { return sdk::Status::Ok; }
  void read_counters(sdk::ICounterVisitor*) noexcept override {}
  void close() noexcept override {}
  uint32_t healthy() const noexcept override { return 1; }
};

std::string ip_text(const uint8_t* a) {
  char buf[64];
  if (a[10] == 0xff && a[11] == 0xff) return inet_ntop(AF_INET, a + 12, buf, sizeof(buf));
  return inet_ntop(AF_INET6, a, buf, sizeof(buf));
}

template <class F>
double ns_per_event(F&& f, int n, int reps) {
  std::vector<double> runs;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) f(i);
    auto t1 = std::chrono::steady_clock::now();
    runs.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];  // median
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 1'000'000;
  int reps = argc > 2 ? std::atoi(argv[2]) : 7;

  std::vector<conn_event> recs(1024);
  for (size_t i = 0; i < recs.size(); ++i) {
    auto& r = recs[i];
    std::memset(&r, 0, sizeof(r));
    r.hdr.timestamp_ns = 1'000'000'000 + i * 1000;
    r.pid = 10000 + i;
    r.tgid = r.pid;
    r.uid = 1000;
    r.family = 4;
    r.src_port = 40000 + (i % 20000);
    r.dst_port = 443;
    inet_pton(AF_INET6, "::ffff:10.0.0.1", r.src_ip);
    inet_pton(AF_INET6, "::ffff:93.184.216.34", r.dst_ip);
    r.cgroup_id = 123456 + i;
    std::snprintf(r.comm, sizeof(r.comm), "curl-%zu", i % 100);
  }
  auto rec = [&](int i) { return reinterpret_cast<const uint8_t*>(&recs[i & 1023]); };

  std::string out;
  core::EncodeContext ctx{"prod-web-01", 1'700'000'000'000'000'000LL, ""};
  size_t sink_bytes = 0;
  core::CompiledType compiled = core::compile_type(kType);
  std::vector<char> raw(core::encode_bound(compiled, sizeof(conn_event), ctx, nullptr));

  double encode = ns_per_event(
      [&](int i) { sink_bytes += core::encode_to(raw.data(), compiled, rec(i), ctx, nullptr); }, n,
      reps);

  core::Pipeline pipeline("prod-web-01", {});
  NullSink sink;
  pipeline.add_sink("null", &sink);
  auto types = pipeline.register_types("bench", &kType, sizeof(kType), 1);
  double full = ns_per_event(
      [&](int i) { pipeline.handle("bench", types, rec(i), sizeof(conn_event)); }, n, reps);

  char buf[1024];
  double snp = ns_per_event(
      [&](int i) {
        const auto& r = recs[i & 1023];
        int len = std::snprintf(
            buf, sizeof(buf),
            "{\"type\":\"network\",\"timestamp\":%llu,\"hostname\":\"prod-web-01\",\"data\":{"
            "\"type\":\"tcp_connect\",\"pid\":%u,\"tgid\":%u,\"uid\":%u,\"comm\":\"%s\","
            "\"family\":%u,\"src_ip\":\"%s\",\"src_port\":%u,\"dst_ip\":\"%s\",\"dst_port\":%u,"
            "\"cgroup_id\":%llu}}",
            (unsigned long long)(r.hdr.timestamp_ns + ctx.mono_to_epoch_ns), r.pid, r.tgid, r.uid,
            r.comm, r.family, ip_text(r.src_ip).c_str(), r.src_port, ip_text(r.dst_ip).c_str(),
            r.dst_port, (unsigned long long)r.cgroup_id);
        sink_bytes += len;
      },
      n, reps);

  double nl = ns_per_event(
      [&](int i) {
        const auto& r = recs[i & 1023];
        nlohmann::json j = {{"type", "network"},
                            {"timestamp", r.hdr.timestamp_ns + ctx.mono_to_epoch_ns},
                            {"hostname", "prod-web-01"},
                            {"data",
                             {{"type", "tcp_connect"},
                              {"pid", r.pid},
                              {"tgid", r.tgid},
                              {"uid", r.uid},
                              {"comm", r.comm},
                              {"family", r.family},
                              {"src_ip", ip_text(r.src_ip)},
                              {"src_port", r.src_port},
                              {"dst_ip", ip_text(r.dst_ip)},
                              {"dst_port", r.dst_port},
                              {"cgroup_id", r.cgroup_id}}}};
        sink_bytes += j.dump().size();
      },
      std::max(1, n / 4), reps);

  out.clear();
  core::encode_event(out, kType, rec(0), sizeof(conn_event), ctx, nullptr);
  std::printf(
      "pipeline_bench: 10-field tcp_connect-shaped event, %d events x %d repetitions (median)\n", n,
      reps);
  std::printf("sample: %s\n", out.c_str());
  std::printf("%-44s %8.1f ns/event\n", "encode (schema-driven encode_to)", encode);
  std::printf("%-44s %8.1f ns/event   goal <= 120\n", "pipeline (handle: check+encode+key+sink)",
              full);
  std::printf("%-44s %8.1f ns/event   ratio pipeline/baseline %.2f\n",
              "baseline: hand-written snprintf encoder", snp, full / snp);
  std::printf("%-44s %8.1f ns/event   ratio pipeline/baseline %.2f\n",
              "baseline: nlohmann::json build + dump", nl, full / nl);
  std::printf("events through pipeline: %llu, bytes to null sink: %llu (checksum %zu)\n",
              (unsigned long long)pipeline.events_total(), (unsigned long long)sink.bytes,
              sink_bytes);
  return 0;
}
