// leaf::sdk::testing::TestHost — runs one plugin inside a test process,
// without leaf-host (library leaf::sdk_testing, installed with the SDK).
//
// The plugin is loaded the way leaf-host loads it (entry point, ABI major
// and minor, option rows read by their declared size) and configured by
// leaf-host's own configuration code: every declared option gets its
// default, the test's overrides are validated exactly as a conf.d file is
// (unknown key, wrong type, out of range: the constructor throws naming the
// key). The test then drives the life cycle itself and decides when records
// are drained and when timers fire, so that what it checks is exact:
//
//   leaf::sdk::testing::TestHost host("build/leaf_signals.so", {{"signal", "10"}});
//   host.open();
//   host.start();
//   kill(getpid(), SIGUSR1);
//   host.drain([&](const uint8_t* record, uint32_t size) { ... });
//   auto counters = host.counters();  // "name" or "name{label}" -> value
//
// Not thread-safe: call everything from the test's thread (logs excepted: a
// sink may log from its own threads).
#pragma once

#include <leaf/sdk/abi.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace leaf::sdk::testing {

// Option overrides: key (dotted, as declared) -> value in TOML syntax:
// "true", "512", "\"8M\"", "\"250ms\"", "[\"tp_btf\"]", "[80, 443]".
using Overrides = std::map<std::string, std::string>;

// One record handed to IHost::emit (a timer's snapshot, a decoder's event).
struct EmittedRecord {
  std::string type;  // the event type's name
  std::vector<uint8_t> bytes;
};

// The kernel's per-type record counts of one ring (LEAF_COUNTERS).
struct RingCounts {
  uint64_t emitted = 0;  // submitted to the ring
  uint64_t lost = 0;     // the ring was full
};

// What a processor did with one event (TestHost::process).
struct ProcessedEvent {
  Verdict verdict = Verdict::Keep;
  // Fields added beside the record's, name -> JSON value text ("\"web\"", "42").
  std::map<std::string, std::string> added;
  // Record fields whose text was replaced, field index -> new text.
  std::map<uint32_t, std::string> replaced;
};

class TestHost final : public IHost {
 public:
  // Loads the plugin module at `path` and creates its object. Throws
  // std::runtime_error naming the reason (file, ABI, configuration, factory).
  explicit TestHost(const std::string& path, const Overrides& config = {});
  // A plugin linked into the test itself, by its descriptor.
  explicit TestHost(const PluginDescriptor* descriptor, const Overrides& config = {});
  ~TestHost();  // stop(), close(), the object destroyed, then the library
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  PluginKind kind() const;
  IProbePlugin* probe() const;  // nullptr unless a probe; likewise:
  ISink* sink() const;
  IProcessor* processor() const;

  // The life cycle. Each throws std::runtime_error with the plugin's
  // last_error() when the plugin fails.
  void open();   // every kind
  void start();  // probes
  void stop();   // probes: stop(); idempotent
  void close();  // sinks and processors: close(); idempotent

  // Reads every registered ring buffer now and hands each record to
  // `on_record`. Returns the number of records read.
  size_t drain(const std::function<void(const uint8_t* record, uint32_t size)>& on_record);
  // The kernel's counts for `type` of every registered ring, summed.
  RingCounts ring_counts(uint32_t type) const;
  // Runs every registered timer once, now (not on a clock).
  void fire_timers();
  size_t timer_count() const { return timers_.size(); }
  uint64_t timer_interval_ns(size_t i = 0) const;
  // The records handed to emit() since the last call, oldest first.
  std::vector<EmittedRecord> take_emitted();

  // Processors: passes one record of `type` (made by the test) through
  // process(), as the pipeline does, and returns the verdict and the edits.
  ProcessedEvent process(const EventTypeDesc& type, const void* record, uint32_t size,
                         const std::string& from_plugin = "test");

  // The plugin's read_counters(): "name" or "name{label}" -> value; a
  // histogram as name_count and name_sum.
  std::map<std::string, int64_t> counters();

  // Every line the plugin logged, and whether one contains `needle`.
  std::vector<std::string> logs() const;
  bool logged(const std::string& needle) const;
  // Lines at or above this level are also written to stderr (default Info).
  void set_echo_level(LogLevel level) { echo_level_ = level; }
  void set_hostname(std::string name) { hostname_ = std::move(name); }

  // IHost
  void log(LogLevel level, StringView message) noexcept override;
  Status config_bool(StringView key, bool* out) const noexcept override;
  Status config_int(StringView key, int64_t* out) const noexcept override;
  Status config_string(StringView key, StringView* out) const noexcept override;
  Status config_list_size(StringView key, uint32_t* out) const noexcept override;
  Status config_list_string(StringView key, uint32_t index,
                            StringView* out) const noexcept override;
  Status config_list_int(StringView key, uint32_t index, int64_t* out) const noexcept override;
  Status add_ring_buffer(const RingBufferRegistration* reg) noexcept override;
  Status emit(const EventTypeDesc* type, const uint8_t* record, uint32_t size) noexcept override;
  Status add_timer(uint64_t interval_ns, ITimerHandler* handler) noexcept override;
  StringView hostname() const noexcept override;
  StringView plugin_name() const noexcept override;
  LogLevel log_level() const noexcept override { return LogLevel::Debug; }
  uint64_t ring_wakeup_delay_ns() const noexcept override { return 0; }  // wake per record

 private:
  struct Impl;  // configuration, rings (libbpf), timers
  struct Timer {
    uint64_t interval_ns;
    ITimerHandler* handler;
  };
  void create(const PluginDescriptor* descriptor, const Overrides& config);
  bool refused_in_open(const char* call) noexcept;

  void* library_ = nullptr;  // dlopen handle; closed last
  std::unique_ptr<Impl> impl_;
  PluginKind kind_ = PluginKind::Probe;
  std::string name_, hostname_ = "leaf-test-host";
  IPluginObject* object_ = nullptr;
  void* iface_ = nullptr;  // the kind interface, from query_interface
  bool opened_ = false, started_ = false;
  bool in_probe_open_ = false;  // inside a probe's open(): no rings, timers, events
  std::vector<Timer> timers_;
  std::vector<EmittedRecord> emitted_;
  LogLevel echo_level_ = LogLevel::Info;
  mutable std::mutex log_mu_;
  std::vector<std::string> logs_;
};

}  // namespace leaf::sdk::testing
