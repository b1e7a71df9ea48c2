// e2e_stages.so: a librdkafka plugin (interceptors, `plugin.library.paths`)
// that times where an event's milliseconds go between the kernel's timestamp
// and the broker's acknowledgement, inside the producer that sends it
// (leaf-host's Kafka sink or e2e-bare-producer). Benchmark only: loaded by
// `run_e2e.py --stages` through the sink's `properties`, never installed.
//
// On every acknowledged message, in librdkafka's broker thread the moment the
// produce response is handled (on_acknowledgement):
//   ack       CLOCK_REALTIME now − the event's "timestamp" (kernel time as
//             epoch ns), per event: kernel event → broker ack, SPEC §5's figure
//   produce   (now − rd_kafka_message_latency()) − the event's timestamp, per
//             event: kernel → produce() call (ring wait, drain tick, pipeline,
//             and for json-batch the batch's age)
//   produce_last  the same for the last event of each message only (json-batch:
//             the event that waited least in its batch)
//   rdkafka   rd_kafka_message_latency(), per message: produce() → ack
//             (linger, broker-thread wake-up, request round trip)
// and for every produce response (on_response_received, ApiKey 0):
//   rtt       request written → response read (the broker and the socket)
// Histograms of 20 us bins up to 100 ms (+ one overflow bin), cumulative since
// the process started, are written every 100 ms to the file named by the
// environment variable LEAF_E2E_STAGES (one JSON object, replaced by rename);
// without it the plugin does nothing. The driver subtracts two snapshots.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>

namespace {

constexpr int64_t kBinUs = 20;
constexpr size_t kBins = 5000;  // 100 ms; the last bin counts everything above

struct Hist {
  std::atomic<uint64_t> bins[kBins + 1] = {};
  void add_us(int64_t us) {
    size_t i = us < 0 ? 0 : std::min<size_t>(size_t(us / kBinUs), kBins);
    bins[i].fetch_add(1, std::memory_order_relaxed);
  }
  // Appends "name":[bin,...] to `out`. std::to_chars, not fprintf per bin:
  // the dump runs every 100 ms inside the measured process, and after one
  // slow event (an overload step) every dump writes thousands of bins. In
  // the 2026-11-27 report's profile at 100K (after the max step) vfprintf
  // and its helpers were ~4.7 % of leaf-host's samples, ~0.7 point of a
  // core; three alternating runs (max step, then 100K) could not tell the
  // two apart from noise.
  void write(std::string& out, const char* name) const {
    out += '"';
    out += name;
    out += "\":[";
    size_t last = 0;  // trailing zero bins are left out
    for (size_t i = 0; i <= kBins; ++i)
      if (bins[i].load(std::memory_order_relaxed)) last = i + 1;
    char num[24];
    for (size_t i = 0; i < last; ++i) {
      if (i) out += ',';
      auto r = std::to_chars(num, num + sizeof(num), bins[i].load(std::memory_order_relaxed));
      out.append(num, r.ptr);
    }
    out += ']';
  }
};

struct Stages {
  Hist ack, produce, produce_last, rdkafka, rtt;
  std::atomic<uint64_t> no_timestamp{0}, failed{0};
};

Stages g_stages;
std::mutex g_mu;
std::condition_variable g_cv;
int g_instances = 0;
bool g_stop = false;
std::thread g_writer;
const char* g_path = nullptr;

int64_t realtime_ns() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// The "timestamp" of one Leaf event. SPEC §2 puts it right after "type", so
// it is looked for there first (this runs in leaf-host's broker thread for
// every event), then anywhere in the line's first 200 bytes.
int64_t event_ns(const char* p, size_t n) {
  static const char kType[] = "{\"type\":\"";
  static const char kKey[] = "\"timestamp\":";
  constexpr size_t kTypeLen = sizeof(kType) - 1, kKeyLen = sizeof(kKey) - 1;
  const char* end = p + n;
  const char* at = nullptr;
  if (n > 80 && std::memcmp(p, kType, kTypeLen) == 0) {  // q + 2 + kKeyLen < p + 80
    const char* q = static_cast<const char*>(std::memchr(p + kTypeLen, '"', 64 - kTypeLen));
    if (q && q[1] == ',' && std::memcmp(q + 2, kKey, kKeyLen) == 0) at = q + 2;
  }
  if (!at) at = static_cast<const char*>(memmem(p, std::min<size_t>(n, 200), kKey, kKeyLen));
  if (!at) return 0;
  int64_t v = 0;
  for (at += kKeyLen; at < end && *at >= '0' && *at <= '9'; ++at) v = v * 10 + (*at - '0');
  return v;
}

void dump() {
  static std::string out;  // the writer thread's only: its capacity is kept between dumps
  out.clear();
  char head[96];
  int n = std::snprintf(
      head, sizeof(head), "{\"bin_us\":%lld,\"no_timestamp\":%llu,\"failed\":%llu,",
      static_cast<long long>(kBinUs), static_cast<unsigned long long>(g_stages.no_timestamp.load()),
      static_cast<unsigned long long>(g_stages.failed.load()));
  out.append(head, static_cast<size_t>(n));
  g_stages.ack.write(out, "ack");
  out += ',';
  g_stages.produce.write(out, "produce");
  out += ',';
  g_stages.produce_last.write(out, "produce_last");
  out += ',';
  g_stages.rdkafka.write(out, "rdkafka");
  out += ',';
  g_stages.rtt.write(out, "rtt");
  out += "}\n";
  std::string tmp = std::string(g_path) + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return;
  bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  if (std::fclose(f) == 0 && ok) std::rename(tmp.c_str(), g_path);
}

void writer() {
  std::unique_lock lk(g_mu);
  while (!g_stop) {
    lk.unlock();
    dump();
    lk.lock();
    g_cv.wait_for(lk, std::chrono::milliseconds(100), [] { return g_stop; });
  }
  dump();
}

rd_kafka_resp_err_t on_ack(rd_kafka_t*, rd_kafka_message_t* m, void*) {
  if (m->err) {
    g_stages.failed.fetch_add(1, std::memory_order_relaxed);
    return RD_KAFKA_RESP_ERR_NO_ERROR;
  }
  int64_t now = realtime_ns();
  int64_t rdk_us = rd_kafka_message_latency(m);
  if (rdk_us >= 0) g_stages.rdkafka.add_us(rdk_us);
  int64_t produced = rdk_us >= 0 ? now - rdk_us * 1000 : 0;
  const char* p = static_cast<const char*>(m->payload);
  const char* end = p + m->len;
  int64_t last = 0;
  while (p < end) {  // one event per line (json: the whole message)
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', size_t(end - p)));
    const char* line_end = nl ? nl : end;
    int64_t t = event_ns(p, size_t(line_end - p));
    if (t) {
      g_stages.ack.add_us((now - t) / 1000);
      if (produced) g_stages.produce.add_us((produced - t) / 1000);
      last = t;
    } else {
      g_stages.no_timestamp.fetch_add(1, std::memory_order_relaxed);
    }
    p = line_end + 1;
  }
  if (last && produced) g_stages.produce_last.add_us((produced - last) / 1000);
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t on_response(rd_kafka_t*, int, const char*, int32_t, int16_t api_key, int16_t,
                                int32_t, size_t, int64_t rtt, rd_kafka_resp_err_t err, void*) {
  if (api_key == 0 && !err && rtt >= 0) g_stages.rtt.add_us(rtt);  // Produce
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t on_destroy(rd_kafka_t*, void*) {
  std::thread done;
  {
    std::lock_guard lk(g_mu);
    if (--g_instances == 0) {
      g_stop = true;
      done = std::move(g_writer);
    }
  }
  g_cv.notify_all();
  if (done.joinable()) done.join();  // before librdkafka may unload this library
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t on_new(rd_kafka_t* rk, const rd_kafka_conf_t*, void*, char*, size_t) {
  if (rd_kafka_type(rk) != RD_KAFKA_PRODUCER) return RD_KAFKA_RESP_ERR_NO_ERROR;
  rd_kafka_interceptor_add_on_acknowledgement(rk, "leaf-e2e-stages", on_ack, nullptr);
  rd_kafka_interceptor_add_on_response_received(rk, "leaf-e2e-stages", on_response, nullptr);
  rd_kafka_interceptor_add_on_destroy(rk, "leaf-e2e-stages", on_destroy, nullptr);
  std::lock_guard lk(g_mu);
  if (g_instances++ == 0) {
    g_stop = false;
    g_writer = std::thread(writer);
  }
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t on_conf_dup(rd_kafka_conf_t*, const rd_kafka_conf_t*, size_t, const char**,
                                void*);

// Duplicates are refused by librdkafka (CONFLICT), so adding twice is harmless.
void add_interceptors(rd_kafka_conf_t* conf) {
  if (!g_path) return;
  rd_kafka_conf_interceptor_add_on_new(conf, "leaf-e2e-stages", on_new, nullptr);
  rd_kafka_conf_interceptor_add_on_conf_dup(conf, "leaf-e2e-stages", on_conf_dup, nullptr);
}

// A copied configuration (a producer may be made from a copy) does not
// inherit interceptors: set them up again, as conf_init does.
rd_kafka_resp_err_t on_conf_dup(rd_kafka_conf_t* new_conf, const rd_kafka_conf_t*, size_t,
                                const char**, void*) {
  add_interceptors(new_conf);
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

}  // namespace

extern "C" rd_kafka_resp_err_t conf_init(rd_kafka_conf_t* conf, void** plug_opaquep, char*,
                                         size_t) {
  *plug_opaquep = nullptr;
  g_path = std::getenv("LEAF_E2E_STAGES");
  add_interceptors(conf);
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}
