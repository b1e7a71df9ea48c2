// The per-event path: record -> schema check -> processors -> JSON -> sinks.
// Runs on the dispatcher thread only; counters are atomics so that other
// threads (metrics, logs) may read them.
#pragma once

#include <leaf/sdk/abi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metrics/latency_histogram.hpp"
#include "pipeline/event_encoder.hpp"
#include "pipeline/message_key.hpp"
#include "pipeline/mono_clock.hpp"
#include "plugins/abi_tables.hpp"

namespace leaf::core {

// Counters are written by the dispatcher thread only and read by others:
// a relaxed load + store is enough and avoids a locked instruction per event.
inline void bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// Counters for one event type of one plugin.
struct TypeStats {
  std::string plugin, type;
  sdk::Category category{};
  std::atomic<uint64_t> events{0};     // reached the sinks
  std::atomic<uint64_t> filtered{0};   // dropped by a processor
  std::atomic<uint64_t> malformed{0};  // record did not fit its schema
  // The plugin's IRecordDecoder returned an error for a record of this type
  // (Dispatcher::on_sample); the last one's Status, and whether it was logged.
  std::atomic<uint64_t> decode_failed{0};
  std::atomic<int32_t> last_decode_status{0};
  bool decode_failure_logged = false;  // dispatcher thread only
  // metrics: kernel event time -> accepted by a sink. Dispatcher thread only
  // (the /metrics scrape runs there too).
  Log2Histogram latency;
};

// A plugin's event types as the pipeline knows them: stats and the key field.
struct TypeInfo {
  const sdk::EventTypeDesc* desc = nullptr;
  const CompiledType* compiled = nullptr;
  KeyRule key;  // where the message key comes from (message_key.hpp)
  TypeStats* stats = nullptr;
};

struct SinkEntry {
  std::string name;
  sdk::ISink* sink = nullptr;
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> rejected{0};  // write() did not take the message: counted drop
};

struct ProcessorEntry {
  std::string name;
  sdk::IProcessor* processor = nullptr;
};

class Pipeline {
 public:
  explicit Pipeline(std::string hostname, std::vector<std::string> metadata);
  ~Pipeline();

  // Describes a plugin's event types once (`types` has rows of type_size
  // bytes; the pipeline keeps its own copies, see plugins/abi_tables.hpp);
  // returns their TypeInfo, indexed like `types`. Throws
  // std::invalid_argument when a schema is invalid.
  std::vector<TypeInfo> register_types(const std::string& plugin, const sdk::EventTypeDesc* types,
                                       uint32_t type_size, uint32_t count);

  // At position `at` (a restarted processor keeps its place), or last.
  void add_processor(std::string name, sdk::IProcessor* p, size_t at = SIZE_MAX);
  // Where a processor runs (SIZE_MAX: not in the pipeline).
  size_t processor_index(const sdk::IProcessor* p) const;
  void add_sink(std::string name, sdk::ISink* s);
  // Forgets every sink and processor (before their objects are destroyed).
  void detach_all();
  // Forgets one (a plugin that leaves while the host runs). A sink's
  // accepted/rejected counts go with it (the host logs them).
  void remove_sink(const sdk::ISink* s);
  void remove_processor(const sdk::IProcessor* p);

  // One record of a known type (index into `types`). Returns false when the
  // record was malformed (counted).
  bool handle(const std::string& plugin, const std::vector<TypeInfo>& types, const uint8_t* record,
              uint32_t size);
  // The same for a record whose type is already known (IHost::emit).
  bool handle_typed(const std::string& plugin, const TypeInfo& info, const uint8_t* record,
                    uint32_t size);
  // A record without a type index in range: counted per plugin.
  void count_unknown_type() { bump(unknown_type_); }

  // After every batch: lets sinks flush and serve callbacks.
  void end_batch();

  MonoClock& clock() { return clock_; }
  const std::string& hostname() const { return hostname_; }

  const std::vector<std::unique_ptr<TypeStats>>& type_stats() const { return stats_; }
  const std::vector<std::unique_ptr<SinkEntry>>& sinks() const { return sinks_; }
  uint64_t unknown_type() const { return unknown_type_.load(); }
  uint64_t events_total() const { return events_total_.load(); }

 private:
  class Editor;

  std::string hostname_, hostname_json_, metadata_json_;
  MonoClock clock_;
  std::vector<std::unique_ptr<TypeStats>> stats_;
  std::vector<std::unique_ptr<CompiledType>> compiled_;
  std::vector<std::unique_ptr<OwnedType>> owned_types_;  // TypeInfo::desc points here
  std::vector<std::unique_ptr<SinkEntry>> sinks_;
  std::vector<ProcessorEntry> processors_;
  std::unique_ptr<Editor> editor_;
  std::unique_ptr<char[]> out_;
  size_t out_capacity_ = 0;
  std::string key_;
  std::atomic<uint64_t> unknown_type_{0}, events_total_{0};
  AmortizedNow latency_now_;  // metrics: the acceptance time of TypeStats::latency
};

}  // namespace leaf::core
