// Throughput of the Kafka sink (leaf_kafka.so, loaded through its
// descriptor, driven the way leaf-host drives it: write() per event, poll()
// after every batch) against a bare librdkafka producer sending the same
// 300-byte messages with the same settings, to the same leaf-mock-kafka
// broker in another process, in the same run. Each rate is measured from the
// first message to the last acknowledgement, and the process CPU time (all
// threads, librdkafka's included; the broker runs in another process) per
// message. Prints both rates, CPU per message and the ratios.
//
// --format json-batch: the sink in the batched format (SPEC.md §3).
// --rate R --seconds S: the sink alone, paced at R events/s in 1 ms ticks
// (write, then poll(), as leaf-host's drain tick does) with event times from
// CLOCK_REALTIME; prints CPU per event and the P50/P99 of event -> broker
// acknowledgement from the sink's own histogram (log2 buckets, interpolated
// within a bucket). --set key=value sets a sink option (linger=1ms,
// batch.max_age=5ms...), --property name=value a librdkafka property.
// --plugin PATH: another build of leaf_kafka.so (a before/after comparison
// in the same run).
// --overload N: the broker goes down after open(): the sink takes N events
// as fast as write() returns; prints the RSS growth, what the queue holds
// (kafka_queue_bytes) and what it refused, for the queue.max_size given with
// --queue-size (default: the sink's).
#include <dlfcn.h>
#include <fcntl.h>
#include <leaf/sdk/abi.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <leaf/sdk/testing/test_host.hpp>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using leaf::sdk::Status;
using leaf::sdk::testing::TestHost;

constexpr size_t kMessageSize = 300;
constexpr size_t kDistinct = 4096;  // distinct messages, cycled
constexpr size_t kBatch = 64;       // events per dispatcher batch (poll() after each)
constexpr const char* kTopic = "system.events.process";

struct Message {
  std::string key, json;
};

// 300-byte SPEC.md-shaped process events with a pid key.
std::vector<Message> make_messages() {
  std::vector<Message> out;
  for (size_t i = 0; i < kDistinct; ++i) {
    std::string pid = std::to_string(1000 + i % 977);
    std::string json =
        "{\"type\":\"process\",\"timestamp\":" + std::to_string(1704806400000000000ull + i) +
        ",\"hostname\":\"bench-host-01\",\"data\":{\"type\":\"process_exec\",\"pid\":" + pid +
        ",\"tgid\":" + pid +
        ",\"ppid\":1,\"uid\":0,\"gid\":0,\"comm\":\"bench\",\"filename\":"
        "\"/usr/bin/bench\",\"cmdline\":\"";
    std::string tail = "\",\"cmdline_truncated\":false,\"cgroup_id\":1}}";
    json += std::string(kMessageSize - json.size() - tail.size(), 'x') + tail;
    out.push_back({pid, json});
  }
  return out;
}

// leaf-mock-kafka in its own process.
class MockBroker {
 public:
  explicit MockBroker(bool down = false) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      if (down)
        execl(LEAF_MOCK_KAFKA_BINARY, "leaf-mock-kafka", "--partitions", "3", "--down", nullptr);
      else
        execl(LEAF_MOCK_KAFKA_BINARY, "leaf-mock-kafka", "--partitions", "3", nullptr);
      _exit(127);
    }
    close(out[1]);
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') bootstrap_ += c;
    close(out[0]);
    if (bootstrap_.empty()) throw std::runtime_error("leaf-mock-kafka printed no address");
  }
  ~MockBroker() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  const std::string& bootstrap() const { return bootstrap_; }
  void down() { kill(pid_, SIGUSR1); }  // leaf-mock-kafka: every broker down

 private:
  pid_t pid_ = -1;
  std::string bootstrap_;
};

struct Result {
  double seconds = 0, cpu_seconds = 0;
  uint64_t delivered = 0, failed = 0, refused = 0;
};

double cpu_now() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

long rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

std::string g_format = "json";
std::string g_queue_size;                  // empty: the sink's default
std::map<std::string, std::string> g_set;  // --set key=value (TOML-like value text)
std::vector<std::string> g_properties;     // --property name=value

// The bare producer: the sink's default settings, nothing else.
Result run_bare(const std::string& bootstrap, const std::vector<Message>& msgs, size_t n) {
  struct Counts {
    uint64_t ok = 0, failed = 0;
  } counts;
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const char* props[][2] = {{"bootstrap.servers", bootstrap.c_str()},
                            {"client.id", "leaf-bench-bare"},
                            {"linger.ms", "1"},
                            {"socket.nagle.disable", "true"},
                            {"compression.type", "lz4"},
                            {"enable.idempotence", "true"},
                            {"acks", "all"},
                            {"queue.buffering.max.messages", "1000000"},
                            {"queue.buffering.max.kbytes", "262144"},
                            {"message.timeout.ms", "300000"}};
  for (auto& p : props)
    if (rd_kafka_conf_set(conf, p[0], p[1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
      throw std::runtime_error(err);
  rd_kafka_conf_set_opaque(conf, &counts);
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* op) {
    auto* c = static_cast<Counts*>(op);
    (m->err ? c->failed : c->ok)++;
  });
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) throw std::runtime_error(err);
  rd_kafka_topic_t* topic = rd_kafka_topic_new(rk, kTopic, nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_metadata(rk, 0, topic, &md, 10000);  // connected before the clock starts
  if (md) rd_kafka_metadata_destroy(md);

  auto start = Clock::now();
  double cpu0 = cpu_now();
  for (size_t i = 0; i < n; ++i) {
    const Message& m = msgs[i % msgs.size()];
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk, RD_KAFKA_V_RKT(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(const_cast<char*>(m.json.data()), m.json.size()),
          RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
          RD_KAFKA_V_TIMESTAMP(static_cast<int64_t>(1704806400000 + i)), RD_KAFKA_V_END);
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
      rd_kafka_poll(rk, 1);
    }
    if ((i + 1) % kBatch == 0) rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 120000);
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.cpu_seconds = cpu_now() - cpu0;
  r.delivered = counts.ok;
  r.failed = counts.failed;
  rd_kafka_topic_destroy(topic);
  rd_kafka_destroy(rk);
  return r;
}

struct Counters final : leaf::sdk::ICounterVisitor {
  uint64_t delivered = 0, failed = 0;
  std::map<std::string, int64_t> all;
  std::vector<std::pair<double, uint64_t>> ack_buckets;  // upper bound ns (inf: +Inf), count
  void counter(leaf::sdk::StringView name, leaf::sdk::StringView label,
               uint64_t v) noexcept override {
    std::string n(name.data, name.size);
    if (n == "kafka_messages_total") delivered = v;
    if (n == "kafka_send_errors_total") failed += v;
    if (n == "kafka_ack_latency_ns_bucket") {
      std::string b(label.data, label.size);
      ack_buckets.emplace_back(b == "+Inf" ? 1e30 : std::stod(b), v);
    }
    all[n] += static_cast<int64_t>(v);
  }
  // The q-quantile of the ack latency in ms, interpolated within its bucket.
  double ack_quantile_ms(double q) const {
    uint64_t total = 0;
    for (const auto& [bound, n] : ack_buckets) total += n;
    double want = q * static_cast<double>(total), seen = 0;
    for (const auto& [bound, n] : ack_buckets) {
      if (seen + n >= want && n > 0) {
        double lo = bound / 2, frac = (want - seen) / n;
        return (lo + frac * (bound - lo)) / 1e6;
      }
      seen += n;
    }
    return 0;
  }
  void gauge(leaf::sdk::StringView name, leaf::sdk::StringView, int64_t v) noexcept override {
    all[std::string(name.data, name.size)] = v;
  }
  void histogram(leaf::sdk::StringView, leaf::sdk::StringView,
                 const leaf::sdk::HistogramView*) noexcept override {}
};

// --set values in TOML syntax; bare words ("1ms", "8M", "json-batch") are
// taken as strings, so that --set linger=1ms works.
std::string toml_value(const std::string& v) {
  bool number = !v.empty() && std::all_of(v.begin(), v.end(), [](char ch) {
    return std::isdigit(static_cast<unsigned char>(ch)) || ch == '-';
  });
  if (number || v == "true" || v == "false" || v.empty() || v[0] == '"' || v[0] == '[') return v;
  return "\"" + v + "\"";
}

std::map<std::string, std::string> sink_config(const std::string& bootstrap) {
  std::map<std::string, std::string> c{{"brokers", "\"" + bootstrap + "\""},
                                       {"client_id", "\"leaf-bench-sink\""},
                                       {"format", "\"" + g_format + "\""}};
  if (!g_queue_size.empty()) c["queue.max_size"] = "\"" + g_queue_size + "\"";
  for (const auto& [k, v] : g_set) c[k] = toml_value(v);
  if (!g_properties.empty()) {
    std::string list = "[";
    for (const auto& p : g_properties) list += (list.size() > 1 ? ", \"" : "\"") + p + "\"";
    c["properties"] = list + "]";
  }
  return c;
}

leaf::sdk::SinkMessage sink_message(const Message& m, const std::string& type, size_t i) {
  return leaf::sdk::SinkMessage{
      sizeof(leaf::sdk::SinkMessage), leaf::sdk::Category::Process,
      {type.data(), type.size()},     {m.key.data(), m.key.size()},
      {m.json.data(), m.json.size()}, 1704806400000000000ull + i * 1000000};
}

// The sink, driven as leaf-host drives it.
Result run_sink(const leaf::sdk::PluginDescriptor* desc, const std::string& bootstrap,
                const std::vector<Message>& msgs, size_t n) {
  // A full queue applies back-pressure (like the bare producer's retry)
  // instead of dropping after the default 5 ms; drops are reported.
  auto config = sink_config(bootstrap);
  config["queue.full_wait"] = "\"10s\"";
  TestHost host(desc, config);
  auto* sink = host.sink();
  if (sink->open() != Status::Ok) throw std::runtime_error(sink->last_error());
  const std::string type = "process_exec";
  Result r;
  auto start = Clock::now();
  double cpu0 = cpu_now();
  for (size_t i = 0; i < n; ++i) {
    auto sm = sink_message(msgs[i % msgs.size()], type, i);
    if (sink->write(&sm) != Status::Ok) ++r.refused;
    if ((i + 1) % kBatch == 0) sink->poll();
  }
  Status flushed = sink->flush(120000);
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.cpu_seconds = cpu_now() - cpu0;
  if (flushed != Status::Ok) fprintf(stderr, "  sink flush: %s\n", sink->last_error());
  Counters c;
  sink->read_counters(&c);
  r.delivered = c.delivered;
  r.failed = c.failed;
  sink->close();
  return r;
}

void print(const char* what, const Result& r) {
  printf(
      "  %-22s %9.0f msg/s  %6.2f us CPU/msg  (%llu delivered, %llu failed, %llu refused, %.2f "
      "s, %.2f s CPU)\n",
      what, r.delivered / r.seconds, 1e6 * r.cpu_seconds / std::max<uint64_t>(r.delivered, 1),
      static_cast<unsigned long long>(r.delivered), static_cast<unsigned long long>(r.failed),
      static_cast<unsigned long long>(r.refused), r.seconds, r.cpu_seconds);
}

int64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The sink alone at `rate` events/s for `seconds`, as the host's 1 ms drain tick drives it.
int run_paced(const leaf::sdk::PluginDescriptor* desc, size_t rate, int seconds) {
  MockBroker broker;
  auto msgs = make_messages();
  TestHost host(desc, sink_config(broker.bootstrap()));
  auto* sink = host.sink();
  if (sink->open() != Status::Ok) throw std::runtime_error(sink->last_error());
  const std::string type = "process_exec";
  size_t per_tick = std::max<size_t>(1, rate / 1000), i = 0;
  uint64_t refused = 0;
  double cpu0 = cpu_now();
  auto next = Clock::now();
  for (int tick = 0; tick < seconds * 1000; ++tick) {
    for (size_t j = 0; j < per_tick; ++j, ++i) {
      auto sm = sink_message(msgs[i % msgs.size()], type, i);
      sm.timestamp_ns = static_cast<uint64_t>(realtime_ns());
      if (sink->write(&sm) != Status::Ok) ++refused;
    }
    sink->poll();
    next += std::chrono::milliseconds(1);
    std::this_thread::sleep_until(next);
  }
  Status flushed = sink->flush(60000);
  double cpu = cpu_now() - cpu0;
  if (flushed != Status::Ok) fprintf(stderr, "  sink flush: %s\n", sink->last_error());
  Counters c;
  sink->read_counters(&c);
  std::string settings;
  for (const auto& [k, v] : g_set) settings += " " + k + "=" + v;
  for (const auto& p : g_properties) settings += " " + p;
  printf(
      "paced %zu ev/s x %d s, format %s%s: %.2f %% of a core (%.2f us CPU/event), ack P50 %.2f "
      "ms, P99 %.2f ms, %lld delivered, %llu refused, %lld Kafka messages\n",
      per_tick * 1000, seconds, g_format.c_str(), settings.c_str(), 100.0 * cpu / seconds,
      1e6 * cpu / std::max<size_t>(i, 1), c.ack_quantile_ms(0.5), c.ack_quantile_ms(0.99),
      static_cast<long long>(c.delivered), static_cast<unsigned long long>(refused),
      static_cast<long long>(g_format == "json-batch" ? c.all["kafka_batches_total"]
                                                      : c.all["kafka_messages_produced_total"]));
  sink->close();
  return 0;
}

// No broker: the sink takes n events as fast as write() returns.
int run_overload(const leaf::sdk::PluginDescriptor* desc, size_t n) {
  MockBroker broker;
  auto msgs = make_messages();
  auto config = sink_config(broker.bootstrap());
  config["queue.full_wait"] = "\"0s\"";
  TestHost host(desc, config);
  auto* sink = host.sink();
  if (sink->open() != Status::Ok) throw std::runtime_error(sink->last_error());
  broker.down();
  usleep(200 * 1000);
  const std::string type = "process_exec";
  long rss0 = rss_kb();
  uint64_t refused = 0;
  for (size_t i = 0; i < n; ++i) {
    auto sm = sink_message(msgs[i % msgs.size()], type, i);
    if (sink->write(&sm) != Status::Ok) ++refused;
    if ((i + 1) % kBatch == 0) sink->poll();
  }
  long rss1 = rss_kb();
  Counters c;
  sink->read_counters(&c);
  printf(
      "overload, format %s, queue.max_size %s: %zu events of %zu bytes written with no broker\n"
      "  queued %lld events (%lld Kafka messages, kafka_queue_bytes %.1f MiB), refused %llu\n"
      "  RSS %.1f MiB -> %.1f MiB (+%.1f MiB)\n",
      g_format.c_str(), g_queue_size.empty() ? "default" : g_queue_size.c_str(), n, kMessageSize,
      static_cast<long long>(c.all["kafka_messages_produced_total"]),
      static_cast<long long>(c.all["kafka_queue_messages"]), c.all["kafka_queue_bytes"] / 1048576.0,
      static_cast<unsigned long long>(refused), rss0 / 1024.0, rss1 / 1024.0,
      (rss1 - rss0) / 1024.0);
  sink->close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  size_t n = 1000000;
  int rounds = 3;
  size_t overload = 0, rate = 0;
  int seconds = 5;
  const char* plugin = LEAF_KAFKA_PLUGIN;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--messages")) n = std::strtoull(argv[i + 1], nullptr, 10);
    if (!strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--format")) g_format = argv[i + 1];
    if (!strcmp(argv[i], "--overload")) overload = std::strtoull(argv[i + 1], nullptr, 10);
    if (!strcmp(argv[i], "--queue-size")) g_queue_size = argv[i + 1];
    if (!strcmp(argv[i], "--rate")) rate = std::strtoull(argv[i + 1], nullptr, 10);
    if (!strcmp(argv[i], "--seconds")) seconds = std::atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--property")) g_properties.push_back(argv[i + 1]);
    if (!strcmp(argv[i], "--plugin")) plugin = argv[i + 1];
    if (!strcmp(argv[i], "--set")) {
      std::string kv = argv[i + 1];
      auto eq = kv.find('=');
      if (eq == std::string::npos) {
        fprintf(stderr, "leaf-bench-kafka: --set key=value\n");
        return 2;
      }
      std::string v = kv.substr(eq + 1);
      bool bare = !v.empty() &&
                  (std::isdigit(static_cast<unsigned char>(v[0])) || v == "true" || v == "false") &&
                  v.find_first_not_of("0123456789") == std::string::npos;
      g_set[kv.substr(0, eq)] = bare || v == "true" || v == "false" ? v : "\"" + v + "\"";
    }
  }
  try {
    void* lib = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    if (!lib) throw std::runtime_error(dlerror());
    auto* alias = static_cast<void**>(dlsym(lib, leaf::sdk::kEntryPointName));
    if (!alias) throw std::runtime_error("no entry point in leaf_kafka.so");
    auto* desc = reinterpret_cast<leaf::sdk::EntryPoint*>(*alias)();
    if (overload) return run_overload(desc, overload);
    if (rate) return run_paced(desc, rate, seconds);

    MockBroker broker;
    auto msgs = make_messages();
    printf(
        "Kafka sink (format %s) vs bare librdkafka producer: %zu messages of %zu bytes per run,\n"
        "leaf-mock-kafka (another process) at %s, lz4, linger 1 ms, no Nagle, acks=all, "
        "idempotent\n",
        g_format.c_str(), n, kMessageSize, broker.bootstrap().c_str());
    double best_bare = 0, best_sink = 0;
    for (int round = 1; round <= rounds; ++round) {
      printf("round %d\n", round);
      // Alternate which goes first, so neither always runs on a fresher broker.
      Result bare, sink;
      if (round % 2) {
        bare = run_bare(broker.bootstrap(), msgs, n);
        sink = run_sink(desc, broker.bootstrap(), msgs, n);
      } else {
        sink = run_sink(desc, broker.bootstrap(), msgs, n);
        bare = run_bare(broker.bootstrap(), msgs, n);
      }
      print("bare librdkafka", bare);
      print("leaf_kafka sink", sink);
      printf("  sink/bare              %9.1f %% of the rate, %.1f %% of the CPU per message\n",
             100.0 * (sink.delivered / sink.seconds) / (bare.delivered / bare.seconds),
             100.0 * (sink.cpu_seconds / std::max<uint64_t>(sink.delivered, 1)) /
                 (bare.cpu_seconds / std::max<uint64_t>(bare.delivered, 1)));
      best_bare = std::max(best_bare, bare.delivered / bare.seconds);
      best_sink = std::max(best_sink, sink.delivered / sink.seconds);
    }
    double load[1] = {0};
    getloadavg(load, 1);
    printf(
        "best of %d: bare %.0f msg/s, sink %.0f msg/s, sink/bare = %.1f %%  (load average %.1f on "
        "%ld CPUs)\n",
        rounds, best_bare, best_sink, 100.0 * best_sink / best_bare, load[0],
        sysconf(_SC_NPROCESSORS_ONLN));
  } catch (const std::exception& e) {
    fprintf(stderr, "leaf-bench-kafka: %s\n", e.what());
    return 1;
  }
  return 0;
}
