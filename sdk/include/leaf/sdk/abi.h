// Leaf plugin ABI, version 2 (the ABI of SDK 1.0; version 1 was the draft
// before it, and the host refuses its plugins naming both versions).
//
// The hourglass waist between leaf-host and every plugin (.so). Everything
// that crosses it is in this header and in schema.h / config.h:
//   - fixed-width integers, `const char*` + length views and SDK POD structs;
//   - pure virtual interfaces whose methods are all `noexcept` and return a
//     Status; the message of the last failure is fetched with last_error();
//   - no STL, no exceptions, no RTTI across the boundary.
//
// Versioning rule (see sdk/README.md, "Versioning"):
//   - kAbiMajor changes only when a released interface or struct changes
//     incompatibly. The host refuses a plugin whose major differs from its own.
//   - kAbiMinor grows when something is added: a new interface the host can
//     ask a plugin object for (query_interface), a new method at the end of an
//     interface the *host* implements (IHost, ICounterVisitor, IEventEditor),
//     a new field at the end of a struct, a new field or option type. The
//     descriptor's abi_minor is the minor the plugin needs; the host accepts
//     a plugin whose minor is <= its own and names both versions otherwise.
//   - Released interfaces never change: a new capability is a new interface.
//   - Every table and struct that crosses the boundary carries its size
//     (struct_size, option_size, field_size, type_size): a reader uses only
//     the fields it knows, steps over a newer writer's larger rows and gives
//     the fields an older writer lacks their documented defaults.
//
// Object lifetime: every object a plugin creates is destroyed by calling its
// destroy(), which runs plugin code; the host keeps the library loaded
// until every object made from it is gone.
#pragma once

#include <leaf/sdk/config.h>
#include <leaf/sdk/schema.h>
#include <leaf/sdk/types.h>

#include <cstddef>
#include <cstdint>

namespace leaf::sdk {

inline constexpr uint32_t kAbiMajor = 2;
inline constexpr uint32_t kAbiMinor = 1;  // 2.1: RingBufferRegistration::ticking_*

// Names an interface for IPluginObject::query_interface. A released id
// always means the same interface; a new capability gets a new id.
using InterfaceId = uint64_t;

// The name of the one exported entry point (a BOOST_DLL_ALIAS) every plugin
// library provides: a function `const PluginDescriptor* ()`.
inline constexpr const char* kEntryPointName = "leaf_plugin_descriptor";

enum class PluginKind : uint32_t {
  Probe = 1,      // IProbePlugin: kernel probes feeding ring buffers
  Processor = 2,  // IProcessor: sees every event between decoder and sinks
  Sink = 3,       // ISink: takes encoded messages out of the host
};

class IHost;

// Common base of every object a plugin hands to the host.
class IPluginObject {
 public:
  static constexpr InterfaceId kId = 0x6c6561662e6f626aULL;  // "leaf.obj"

  // The interface `id` of this object (this object cast to it), or nullptr
  // when the object does not offer it. The object's kind interface
  // (IProbePlugin, IProcessor, ISink) must be offered; later capabilities are
  // new interfaces that a host asks for and an older plugin does not offer.
  virtual void* query_interface(InterfaceId id) noexcept = 0;
  // Message of the last call that did not return Status::Ok. Valid until the
  // next call on this object. Never null.
  virtual const char* last_error() const noexcept = 0;
  // Frees the object inside the plugin that made it. The pointer is dead after.
  virtual void destroy() noexcept = 0;

 protected:
  ~IPluginObject() = default;
};

// ---------------------------------------------------------------------------
// Ring buffers and counters

// A plugin-supplied decoder, for records that the generic schema path cannot
// turn into an event by itself (computed fields, records made of several
// events). It is called on the dispatcher thread with the raw ring-buffer
// record and calls IHost::emit() for every event it produces.
class IRecordDecoder {
 public:
  virtual Status decode(const uint8_t* record, uint32_t size, IHost* host) noexcept = 0;

 protected:
  ~IRecordDecoder() = default;
};

struct RingBufferRegistration {
  uint32_t struct_size;    // sizeof(RingBufferRegistration)
  int32_t ringbuf_map_fd;  // BPF_MAP_TYPE_RINGBUF
  // BPF_MAP_TYPE_PERCPU_ARRAY indexed by event type index with values of
  // struct leaf_type_counters (bpf/leaf_event.h), or -1 for none. The host
  // sums it per CPU and reports emitted and lost records per event type.
  int32_t counters_map_fd;
  // Event types of the records in this ring, indexed by the `type` field of
  // every record's leaf_event_header.
  const EventTypeDesc* types;
  uint32_t type_count;
  // nullptr: the host decodes records generically through `types`.
  IRecordDecoder* decoder;
  // sizeof(EventTypeDesc) in the plugin's SDK: the stride of `types`.
  uint32_t type_size = sizeof(EventTypeDesc);
  // ---- ABI 2.1 (a host reads what follows only when struct_size covers it)
  uint32_t reserved = 0;  // ABI 2.0's tail padding: never read
  // The BPF object's word leaf_consumer_ticking_until_ns (bpf/leaf.bpf.h):
  // a BPF_F_MMAPABLE array map (the object's .bss) and the word's byte offset
  // in its value, or -1. The host maps it and writes, while it drains the
  // ring on its tick, until when it will go on doing so: the BPF side skips
  // the ring's forced wakeups meanwhile. -1 (or an ABI 2.0 registration):
  // wakeups as before. ProbePluginBase::add_ring fills these in.
  int32_t ticking_map_fd = -1;
  uint32_t ticking_offset = 0;
};

// One histogram as a plugin reports it: buckets with increasing upper
// bounds, each count for that bucket alone (not cumulative).
enum class Unit : uint32_t {
  None = 0,         // exposed as is
  Nanoseconds = 1,  // bounds and sum in ns, exposed in seconds
  Bytes = 2,
};

struct HistogramView {
  uint32_t struct_size = sizeof(HistogramView);
  Unit unit;
  uint32_t bucket_count;
  const uint64_t* upper_bounds;  // UINT64_MAX for the last (+Inf) bucket
  const uint64_t* counts;        // per bucket
  uint64_t sum;                  // of all observations, in `unit`
};

// Visitor through which a plugin reports its own counters (kernel table
// usage, evictions, suppressed events...). `name` is a metric-style name
// without the leaf_ prefix (histograms of durations end in _seconds),
// `label` an optional qualifier (an event type). /metrics shows
// leaf_<name>{plugin=...}; a counter's name gets the _total suffix
// Prometheus expects when it does not end with it already.
class ICounterVisitor {
 public:
  virtual void counter(StringView name, StringView label, uint64_t value) noexcept = 0;
  virtual void gauge(StringView name, StringView label, int64_t value) noexcept = 0;
  virtual void histogram(StringView name, StringView label,
                         const HistogramView* histogram) noexcept = 0;

 protected:
  ~ICounterVisitor() = default;
};

// Timer callback, run on the dispatcher thread.
class ITimerHandler {
 public:
  virtual void on_timer() noexcept = 0;

 protected:
  ~ITimerHandler() = default;
};

// ---------------------------------------------------------------------------
// What the host offers a plugin. Valid from create() until destroy().

class IHost {
 public:
  virtual void log(LogLevel level, StringView message) noexcept = 0;

  // Configuration of this plugin, validated by the host against the
  // options the plugin declared (PluginDescriptor::options); every declared
  // key has a value (its default when not configured). Asking for an
  // undeclared key or with the wrong type returns Status::InvalidArgument.
  virtual Status config_bool(StringView key, bool* out) const noexcept = 0;
  // Int, Size (bytes) and Duration (nanoseconds) options.
  virtual Status config_int(StringView key, int64_t* out) const noexcept = 0;
  // The view stays valid until the plugin is destroyed.
  virtual Status config_string(StringView key, StringView* out) const noexcept = 0;
  virtual Status config_list_size(StringView key, uint32_t* out) const noexcept = 0;
  virtual Status config_list_string(StringView key, uint32_t index,
                                    StringView* out) const noexcept = 0;
  virtual Status config_list_int(StringView key, uint32_t index, int64_t* out) const noexcept = 0;

  // Adds a ring buffer to the dispatcher. Call from start(). The map must
  // stay open until stop() returns; the host stops polling it before stop().
  virtual Status add_ring_buffer(const RingBufferRegistration* reg) noexcept = 0;

  // Emits one event built in user space (snapshots, decoder output). The
  // record has the layout its EventTypeDesc describes, starting with a
  // leaf_event_header whose timestamp is CLOCK_MONOTONIC nanoseconds.
  // Dispatcher thread only (decoders, timers, start()).
  virtual Status emit(const EventTypeDesc* type, const uint8_t* record, uint32_t size) noexcept = 0;

  // Calls handler->on_timer() every interval_ns on the dispatcher thread
  // until the plugin is stopped.
  virtual Status add_timer(uint64_t interval_ns, ITimerHandler* handler) noexcept = 0;

  // Host facts a plugin may need.
  virtual StringView hostname() const noexcept = 0;
  virtual StringView plugin_name() const noexcept = 0;
  // The level the host logs at, so a plugin can skip building messages.
  virtual LogLevel log_level() const noexcept = 0;

  // How long a BPF program may hold back a ring-buffer wakeup (bpf/leaf.bpf.h:
  // set the object's leaf_wakeup_delay_ns to this before load; 0: wake per
  // record). The host drains rings on a tick of this length while they flow.
  virtual uint64_t ring_wakeup_delay_ns() const noexcept = 0;

 protected:
  ~IHost() = default;
};

// ---------------------------------------------------------------------------
// Probe plugins

// Hook kinds in the usual order of preference.
enum class HookKind : uint32_t {
  None = 0,
  Fentry = 1,
  Kprobe = 2,
  TpBtf = 3,
  RawTp = 4,
  Tracepoint = 5,
  Other = 6,
};

struct ProbeInfo {
  uint32_t struct_size;  // sizeof(ProbeInfo)
  StringView name;       // the probe, e.g. "tcp_close"
  HookKind hook;         // the hook that won, HookKind::None when none did
  StringView program;    // the BPF program that runs it
  StringView detail;     // why the preferred hooks were passed over / failed
  uint32_t attached;     // 1 when attached and running
};

class IProbePlugin : public IPluginObject {
 public:
  static constexpr InterfaceId kId = 0x6c6561662e707262ULL;  // "leaf.prb"

  // Reads configuration, opens and loads the BPF object, choosing each
  // probe's hook. Nothing runs yet. It may run on a thread of its own (a
  // probe dropped into a running host, or restarted or enabled by SIGHUP, is
  // opened beside the dispatcher while the other plugins run): it calls only
  // the host's config_*, log, log_level, hostname, plugin_name and
  // ring_wakeup_delay_ns. add_ring_buffer, add_timer and emit called from
  // open() are refused with Status::Error (and logged), wherever it runs:
  // they belong in start().
  virtual Status open() noexcept = 0;
  // Attaches the programs and registers ring buffers and timers.
  virtual Status start() noexcept = 0;
  // Detaches; after it returns no record is produced any more.
  virtual void stop() noexcept = 0;

  virtual uint32_t probe_count() const noexcept = 0;
  virtual Status probe_info(uint32_t index, ProbeInfo* out) const noexcept = 0;

  // The event types this plugin emits (for --list-plugins, filters, docs).
  virtual uint32_t event_type_count() const noexcept = 0;
  virtual const EventTypeDesc* event_type(uint32_t index) const noexcept = 0;

  // Reports plugin-specific counters. Called from the dispatcher thread.
  virtual void read_counters(ICounterVisitor* visitor) noexcept = 0;

  // SIGHUP while running, when this plugin's configuration changed: the
  // IHost config_* calls now return the new values. Apply what can change
  // live (filters in kernel maps...) without losing or duplicating events.
  // Status::NotSupported: nothing changes until restart (the host says so);
  // Status::InvalidConfig: refused, the host restores the previous
  // configuration and calls reload() again. Dispatcher thread.
  virtual Status reload() noexcept = 0;

 protected:
  ~IProbePlugin() = default;
};

// ---------------------------------------------------------------------------
// Processors

// A read-only view of one decoded event.
struct EventView {
  uint32_t struct_size;       // sizeof(EventView)
  const EventTypeDesc* type;  // schema of `record`
  const uint8_t* record;      // starts with leaf_event_header
  uint32_t size;              // bytes in record
  uint64_t timestamp_ns;      // nanoseconds since the Unix epoch
  StringView plugin;          // the plugin that produced it
};

// Edits that processors make to an event. Strings are copied; the views
// passed in need only live for the call.
class IEventEditor {
 public:
  // Adds a field beside the record's own fields, in `data`.
  virtual Status add_string(StringView name, StringView value) noexcept = 0;
  virtual Status add_int(StringView name, int64_t value) noexcept = 0;
  virtual Status add_uint(StringView name, uint64_t value) noexcept = 0;
  // `json` must be one valid JSON value (object, array...).
  virtual Status add_json(StringView name, StringView json) noexcept = 0;
  // Replaces the text of a record field (by index in type->fields).
  virtual Status replace_string(uint32_t field_index, StringView value) noexcept = 0;
  // The value of a string field as currently edited (after replace_string),
  // or as recorded. Returns InvalidArgument for non-string fields.
  virtual Status get_string(uint32_t field_index, StringView* out) const noexcept = 0;

  // ---- ABI 2.1 (a plugin built with this SDK needs a host of ABI 2.1)
  // Adds several fields at once, in their order, beside the record's own:
  // `members` is one or more `"name":value` members separated by commas,
  // as they appear inside a JSON object (names escaped and quoted, each
  // value one valid JSON value), e.g. `"team":"web","tier":3`. A processor
  // renders what it adds for a key (a cgroup, a container) once and adds it
  // to each event with one call instead of one call per field. As with
  // add_json, the text is not parsed again on the hot path: it must be
  // valid. InvalidArgument when empty.
  virtual Status add_members(StringView members) noexcept = 0;

 protected:
  ~IEventEditor() = default;
};

enum class Verdict : uint32_t { Keep = 0, Drop = 1 };

class IProcessor : public IPluginObject {
 public:
  static constexpr InterfaceId kId = 0x6c6561662e707263ULL;  // "leaf.prc"

  virtual Status open() noexcept = 0;
  // Called on the dispatcher thread for every event, in pipeline order.
  virtual Verdict process(const EventView* event, IEventEditor* editor) noexcept = 0;
  virtual void read_counters(ICounterVisitor* visitor) noexcept = 0;
  // SIGHUP: the host has re-read the configuration; the IHost config_*
  // calls now return the new values. Return Status::InvalidConfig (with
  // last_error()) to refuse them: the host then restores the previous
  // configuration and calls reload() once more. Dispatcher thread.
  virtual Status reload() noexcept = 0;
  virtual void close() noexcept = 0;

 protected:
  ~IProcessor() = default;
};

// ---------------------------------------------------------------------------
// Sinks

// One encoded event as it leaves the host.
struct SinkMessage {
  uint32_t struct_size;  // sizeof(SinkMessage)
  Category category;
  StringView event_type;  // data.type, e.g. "process_exec"
  StringView key;         // partitioning key (SPEC.md §3)
  StringView json;        // the whole message, no trailing newline
  uint64_t timestamp_ns;  // event time, ns since the Unix epoch
};

class ISink : public IPluginObject {
 public:
  static constexpr InterfaceId kId = 0x6c6561662e736e6bULL;  // "leaf.snk"

  virtual Status open() noexcept = 0;
  // Takes one message. Must not block the dispatcher for long: a sink that
  // cannot accept returns Status::Again after a bounded wait, and the host
  // counts the event as dropped by this sink.
  virtual Status write(const SinkMessage* message) noexcept = 0;
  // Called on the dispatcher thread after every batch of events and on a
  // timer: a chance to flush buffers and serve callbacks.
  virtual void poll() noexcept = 0;
  // Delivers what is still queued, waiting at most timeout_ms. Returns
  // Status::Again when something could not be delivered in time.
  virtual Status flush(uint32_t timeout_ms) noexcept = 0;
  virtual void read_counters(ICounterVisitor* visitor) noexcept = 0;
  virtual void close() noexcept = 0;
  // 1 while the sink delivers (for /healthz), 0 when it cannot.
  virtual uint32_t healthy() const noexcept = 0;

 protected:
  ~ISink() = default;
};

// ---------------------------------------------------------------------------
// The descriptor returned by the entry point.

struct PluginDescriptor {
  // These two come first and never move: the host reads them before
  // anything else to decide whether it can read the rest.
  uint32_t abi_major;
  uint32_t abi_minor;    // the minor this plugin needs (see the versioning rule)
  uint32_t struct_size;  // sizeof(PluginDescriptor) in the plugin's SDK
  PluginKind kind;
  const char* name;             // [a-z0-9_]+; names the config file <name>.toml
  const char* version;          // the plugin's own version
  const char* description;      // one line
  const ConfigOption* options;  // declared configuration keys
  uint32_t option_count;
  uint32_t option_size;  // sizeof(ConfigOption) in the plugin's SDK: the stride of `options`
  // Creates the plugin object: an IProbePlugin*, IProcessor* or ISink* as
  // `kind` says. On failure returns nullptr and writes a NUL-terminated
  // reason into error (at most error_size bytes).
  IPluginObject* (*create)(IHost* host, char* error, uint32_t error_size) noexcept;
};

using EntryPoint = const PluginDescriptor*();

}  // namespace leaf::sdk
