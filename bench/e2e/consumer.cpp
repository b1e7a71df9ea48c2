// e2e-consumer: reads every Leaf topic from the broker and measures, per
// message, event time (the JSON "timestamp", kernel time as epoch ns) to
// the moment the message reached this consumer (CLOCK_REALTIME). A json-batch
// message (many newline-terminated events) counts each of its events, each
// timed by its own "timestamp".
//   e2e-consumer BOOTSTRAP
// Commands on stdin, one per line, each answered by one JSON line on stdout:
//   mark          figures since the previous mark: messages read, latency
//                 percentiles, and the broker's log-end offsets (sum over
//                 every partition of every topic: messages the broker appended)
//   sample FILE   write up to 4000 messages read so far (topic TAB key TAB json)
//   quit
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

const char* const kTopics[] = {"system.events.network", "system.events.process",
                               "system.events.performance", "system.metrics"};

int64_t realtime_ns() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// The "timestamp" of a Leaf message: the field follows "type" at the start.
int64_t event_ns(const char* p, size_t n) {
  static const char kKey[] = "\"timestamp\":";
  const char* end = p + n;
  const char* at =
      static_cast<const char*>(memmem(p, std::min<size_t>(n, 200), kKey, sizeof(kKey) - 1));
  if (!at) return 0;
  int64_t v = 0;
  for (at += sizeof(kKey) - 1; at < end && *at >= '0' && *at <= '9'; ++at) v = v * 10 + (*at - '0');
  return v;
}

struct Sample {
  std::string topic, key, payload;
};

struct State {
  rd_kafka_t* rk = nullptr;
  std::vector<std::pair<std::string, int>> parts;  // topic, partition
  std::vector<int64_t> lat_ns;
  uint64_t messages = 0, events = 0, no_timestamp = 0;
  std::vector<Sample> samples;
};

double pct(const std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(q * double(v.size() - 1) + 0.5);
  return double(v[std::min(i, v.size() - 1)]) / 1e3;  // us
}

int64_t log_end(State& s) {
  int64_t sum = 0;
  for (auto& [t, p] : s.parts) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(s.rk, t.c_str(), p, &lo, &hi, 2000) == 0) sum += hi;
  }
  return sum;
}

void mark(State& s) {
  std::sort(s.lat_ns.begin(), s.lat_ns.end());
  double mean = 0;
  for (int64_t v : s.lat_ns) mean += double(v);
  if (!s.lat_ns.empty()) mean /= double(s.lat_ns.size()) * 1e3;
  std::printf(
      "{\"messages\":%llu,\"events\":%llu,\"no_timestamp\":%llu,\"log_end\":%lld,"
      "\"latency_us\":{\"n\":%zu,"
      "\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}}\n",
      static_cast<unsigned long long>(s.messages), static_cast<unsigned long long>(s.events),
      static_cast<unsigned long long>(s.no_timestamp), static_cast<long long>(log_end(s)),
      s.lat_ns.size(), mean, pct(s.lat_ns, 0.5), pct(s.lat_ns, 0.9), pct(s.lat_ns, 0.99),
      pct(s.lat_ns, 0.999), pct(s.lat_ns, 1.0));
  std::fflush(stdout);
  s.lat_ns.clear();
  s.messages = s.events = s.no_timestamp = 0;
}

void write_samples(State& s, const std::string& file) {
  FILE* f = std::fopen(file.c_str(), "w");
  if (f) {
    for (auto& m : s.samples)
      std::fprintf(f, "%s\t%s\t%s\n", m.topic.c_str(), m.key.c_str(), m.payload.c_str());
    std::fclose(f);
  }
  std::printf("{\"samples\":%zu}\n", s.samples.size());
  std::fflush(stdout);
}

void set(rd_kafka_conf_t* c, const char* k, const char* v) {
  char err[256];
  if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "e2e-consumer: %s: %s\n", k, err);
    std::exit(2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: e2e-consumer BOOTSTRAP\n");
    return 2;
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", argv[1]);
  set(conf, "group.id", "leaf-e2e");  // required by the API; partitions are assigned by hand
  set(conf, "enable.auto.commit", "false");
  set(conf, "fetch.wait.max.ms", "1");
  set(conf, "fetch.error.backoff.ms", "1");
  set(conf, "fetch.min.bytes", "1");
  set(conf, "check.crcs", "false");
  char err[256];
  State s;
  s.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (!s.rk) {
    std::fprintf(stderr, "e2e-consumer: %s\n", err);
    return 1;
  }
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(s.rk, 1, nullptr, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "e2e-consumer: no metadata from %s\n", argv[1]);
    return 1;
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(16);
  for (int i = 0; i < md->topic_cnt; ++i)
    for (const char* t : kTopics)
      if (std::strcmp(md->topics[i].topic, t) == 0)
        for (int p = 0; p < md->topics[i].partition_cnt; ++p) {
          rd_kafka_topic_partition_list_add(list, t, p)->offset = RD_KAFKA_OFFSET_END;
          s.parts.emplace_back(t, p);
        }
  rd_kafka_metadata_destroy(md);
  rd_kafka_assign(s.rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  s.lat_ns.reserve(1 << 22);
  std::printf("{\"ready\":true,\"partitions\":%zu}\n", s.parts.size());
  std::fflush(stdout);

  std::string pending;
  for (uint64_t iter = 0;; ++iter) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(s.rk, 5);
    if (m) {
      int64_t now = realtime_ns();
      if (!m->err) {
        ++s.messages;
        const char* p = static_cast<const char*>(m->payload);
        const char* end = p + m->len;
        while (p < end) {  // one event per line (json: the whole message)
          const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
          const char* line_end = nl ? nl : end;
          ++s.events;
          int64_t t = event_ns(p, line_end - p);
          if (t)
            s.lat_ns.push_back(now - t);
          else
            ++s.no_timestamp;
          if (s.samples.size() < 4000)
            s.samples.push_back({rd_kafka_topic_name(m->rkt),
                                 std::string(static_cast<const char*>(m->key), m->key_len),
                                 std::string(p, line_end)});
          p = line_end + 1;
        }
      }
      rd_kafka_message_destroy(m);
      if (iter % 256) continue;
    }
    pollfd pfd{0, POLLIN, 0};
    if (poll(&pfd, 1, 0) <= 0) continue;
    char buf[1024];
    ssize_t n = read(0, buf, sizeof(buf));
    if (n <= 0) break;
    pending.append(buf, size_t(n));
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line == "mark")
        mark(s);
      else if (line.rfind("sample ", 0) == 0)
        write_samples(s, line.substr(7));
      else if (line == "quit") {
        rd_kafka_consumer_close(s.rk);
        rd_kafka_destroy(s.rk);
        return 0;
      }
    }
  }
  rd_kafka_destroy(s.rk);
  return 0;
}
