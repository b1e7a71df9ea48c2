// Does serving /metrics disturb the event path? The real Pipeline,
// Dispatcher and MetricsService share one io_context thread, as in
// leaf-host. A generator handler pushes batches of 256 tcp_connect-shaped
// records through Pipeline::handle (to a sink that discards) and re-posts
// itself, so the io thread is saturated the way a busy ring would keep it.
// Three phases in one run:
//   none       no scraper
//   1s         a client thread GETs /metrics every second (Prometheus-like)
//   10Hz       every 100 ms (to magnify the effect)
// Prints events/s, the p99 and max gap between batches (a scrape runs
// between two batches and shows up there), and the scrape's own time.
// Usage: metrics_bench [seconds per phase] [event types] [rounds]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "leaf_event.h"
#include "metrics/metrics_service.hpp"
#include "pipeline/pipeline.hpp"
#include "runtime/dispatcher.hpp"
#include "runtime/plugin_instance.hpp"

using namespace leaf;
using Clock = std::chrono::steady_clock;

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

class NullSink final : public sdk::ISink {
 public:
  const char* last_error() const noexcept override { return ""; }
  void destroy() noexcept override {}
  void* query_interface(sdk::InterfaceId id) noexcept override {
    return id == sdk::ISink::kId ? static_cast<sdk::ISink*>(this) : nullptr;
  }
  sdk::Status open() noexcept override { return sdk::Status::Ok; }
  sdk::Status write(const sdk::SinkMessage*) noexcept override { return sdk::Status::Ok; }
  void poll() noexcept override {}
  sdk::Status flush(uint32_t) noexcept override { return sdk::Status::Ok; }
  void read_counters(sdk::ICounterVisitor*) noexcept override {}
  void close() noexcept override {}
  uint32_t healthy() const noexcept override { return 1; }
};

size_t http_get_size(int port, const char* path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return 0;
  }
  std::string req =
      std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  size_t total = 0;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) total += static_cast<size_t>(n);
  close(fd);
  return total;
}

struct PhaseResult {
  double events_per_s, gap_p99_us, gap_max_us, batch_p50_us;
  int scrapes;
  size_t scrape_bytes;
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 5;
  int ntypes = argc > 2 ? std::atoi(argv[2]) : 12;
  int rounds = argc > 3 ? std::max(1, std::atoi(argv[3])) : 3;

  core::Pipeline pipeline("bench-host", {});
  boost::asio::io_context io{1};
  core::Dispatcher dispatcher(io, pipeline);
  NullSink sink;
  pipeline.add_sink("null", &sink);
  // Several plugins' worth of event types: the scrape's size grows with them.
  std::vector<std::string> names;
  for (int i = 0; i < ntypes; ++i) names.push_back("type_" + std::to_string(i));
  std::vector<sdk::EventTypeDesc> descs;
  for (int i = 0; i < ntypes; ++i)
    descs.push_back({.name = names[i].c_str(),
                     .category = sdk::Category::Network,
                     .fields = kFields,
                     .field_count = 10,
                     .fixed_size = sizeof(conn_event),
                     .max_size = sizeof(conn_event),
                     .key_field = nullptr,
                     .description = ""});
  auto types = pipeline.register_types("bench", descs.data(), sizeof(leaf::sdk::EventTypeDesc),
                                       static_cast<uint32_t>(ntypes));

  std::vector<std::unique_ptr<core::PluginInstance>> plugins;
  core::metrics::MetricsService service(io, {&pipeline, &dispatcher, &plugins, nullptr, nullptr},
                                        /*bpf_stats=*/false);
  service.listen(core::metrics::parse_listen_address("127.0.0.1:0"));
  int port = service.local_endpoint().port();

  std::vector<conn_event> recs(1024);
  for (size_t i = 0; i < recs.size(); ++i) {
    auto& r = recs[i];
    std::memset(&r, 0, sizeof(r));
    r.hdr.type = static_cast<uint16_t>(i % ntypes);
    r.pid = 10000 + i;
    r.family = 4;
    r.src_port = 40000 + i;
    r.dst_port = 443;
    inet_pton(AF_INET6, "::ffff:10.0.0.1", r.src_ip);
    inet_pton(AF_INET6, "::ffff:93.184.216.34", r.dst_ip);
    std::snprintf(r.comm, sizeof(r.comm), "curl-%zu", i % 100);
  }

  std::printf(
      "metrics_bench: %d event types, batches of 256 events on the io_context thread, %.0f s "
      "per phase, /metrics on 127.0.0.1:%d\n",
      ntypes, seconds, port);
  std::printf("%-8s %14s %12s %12s %12s %8s %12s\n", "scraper", "events/s", "batch p50", "gap p99",
              "gap max", "scrapes", "scrape size");

  auto run_phase = [&](const char* name, int scrape_every_ms) {
    std::atomic<bool> stop{false};
    std::atomic<int> scrapes{0};
    std::atomic<size_t> bytes{0};
    std::atomic<bool> scraper_done{scrape_every_ms <= 0};
    std::thread scraper;
    if (scrape_every_ms > 0)
      scraper = std::thread([&] {
        while (!stop) {
          auto next = Clock::now() + std::chrono::milliseconds(scrape_every_ms);
          bytes = http_get_size(port, "/metrics");
          ++scrapes;
          while (!stop && Clock::now() < next)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        scraper_done = true;
      });
    std::vector<double> gaps, batches;
    gaps.reserve(1 << 20);
    batches.reserve(1 << 20);
    uint64_t events = 0;
    auto start = Clock::now();
    auto end =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    auto last = start;
    size_t next_rec = 0;
    std::function<void()> batch = [&] {
      auto t0 = Clock::now();
      gaps.push_back(std::chrono::duration<double, std::micro>(t0 - last).count());
      for (int i = 0; i < 256; ++i) {
        auto& r = recs[next_rec++ & 1023];
        r.hdr.timestamp_ns = static_cast<uint64_t>(core::MonoClock::monotonic_now());
        pipeline.handle("bench", types, reinterpret_cast<const uint8_t*>(&r), sizeof(r));
      }
      pipeline.end_batch();
      events += 256;
      last = Clock::now();
      batches.push_back(std::chrono::duration<double, std::micro>(last - t0).count());
      if (last < end) boost::asio::post(io, batch);
    };
    boost::asio::post(io, batch);
    io.restart();
    // Run until the generator stops, then let the last scrape finish.
    while (Clock::now() < end) io.run_for(std::chrono::milliseconds(100));
    stop = true;
    // The scraper may be waiting for an answer only the io thread can give.
    while (!scraper_done) io.run_for(std::chrono::milliseconds(10));
    if (scraper.joinable()) scraper.join();
    double elapsed = std::chrono::duration<double>(last - start).count();
    std::sort(gaps.begin(), gaps.end());
    std::sort(batches.begin(), batches.end());
    PhaseResult r{events / elapsed, gaps[gaps.size() * 99 / 100],
                  gaps.back(),      batches[batches.size() / 2],
                  scrapes.load(),   bytes.load()};
    std::printf("%-8s %14.0f %10.1fus %10.1fus %10.1fus %8d %10zu B\n", name, r.events_per_s,
                r.batch_p50_us, r.gap_p99_us, r.gap_max_us, r.scrapes, r.scrape_bytes);
    return r;
  };

  // Phases interleaved over several rounds: the machine's noise (other
  // processes on 2 cores) hits every phase alike; ratios use the medians.
  std::vector<double> none, every_s, tenhz;
  for (int round = 0; round < rounds; ++round) {
    none.push_back(run_phase("none", 0).events_per_s);
    every_s.push_back(run_phase("1s", 1000).events_per_s);
    tenhz.push_back(run_phase("10Hz", 100).events_per_s);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("median events/s over %d rounds: none %.0f, 1s %.0f, 10Hz %.0f\n", rounds,
              median(none), median(every_s), median(tenhz));
  std::printf("throughput ratio (medians): 1s/none %.3f, 10Hz/none %.3f\n",
              median(every_s) / median(none), median(tenhz) / median(none));
  core::metrics::HttpResponse scrape_time;
  // One scrape timed on its own (collect + render), as /metrics reports it.
  auto t0 = Clock::now();
  for (int i = 0; i < 20; ++i) scrape_time = service.handle("GET", "/metrics");
  double per_scrape_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / 20;
  std::printf("one scrape (collect + render, %zu bytes): %.0f us on the dispatcher thread\n",
              scrape_time.body.size(), per_scrape_us);
  return 0;
}
