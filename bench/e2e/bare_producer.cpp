// e2e-bare-producer: the Kafka ceiling of the end-to-end benchmark. A bare
// librdkafka producer with the Kafka sink's default settings (linger 1 ms, no Nagle,
// lz4, idempotence, acks=all, queue 1M messages / 256 MiB) sends the very
// messages leaf-host sent (captured by e2e-consumer: topic TAB key TAB json),
// cycling through them, to the same broker.
//   e2e-bare-producer BOOTSTRAP SAMPLES MESSAGES [RATE]
// RATE: messages/s (0 or absent: as fast as the queue takes them).
// Prints one JSON line: rate (messages / time to the last acknowledgement),
// produce -> acknowledgement latency percentiles, and the CPU the process
// used (all threads, including the metadata wait before the clock starts).
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

int64_t mono_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

struct Msg {
  std::string topic, key, payload;
};

std::vector<int64_t> g_lat;
uint64_t g_acked = 0, g_failed = 0;

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err) {
    ++g_failed;
    return;
  }
  ++g_acked;
  g_lat.push_back(mono_ns() - reinterpret_cast<int64_t>(m->_private));
}

void set(rd_kafka_conf_t* c, const char* k, const char* v) {
  char err[256];
  if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "e2e-bare-producer: %s: %s\n", k, err);
    std::exit(2);
  }
}

double pct(const std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  return double(v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))]) / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: e2e-bare-producer BOOTSTRAP SAMPLES MESSAGES [RATE [TICK_US]]\n");
    return 2;
  }
  std::vector<Msg> msgs;
  std::ifstream in(argv[2]);
  for (std::string line; std::getline(in, line);) {
    auto a = line.find('\t'), b = line.find('\t', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    msgs.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  if (msgs.empty()) {
    std::fprintf(stderr, "e2e-bare-producer: no messages in %s\n", argv[2]);
    return 1;
  }
  const uint64_t total = std::strtoull(argv[3], nullptr, 10);
  const double rate = argc > 4 ? std::atof(argv[4]) : 0;
  // Microseconds between bursts when paced: leaf-host's drain tick (run_e2e.py
  // passes its dispatcher.wakeup_delay), so both produce in the same bursts.
  const long tick_us = argc > 5 ? std::atol(argv[5]) : 2000;

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", argv[1]);
  set(conf, "linger.ms", "1");
  set(conf, "socket.nagle.disable", "true");
  set(conf, "compression.type", "lz4");
  set(conf, "enable.idempotence", "true");
  set(conf, "acks", "all");
  set(conf, "queue.buffering.max.messages", "1000000");
  set(conf, "queue.buffering.max.kbytes", "262144");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  char err[256];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) {
    std::fprintf(stderr, "e2e-bare-producer: %s\n", err);
    return 1;
  }
  // Connected and metadata known before the clock starts, as for leaf-host.
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 1, nullptr, &md, 5000) == 0) rd_kafka_metadata_destroy(md);
  g_lat.reserve(total);

  const int64_t t0 = mono_ns();
  uint64_t sent = 0, queue_full_waits = 0;
  while (sent < total) {
    if (rate > 0) {
      double due = double(mono_ns() - t0) * 1e-9 * rate;
      if (double(sent) >= due) {
        // A burst per tick, like leaf-host's drain tick (dispatcher.wakeup_delay).
        rd_kafka_poll(rk, 0);
        timespec ts{tick_us / 1000000, (tick_us % 1000000) * 1000};
        nanosleep(&ts, nullptr);
        continue;
      }
    }
    const Msg& m = msgs[sent % msgs.size()];
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(m.topic.c_str()), RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(m.payload.data()), m.payload.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(mono_ns())), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      ++queue_full_waits;
      rd_kafka_poll(rk, 1);
      continue;
    }
    if (e) {
      std::fprintf(stderr, "e2e-bare-producer: %s\n", rd_kafka_err2str(e));
      return 1;
    }
    ++sent;
    if ((sent & 1023) == 0) rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 60000);
  const double secs = double(mono_ns() - t0) * 1e-9;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);  // every thread: ours and librdkafka's
  const double cpu = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  std::sort(g_lat.begin(), g_lat.end());
  std::printf(
      "{\"messages\":%llu,\"acked\":%llu,\"failed\":%llu,\"seconds\":%.4f,\"rate\":%.1f,"
      "\"target_rate\":%.1f,\"cpu_seconds\":%.3f,\"cpu_pct_of_core\":%.2f,\"queue_full_waits\":%"
      "llu,\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,"
      "\"p999\":%.1f,\"max\":%.1f}}\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(g_acked),
      static_cast<unsigned long long>(g_failed), secs, double(g_acked) / secs, rate, cpu,
      100.0 * cpu / secs, static_cast<unsigned long long>(queue_full_waits), pct(g_lat, 0.5),
      pct(g_lat, 0.99), pct(g_lat, 0.999), pct(g_lat, 1.0));
  rd_kafka_destroy(rk);
  return 0;
}
