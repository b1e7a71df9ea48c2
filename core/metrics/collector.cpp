#include "metrics/collector.hpp"

#include <prometheus/text_serializer.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <leaf/sdk/hooks.hpp>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "metrics/latency_histogram.hpp"
#include "pipeline/pipeline.hpp"
#include "runtime/dispatcher.hpp"
#include "runtime/plugin_instance.hpp"

namespace leaf::core::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

std::string str(sdk::StringView v) { return v.data ? std::string(v.data, v.size) : std::string(); }

double monotonic_seconds() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// The families of one scrape, by name, in the order they were first used.
class Families {
 public:
  MetricFamily& family(const std::string& name, MetricType type, const std::string& help) {
    auto it = index_.find(name);
    if (it != index_.end()) return out_[it->second];
    index_[name] = out_.size();
    out_.push_back(MetricFamily{name, help, type, {}});
    return out_.back();
  }
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const MetricFamily* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &out_[it->second];
  }

  void counter(const std::string& name, const std::string& help, Labels labels, double v) {
    ClientMetric m;
    m.label = std::move(labels);
    m.counter.value = v;
    family(name, MetricType::Counter, help).metric.push_back(std::move(m));
  }
  void gauge(const std::string& name, const std::string& help, Labels labels, double v) {
    ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = v;
    family(name, MetricType::Gauge, help).metric.push_back(std::move(m));
  }
  // `buckets`: (upper bound in ns, count in that bucket alone), any order.
  void histogram(const std::string& name, const std::string& help, Labels labels,
                 std::vector<std::pair<uint64_t, uint64_t>> buckets, uint64_t sum_ns) {
    ClientMetric m;
    m.label = std::move(labels);
    std::sort(buckets.begin(), buckets.end());
    uint64_t total = 0;
    for (const auto& b : buckets) total += b.second;
    size_t next = 0;
    uint64_t cumulative = 0;
    for (int i = kFirstExposedBucket; i <= kLastExposedBucket; ++i) {
      uint64_t bound = Log2Histogram::upper_bound_ns(i);
      while (next < buckets.size() && buckets[next].first <= bound)
        cumulative += buckets[next++].second;
      m.histogram.bucket.push_back({cumulative, static_cast<double>(bound) / 1e9});
    }
    m.histogram.bucket.push_back({total, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = total;
    m.histogram.sample_sum = static_cast<double>(sum_ns) / 1e9;
    family(name, MetricType::Histogram, help).metric.push_back(std::move(m));
  }

  // A plugin's own buckets: (upper bound, count in that bucket alone),
  // sorted; the last bound may be +Inf.
  void histogram_bounds(const std::string& name, const std::string& help, Labels labels,
                        const std::vector<std::pair<double, uint64_t>>& buckets, double sum) {
    ClientMetric m;
    m.label = std::move(labels);
    uint64_t cumulative = 0;
    for (const auto& [bound, n] : buckets) {
      cumulative += n;
      if (bound != std::numeric_limits<double>::infinity())
        m.histogram.bucket.push_back({cumulative, bound});
    }
    m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = sum;
    family(name, MetricType::Histogram, help).metric.push_back(std::move(m));
  }

  std::vector<MetricFamily> take() { return std::move(out_); }

 private:
  std::vector<MetricFamily> out_;
  std::map<std::string, size_t> index_;
};

std::vector<std::pair<uint64_t, uint64_t>> log2_buckets(const Log2Histogram& h) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  const auto& c = h.counts();
  for (int i = 0; i < Log2Histogram::kBuckets; ++i) {
    if (!c[i]) continue;
    uint64_t bound = i < 64 ? Log2Histogram::upper_bound_ns(i) : UINT64_MAX;
    out.emplace_back(bound, c[i]);
  }
  return out;
}

// The label a plugin's counter qualifier is exposed under.
std::string qualifier_key(const std::string& name) {
  static const std::map<std::string, std::string> keys = {
      {"kafka_send_errors_total", "reason"},    {"kafka_messages_dropped_total", "reason"},
      {"kafka_messages_resent_total", "state"}, {"filter_dropped_total", "rule"},
      {"kafka_spool_dropped_total", "reason"},  {"performance_program_misses_total", "program"},
  };
  auto it = keys.find(name);
  return it == keys.end() ? "type" : it->second;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool valid_metric_name(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  });
}

// Gathers what a plugin reports through read_counters().
class CounterSink final : public sdk::ICounterVisitor {
 public:
  struct Value {
    std::string name, label;
    bool is_counter;
    double value;
  };
  struct Hist {
    std::string name, label;
    sdk::Unit unit;
    std::vector<std::pair<uint64_t, uint64_t>> buckets;  // (upper bound, count), sorted
    uint64_t sum;
  };
  std::vector<Value> values;
  std::vector<Hist> hists;

  void counter(sdk::StringView name, sdk::StringView label, uint64_t v) noexcept override {
    add(name, label, true, static_cast<double>(v));
  }
  void gauge(sdk::StringView name, sdk::StringView label, int64_t v) noexcept override {
    add(name, label, false, static_cast<double>(v));
  }
  // Read by the view's own struct_size: fields of a later minor are ignored.
  void histogram(sdk::StringView name, sdk::StringView label,
                 const sdk::HistogramView* h) noexcept override {
    if (!h || h->struct_size < offsetof(sdk::HistogramView, sum) + sizeof(uint64_t)) return;
    if (h->bucket_count && (!h->upper_bounds || !h->counts)) return;
    try {
      Hist out{str(name), str(label), h->unit, {}, h->sum};
      for (uint32_t i = 0; i < h->bucket_count; ++i)
        out.buckets.emplace_back(h->upper_bounds[i], h->counts[i]);
      std::sort(out.buckets.begin(), out.buckets.end());
      hists.push_back(std::move(out));
    } catch (...) {
    }
  }

 private:
  void add(sdk::StringView name, sdk::StringView label, bool is_counter, double v) noexcept {
    try {
      values.push_back({str(name), str(label), is_counter, v});
    } catch (...) {
    }
  }
};

// Adds the counters of instances that stopped to those of the running one.
void add_departed(CounterSink* sink, const DepartedCounters::Entry& e) {
  for (const auto& [key, value] : e.counters) {
    bool found = false;
    for (auto& v : sink->values)
      if (v.is_counter && v.name == key.first && v.label == key.second) {
        v.value += value;
        found = true;
      }
    if (!found) sink->values.push_back({key.first, key.second, true, value});
  }
}

// A plugin histogram: nanoseconds on the host's log2 bounds in seconds,
// other units on the plugin's own bounds.
void add_plugin_histogram(Families& f, const std::string& plugin, const CounterSink::Hist& h,
                          const std::set<std::string>& host_names) {
  std::string name = "leaf_" + h.name;
  if (!valid_metric_name(name) || host_names.count(name)) return;
  if (const auto* existing = f.find(name); existing && existing->type != MetricType::Histogram)
    return;
  Labels labels{{"plugin", plugin}};
  if (!h.label.empty()) labels.push_back({qualifier_key(h.name), h.label});
  std::string help = "reported by the plugin: " + h.name;
  if (h.unit == sdk::Unit::Nanoseconds) {
    f.histogram(name, help, std::move(labels), h.buckets, h.sum);
    return;
  }
  std::vector<std::pair<double, uint64_t>> buckets;
  for (const auto& [bound, n] : h.buckets)
    buckets.emplace_back(
        bound == UINT64_MAX ? std::numeric_limits<double>::infinity() : static_cast<double>(bound),
        n);
  f.histogram_bounds(name, help, std::move(labels), buckets, static_cast<double>(h.sum));
}

// A plugin's counters and gauges as families leaf_<name>{plugin=...}, then
// its histograms.
void add_plugin_counters(Families& f, const std::string& plugin, const CounterSink& sink,
                         const std::set<std::string>& host_names) {
  for (const auto& v : sink.values) {
    std::string name = "leaf_" + v.name;
    // Prometheus names counters <name>_total (promtool check metrics says so):
    // a plugin's counter without the suffix gets it.
    if (v.is_counter && !ends_with(name, "_total")) name += "_total";
    if (!valid_metric_name(name)) continue;
    if (host_names.count(name))
      name = "leaf_plugin_" + name.substr(5);  // never shadow the host's own
    MetricType type = v.is_counter ? MetricType::Counter : MetricType::Gauge;
    if (const auto* existing = f.find(name); existing && existing->type != type) continue;
    Labels labels{{"plugin", plugin}};
    if (!v.label.empty()) labels.push_back({qualifier_key(v.name), v.label});
    if (v.is_counter)
      f.counter(name, "reported by the plugin: " + v.name, std::move(labels), v.value);
    else
      f.gauge(name, "reported by the plugin: " + v.name, std::move(labels), v.value);
  }
  for (const auto& h : sink.hists) add_plugin_histogram(f, plugin, h, host_names);
}

const char* category_family(sdk::Category c) {
  switch (c) {
    case sdk::Category::Network:
      return "leaf_events_network_total";
    case sdk::Category::Process:
      return "leaf_events_process_total";
    case sdk::Category::Performance:
      return "leaf_events_performance_total";
    case sdk::Category::Metrics:
      return "leaf_events_metrics_total";
  }
  return nullptr;
}

}  // namespace

namespace {

// Declared up front so that every name exists even before its first sample.
void declare_families(Families& f) {
  f.family("leaf_events_total", MetricType::Counter,
           "events that reached the sinks, by plugin, event type and category");
  for (auto c : {sdk::Category::Network, sdk::Category::Process, sdk::Category::Performance,
                 sdk::Category::Metrics})
    f.family(category_family(c), MetricType::Counter,
             std::string("events of category ") + sdk::category_name(c) +
                 " that reached the sinks, by plugin and event type");
  f.family(
      "leaf_ringbuf_lost_events_total", MetricType::Counter,
      "records the kernel could not put into the ring buffer (full), by plugin and event type");
  f.family("leaf_kernel_events_total", MetricType::Counter,
           "records the kernel put into the ring buffer, by plugin and event type");
  f.family("leaf_ringbuf_fill_ratio", MetricType::Gauge,
           "share of the ring buffer holding records not read yet (0..1), by plugin and ring: "
           "the highest seen when a drain started or at this scrape, since the previous scrape");
  f.family("leaf_events_filtered_total", MetricType::Counter,
           "events dropped by a processor, by plugin and event type");
  f.family("leaf_events_malformed_total", MetricType::Counter,
           "records dropped because they do not fit their schema, by plugin and event type");
  f.family("leaf_events_decode_failed_total", MetricType::Counter,
           "records the plugin's own decoder refused (dropped), by plugin and event type");
  f.family("leaf_processing_latency_seconds", MetricType::Histogram,
           "time from the event's kernel timestamp to its acceptance by the sinks");
  f.family("leaf_probe_attached", MetricType::Gauge,
           "1 when the probe is attached, by the hook it runs on");
  f.family("leaf_kafka_messages_total", MetricType::Counter,
           "Kafka messages acknowledged by the broker");
  f.family("leaf_kafka_send_errors_total", MetricType::Counter,
           "Kafka messages that could not be delivered, by reason");
}

// Events per plugin and type as the pipeline counted them; the sinks.
void add_pipeline(Families& f, Pipeline& pipeline) {
  for (const auto& t : pipeline.type_stats()) {
    Labels pt{{"plugin", t->plugin}, {"type", t->type}};
    Labels ptc = pt;
    ptc.push_back({"category", sdk::category_name(t->category)});
    double events = static_cast<double>(t->events.load(std::memory_order_relaxed));
    f.counter("leaf_events_total", "", ptc, events);
    if (const char* fam = category_family(t->category)) f.counter(fam, "", pt, events);
    f.counter("leaf_events_filtered_total", "", pt,
              static_cast<double>(t->filtered.load(std::memory_order_relaxed)));
    f.counter("leaf_events_malformed_total", "", pt,
              static_cast<double>(t->malformed.load(std::memory_order_relaxed)));
    f.counter("leaf_events_decode_failed_total", "", pt,
              static_cast<double>(t->decode_failed.load(std::memory_order_relaxed)));
    f.histogram("leaf_processing_latency_seconds", "", pt, log2_buckets(t->latency),
                t->latency.sum_ns());
  }
  f.counter("leaf_events_unknown_type_total",
            "records whose type index no event type of their plugin has", {},
            static_cast<double>(pipeline.unknown_type()));

  for (const auto& s : pipeline.sinks()) {
    f.counter("leaf_sink_accepted_total", "events a sink took", {{"sink", s->name}},
              static_cast<double>(s->accepted.load(std::memory_order_relaxed)));
    f.counter("leaf_sink_rejected_total", "events a sink refused (counted drops)",
              {{"sink", s->name}},
              static_cast<double>(s->rejected.load(std::memory_order_relaxed)));
    f.gauge("leaf_sink_healthy", "1 while the sink delivers", {{"sink", s->name}},
            s->sink->healthy() ? 1 : 0);
  }
}

// A probe's hooks, the kernel's record counts (with those of instances that
// left) and its rings' fill.
void add_probe(Families& f, PluginInstance& p, sdk::IProbePlugin* probe, Dispatcher& dispatcher,
               const DepartedCounters::Entry* departed) {
  for (uint32_t i = 0; i < probe->probe_count(); ++i) {
    sdk::ProbeInfo info{};
    info.struct_size = sizeof(info);
    if (probe->probe_info(i, &info) != sdk::Status::Ok) continue;
    if (!info.attached && str(info.detail) == sdk::hooks::kNotNeeded) continue;  // SDK 1.0
    f.gauge("leaf_probe_attached", "1 when the probe is attached, by the hook it runs on",
            {{"plugin", p.name()},
             {"probe", str(info.name)},
             {"hook", sdk::hooks::hook_name(info.hook)}},
            info.attached ? 1 : 0);
  }
  std::map<std::string, std::pair<uint64_t, uint64_t>> kernel;  // type -> emitted, lost
  if (departed) kernel = departed->kernel;
  for (const auto& k : dispatcher.kernel_counts(&p)) {
    kernel[k.type].first += k.emitted;
    kernel[k.type].second += k.lost;
  }
  for (const auto& [type, el] : kernel) {
    Labels pt{{"plugin", p.name()}, {"type", type}};
    f.counter("leaf_kernel_events_total", "", pt, static_cast<double>(el.first));
    f.counter("leaf_ringbuf_lost_events_total", "", pt, static_cast<double>(el.second));
  }
  for (const auto& r : dispatcher.ring_fill(&p))
    f.gauge("leaf_ringbuf_fill_ratio", "", {{"plugin", p.name()}, {"ring", r.ring}}, r.ratio);
}

// Plugins that left and do not run now: their counters, frozen.
void add_departed_only(Families& f, const DepartedCounters& departed,
                       const std::set<std::string>& running,
                       std::vector<std::pair<std::string, CounterSink>>& reported) {
  for (const auto& [name, e] : departed.entries()) {
    if (running.count(name)) continue;
    for (const auto& [type, el] : e.kernel) {
      Labels pt{{"plugin", name}, {"type", type}};
      f.counter("leaf_kernel_events_total", "", pt, static_cast<double>(el.first));
      f.counter("leaf_ringbuf_lost_events_total", "", pt, static_cast<double>(el.second));
    }
    CounterSink counters;
    add_departed(&counters, e);
    reported.emplace_back(name, std::move(counters));
  }
}

// Per plugin: up, probes attached, kernel counts; returns what each plugin
// reported through read_counters(), added last.
std::vector<std::pair<std::string, CounterSink>> add_plugins(Families& f, const Sources& src) {
  std::vector<std::pair<std::string, CounterSink>> reported;
  std::set<std::string> running;
  for (const auto& p : *src.plugins)
    if (p->probe() || p->sink() || p->processor()) running.insert(p->name());
  for (const auto& p : *src.plugins) {
    bool up = p->probe() || p->sink() || p->processor();
    const DepartedCounters::Entry* departed = nullptr;
    if (src.departed && up)
      if (auto it = src.departed->entries().find(p->name()); it != src.departed->entries().end())
        departed = &it->second;
    f.gauge("leaf_plugin_up", "1 while the plugin runs, 0 when it failed to open or start",
            {{"plugin", p->name()}, {"kind", kind_name(p->kind())}}, up ? 1 : 0);
    CounterSink counters;
    if (auto* probe = p->probe()) {
      add_probe(f, *p, probe, *src.dispatcher, departed);
      f.counter("leaf_plugin_emits_refused_total",
                "events a plugin emitted that the host refused: an event type it did not "
                "declare, or an error taking it (dropped)",
                {{"plugin", p->name()}}, static_cast<double>(p->unregistered_emits()));
      probe->read_counters(&counters);
    } else if (auto* sink = p->sink()) {
      sink->read_counters(&counters);
    } else if (auto* proc = p->processor()) {
      proc->read_counters(&counters);
    }
    if (departed) add_departed(&counters, *departed);
    reported.emplace_back(p->name(), std::move(counters));
  }
  if (src.departed) add_departed_only(f, *src.departed, running, reported);
  return reported;
}

// The kernel-side cost: every BPF program of this process.
void add_bpf_programs(Families& f, const Sources& src) {
  f.gauge("leaf_bpf_stats_enabled",
          "1 while leaf-host has the kernel count BPF run time (BPF_ENABLE_STATS)", {},
          src.bpf_stats && src.bpf_stats->enabled() ? 1 : 0);
  f.family("leaf_bpf_program_runs_total", MetricType::Counter,
           "runs of the probes' BPF programs (counted while BPF stats are enabled)");
  f.family("leaf_bpf_program_run_seconds_total", MetricType::Counter,
           "time spent in the probes' BPF programs (counted while BPF stats are enabled)");
  std::set<std::pair<std::string, std::string>> named;  // (plugin, program) so far
  for (const auto& prog : own_bpf_programs()) {
    std::string owner = src.bpf_owners ? src.bpf_owners->owner(prog.id) : std::string();
    if (owner.empty()) owner = "unknown";
    // Two programs whose whole names could not be read (15 characters
    // alike) stay two series: the second is told by its id.
    std::string program = prog.name;
    if (!named.insert({owner, program}).second) program += "#" + std::to_string(prog.id);
    Labels l{{"plugin", owner}, {"program", program}, {"prog_type", bpf_prog_type_name(prog.type)}};
    f.counter("leaf_bpf_program_runs_total", "", l, static_cast<double>(prog.run_count));
    f.counter("leaf_bpf_program_run_seconds_total", "", l,
              static_cast<double>(prog.run_time_ns) / 1e9);
    f.counter("leaf_bpf_program_recursion_misses_total",
              "runs of the probes' BPF programs skipped because one already ran on that CPU", l,
              static_cast<double>(prog.recursion_misses));
  }
}

// The process itself.
void add_process(Families& f, CpuUsage& cpu) {
  if (auto ps = read_process_sample()) {
    f.gauge("leaf_cpu_usage_percent",
            "CPU used by leaf-host, percent of one core, over the last second or more", {},
            cpu.percent(*ps));
    f.counter("leaf_cpu_seconds_total", "CPU time used by leaf-host (user + system)", {},
              ps->cpu_seconds);
    f.gauge("leaf_memory_usage_bytes", "resident memory of leaf-host (RSS)", {},
            static_cast<double>(ps->rss_bytes));
    f.gauge("leaf_virtual_memory_bytes", "virtual memory of leaf-host", {},
            static_cast<double>(ps->virtual_bytes));
    f.gauge("leaf_threads", "threads of leaf-host", {}, static_cast<double>(ps->threads));
    f.gauge("leaf_open_fds", "open file descriptors of leaf-host", {},
            static_cast<double>(ps->open_fds));
  }
}

// Names the host defines: a plugin's counter of the same name is not
// exposed, except those a plugin is meant to fill (SPEC.md section 4 Kafka
// names).
const std::set<std::string>& host_metric_names() {
  static const std::set<std::string> names = [] {
    std::set<std::string> host_names;
    for (const char* n : {"leaf_events_total",
                          "leaf_events_network_total",
                          "leaf_events_process_total",
                          "leaf_events_performance_total",
                          "leaf_events_metrics_total",
                          "leaf_ringbuf_lost_events_total",
                          "leaf_ringbuf_fill_ratio",
                          "leaf_kernel_events_total",
                          "leaf_events_filtered_total",
                          "leaf_events_malformed_total",
                          "leaf_events_decode_failed_total",
                          "leaf_events_unknown_type_total",
                          "leaf_processing_latency_seconds",
                          "leaf_sink_accepted_total",
                          "leaf_sink_rejected_total",
                          "leaf_sink_healthy",
                          "leaf_plugin_up",
                          "leaf_plugin_emits_refused_total",
                          "leaf_probe_attached",
                          "leaf_bpf_stats_enabled",
                          "leaf_bpf_program_runs_total",
                          "leaf_bpf_program_run_seconds_total",
                          "leaf_bpf_program_recursion_misses_total",
                          "leaf_cpu_usage_percent",
                          "leaf_cpu_seconds_total",
                          "leaf_memory_usage_bytes",
                          "leaf_virtual_memory_bytes",
                          "leaf_threads",
                          "leaf_open_fds",
                          "leaf_metrics_scrapes_total",
                          "leaf_metrics_last_scrape_seconds"})
      host_names.insert(n);
    return host_names;
  }();
  return names;
}

}  // namespace

Collector::Collector(Sources sources) : src_(sources) {}

std::vector<MetricFamily> Collector::collect() {
  double started = monotonic_seconds();
  Families f;
  declare_families(f);
  add_pipeline(f, *src_.pipeline);
  auto reported = add_plugins(f, src_);
  add_bpf_programs(f, src_);
  add_process(f, cpu_);

  ++scrapes_;
  f.counter("leaf_metrics_scrapes_total", "scrapes of /metrics served", {},
            static_cast<double>(scrapes_));
  f.gauge("leaf_metrics_last_scrape_seconds",
          "time the previous scrape took to collect and render (dispatcher thread)", {},
          last_scrape_seconds_);
  // Plugin counters last: names the host defines stay the host's.
  for (const auto& [plugin, counters] : reported)
    add_plugin_counters(f, plugin, counters, host_metric_names());

  last_scrape_seconds_ = monotonic_seconds() - started;
  return f.take();
}

void DepartedCounters::record(PluginInstance& p, Dispatcher& d) {
  Entry& e = by_plugin_[p.name()];
  for (const auto& k : d.kernel_counts(&p)) {
    e.kernel[k.type].first += k.emitted;
    e.kernel[k.type].second += k.lost;
  }
  CounterSink counters;
  if (auto* probe = p.probe())
    probe->read_counters(&counters);
  else if (auto* sink = p.sink())
    sink->read_counters(&counters);
  else if (auto* proc = p.processor())
    proc->read_counters(&counters);
  for (const auto& v : counters.values)
    if (v.is_counter) e.counters[{v.name, v.label}] += v.value;
}

std::string Collector::render() {
  double started = monotonic_seconds();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collect());
  last_scrape_seconds_ = monotonic_seconds() - started;
  return out.str();
}

}  // namespace leaf::core::metrics
