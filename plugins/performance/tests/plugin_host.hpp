// A small IHost of the tests' own, to run the performance plugin inside the
// test process: the test decides exactly when a snapshot is taken (it calls
// the plugin's timer itself), so the plugin's window and the kernel's own
// accounting (/proc) are read back to back. Configuration defaults come
// from the plugin's declared options, overrides are TOML values.
#pragma once

#include <bpf/libbpf.h>
#include <leaf/sdk/abi.h>

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "performance.h"

namespace leaf::performance::test {

using Json = nlohmann::json;

class PluginHost final : public sdk::IHost {
 public:
  // Loads leaf_performance.so and creates the plugin with `overrides`
  // (key -> TOML value text, e.g. {"raw.context_switch", "true"}).
  PluginHost(const std::string& so_path, const std::map<std::string, std::string>& overrides);
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  void open();  // throws with the plugin's last_error()
  void start();
  void stop();
  // Runs the plugin's snapshot timer now; returns the perf_stats events it
  // emitted, decoded as the host would show them in "data".
  std::vector<Json> tick();
  // Drains the raw ring buffer; calls `on_record` with every record.
  void drain(const std::function<void(const uint8_t*, uint32_t)>& on_record);
  // Kernel counters of raw records per event type: emitted and lost.
  leaf_type_counters ring_counters(uint32_t type) const;
  // The plugin's read_counters(), as "name/label" -> value.
  std::map<std::string, uint64_t> plugin_counters();
  sdk::IProbePlugin* plugin() { return plugin_; }
  uint64_t timer_interval_ns() const { return timer_ns_; }

  // IHost
  void log(sdk::LogLevel level, sdk::StringView message) noexcept override;
  sdk::Status config_bool(sdk::StringView key, bool* out) const noexcept override;
  sdk::Status config_int(sdk::StringView key, int64_t* out) const noexcept override;
  sdk::Status config_string(sdk::StringView key, sdk::StringView* out) const noexcept override;
  sdk::Status config_list_size(sdk::StringView key, uint32_t* out) const noexcept override;
  sdk::Status config_list_string(sdk::StringView key, uint32_t index,
                                 sdk::StringView* out) const noexcept override;
  sdk::Status config_list_int(sdk::StringView key, uint32_t index,
                              int64_t* out) const noexcept override;
  sdk::Status add_ring_buffer(const sdk::RingBufferRegistration* reg) noexcept override;
  sdk::Status emit(const sdk::EventTypeDesc* type, const uint8_t* record,
                   uint32_t size) noexcept override;
  sdk::Status add_timer(uint64_t interval_ns, sdk::ITimerHandler* handler) noexcept override;
  sdk::StringView hostname() const noexcept override;
  sdk::StringView plugin_name() const noexcept override;
  sdk::LogLevel log_level() const noexcept override;
  uint64_t ring_wakeup_delay_ns() const noexcept override { return 0; }  // wake per record

 private:
  struct Value {
    sdk::OptionType type;
    bool b = false;
    int64_t i = 0;
    std::string s;
    std::vector<std::string> strings;
    std::vector<int64_t> ints;
  };
  const Value* find(sdk::StringView key, sdk::OptionType type) const;

  void* library_ = nullptr;
  const sdk::PluginDescriptor* descriptor_ = nullptr;
  sdk::IProbePlugin* plugin_ = nullptr;
  std::map<std::string, Value> config_;
  int ringbuf_fd_ = -1, counters_fd_ = -1;
  ring_buffer* ring_ = nullptr;
  std::function<void(const uint8_t*, uint32_t)> on_record_;
  sdk::ITimerHandler* timer_ = nullptr;
  uint64_t timer_ns_ = 0;
  std::vector<Json> emitted_;
  bool started_ = false;
};

// The perf_stats record as the host encodes its "data": fixed fields and the
// VarJson tables parsed.
Json decode_perf_stats(const uint8_t* record, uint32_t size);

}  // namespace leaf::performance::test
