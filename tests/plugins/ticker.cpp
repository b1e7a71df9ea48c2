// A test plugin without BPF: emits one `tick` event per timer interval
// through IHost::emit, so the host's loader, configuration and pipeline can
// be tested without root. Compile-time switches make the broken variants the
// ABI tests need:
//   TICKER_ABI_MAJOR / TICKER_ABI_MINOR  the ABI the descriptor claims
//   TICKER_FAIL_CREATE                   the factory fails
//   TICKER_FAIL_OPEN                     open() fails
//   TICKER_NAME                          the plugin's name
//   TICKER_WIDE_ROWS                     tables as a later minor of ABI 2 writes them: every
//                                        row (option, field, event type, descriptor) larger,
//                                        its unknown tail filled with 0xff bytes
//   TICKER_NARROW_ROWS                   option rows smaller than ABI 2.0's (refused)
//   TICKER_UNDECLARED                    also emits every record as type "tock", which
//                                        is not in its event type table (refused)
//   TICKER_GATED                         open() waits at a gate (the label names it);
//                                        a gate file that says "fail" fails open(); a file
//                                        "<gate>.bpf" makes open() load a BPF program of the
//                                        name it holds first (root)
//   TICKER_OPEN_CALLS                    open() calls add_timer, emit and add_ring_buffer,
//                                        which the SDK reserves for start() (refused)
// The same source built against tests/abi/frozen-1.0 (the draft ABI 1.0
// headers) is the frozen-headers plugin.
#include <unistd.h>

#include <algorithm>
#ifdef TICKER_GATED
#include <bpf/bpf.h>

#include <cerrno>
#endif
#include <array>
#include <cstdio>
#include <cstring>
#if __has_include(<leaf/sdk/probe.hpp>)
#include <leaf/sdk/probe.hpp>
#else  // the frozen ABI 1.0 headers had the probe base in plugin.hpp
#include <leaf/sdk/plugin.hpp>
#endif
#include <string>

#include "leaf_event.h"

#ifndef TICKER_NAME
#define TICKER_NAME "ticker"
#endif

namespace {

using namespace leaf::sdk;

struct tick_event {
  leaf_event_header hdr;
  uint64_t seq;
  uint32_t pid;
  int32_t delta;
  char label[16];
  leaf_var note;
  char tail[64];
};

#define TICK_FIELDS                                                             \
  LEAF_FIELD(tick_event, seq, U64), LEAF_FIELD(tick_event, pid, U32),           \
      LEAF_FIELD(tick_event, delta, I32), LEAF_FIELD(tick_event, label, Chars), \
      LEAF_FIELD(tick_event, note, VarChars)

// SIGHUP: label applies in place (kOptionLive); the other options restart
// the plugin. The draft ABI 1.0 headers have no option flags.
#ifdef TICKER_FROZEN
#define TICK_LIVE
#else
#define TICK_LIVE , kOptionLive
#endif

#define TICK_OPTIONS                                                                                 \
  {"interval", OptionType::Duration, "\"10ms\"", 1'000'000, 60'000'000'000LL,                        \
   nullptr,    "time between ticks"},                                                                \
      {"label", OptionType::String, "\"tick\"", 0, 0, nullptr, "text of the label field" TICK_LIVE}, \
      {"count",                                                                                      \
       OptionType::Int,                                                                              \
       "0",                                                                                          \
       0,                                                                                            \
       1'000'000,                                                                                    \
       nullptr,                                                                                      \
       "stop after this many ticks (0: never)"},                                                     \
  {                                                                                                  \
    "mode", OptionType::String, "\"normal\"", 0, 0, "normal|oversized|undersized",                   \
        "normal records, or records that break the schema's size bounds"                             \
  }

#ifndef TICKER_WIDE_ROWS
const FieldDesc kFields[] = {TICK_FIELDS};
const EventTypeDesc kTick = {.name = "tick",
                             .category = Category::Process,
                             .fields = kFields,
                             .field_count = 5,
                             .fixed_size = offsetof(tick_event, tail),
                             .max_size = sizeof(tick_event),
                             .key_field = nullptr,
                             .description = "a timer tick"};
const ConfigOption kOptions[] = {TICK_OPTIONS};
#else
// Rows of a later minor: the ABI 2.0 row, then fields this host does not know.
template <class Row>
struct Wide {
  Row row;
  uint64_t later[3] = {~0ull, ~0ull, ~0ull};
};
const FieldDesc kNarrowFields[] = {TICK_FIELDS};
const ConfigOption kNarrowOptions[] = {TICK_OPTIONS};
template <class Row, size_t N>
constexpr std::array<Wide<Row>, N> widen(const Row (&rows)[N]) {
  std::array<Wide<Row>, N> out{};
  for (size_t i = 0; i < N; ++i) out[i].row = rows[i];
  return out;
}
const auto kWideFields = widen(kNarrowFields);
const auto kWideOptions = widen(kNarrowOptions);
const Wide<EventTypeDesc> kWideTick = {{.struct_size = sizeof(Wide<EventTypeDesc>),
                                        .field_size = sizeof(Wide<FieldDesc>),
                                        .name = "tick",
                                        .category = Category::Process,
                                        .fields = &kWideFields[0].row,
                                        .field_count = 5,
                                        .fixed_size = offsetof(tick_event, tail),
                                        .max_size = sizeof(tick_event),
                                        .key_field = nullptr,
                                        .description = "a timer tick"}};
const EventTypeDesc& kTick = kWideTick.row;
#endif

#ifdef TICKER_GATED
// A BPF program loaded before the gate, as a probe's open() loads its
// objects, when "<gate>.bpf" names it (a socket filter returning 0: loading
// it is all the test needs); its descriptor, or -1 without that file.
int load_named_program(const std::string& gate) {
  char name[16] = {0};
  FILE* f = std::fopen((gate + ".bpf").c_str(), "r");
  if (!f) return -1;
  size_t n = std::fread(name, 1, sizeof(name) - 1, f);
  std::fclose(f);
  name[n] = 0;
  bpf_insn prog[2] = {};
  prog[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  prog[1].code = BPF_JMP | BPF_EXIT;
  int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, name, "GPL", prog, 2, nullptr);
  if (fd < 0)
    throw PluginError(std::string("loading BPF program ") + name + ": " + std::strerror(errno));
  return fd;
}

// open() as slow as a test wants (a large BPF object's verification): the
// label names a gate; open() creates "<gate>.waiting", then waits until
// "<gate>" exists (at most 30 s). A gate that says "fail" fails open().
void wait_at_gate(const std::string& gate) {
  if (FILE* f = std::fopen((gate + ".waiting").c_str(), "w")) std::fclose(f);
  for (int i = 0; i < 3000 && access(gate.c_str(), F_OK) != 0; ++i) usleep(10'000);
  char said[8] = {0};
  if (FILE* f = std::fopen(gate.c_str(), "r")) {
    size_t n = std::fread(said, 1, sizeof(said) - 1, f);
    said[n] = 0;
    std::fclose(f);
  }
  if (std::string(said).rfind("fail", 0) == 0) throw PluginError("the gate " + gate + " said fail");
}
#endif

class Ticker final : public ProbePluginBase, public ITimerHandler {
 public:
  explicit Ticker(IHost* host) : ProbePluginBase(host, &kTick, 1) {
#ifdef TICKER_FAIL_CREATE
    throw PluginError("ticker was built to fail in its factory");
#endif
  }
#ifdef TICKER_GATED
  ~Ticker() override {
    if (bpf_fd_ >= 0) close(bpf_fd_);
  }
#endif

  void on_timer() noexcept override {
    if (count_ && seq_ >= count_) return;
    tick_event e{};
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    e.hdr.timestamp_ns = uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    e.seq = ++seq_;
    e.pid = 4242;
    e.delta = -7;
    // A fixed Char field: NUL-padded, not NUL-terminated when full.
    std::memcpy(e.label, label_.data(), std::min(label_.size(), sizeof(e.label)));
    static const char kNote[] = "note \"quoted\"\n";
    e.note = {static_cast<uint16_t>(offsetof(tick_event, tail)), sizeof(kNote) - 1};
    std::memcpy(e.tail, kNote, sizeof(kNote) - 1);
    uint32_t size = offsetof(tick_event, tail) + sizeof(kNote) - 1;
    if (mode_ == "oversized") size = sizeof(tick_event) + 8;
    if (mode_ == "undersized") size = offsetof(tick_event, label);
    std::string buf(reinterpret_cast<const char*>(&e), sizeof(e));
    buf.resize(size + 8);
    host_->emit(&kTick, reinterpret_cast<const uint8_t*>(buf.data()), size);
#ifdef TICKER_UNDECLARED
    static const EventTypeDesc kTock = [] {
      EventTypeDesc t = kTick;
      t.name = "tock";
      return t;
    }();
    tock_refused_ += host_->emit(&kTock, reinterpret_cast<const uint8_t*>(buf.data()), size) ==
                     Status::InvalidArgument;
#endif
  }

  // A counter named without _total, as a third-party plugin may: /metrics
  // shows it as leaf_ticker_ticks_total (metrics_test).
  void read_counters(ICounterVisitor* v) noexcept override {
    v->counter(make_view("ticker_ticks"), make_view(""), seq_);
#ifdef TICKER_UNDECLARED
    v->counter(make_view("ticker_tocks_refused"), make_view(""), tock_refused_);
#endif
  }

 private:
  void do_open() override {
#ifdef TICKER_FAIL_OPEN
    throw PluginError("ticker was built to fail in open()");
#endif
    interval_ = cfg_int("interval");
    label_ = cfg_string("label");
#ifdef TICKER_GATED
    bpf_fd_ = load_named_program(label_);
    wait_at_gate(label_);
#endif
    count_ = static_cast<uint64_t>(cfg_int("count"));
    mode_ = cfg_string("mode");
#ifdef TICKER_OPEN_CALLS
    call_from_open();
#endif
  }
#ifdef TICKER_OPEN_CALLS
  // What open() must not do (sdk abi.h: it may run beside the dispatcher):
  // a timer, an event, a ring. open() fails naming what the host refused.
  void call_from_open() {
    std::string refused;
    auto note = [&refused](const char* call, Status s) {
      if (s != Status::Ok)
        refused += std::string(refused.empty() ? "" : ", ") + call + " (status " +
                   std::to_string(static_cast<int>(s)) + ")";
    };
    note("add_timer", host_->add_timer(static_cast<uint64_t>(interval_), this));
    tick_event e{};
    note("emit",
         host_->emit(&kTick, reinterpret_cast<const uint8_t*>(&e), offsetof(tick_event, tail)));
    RingBufferRegistration reg{};
    reg.struct_size = sizeof(reg);
    reg.ringbuf_map_fd = -1;
    reg.counters_map_fd = -1;
    note("add_ring_buffer", host_->add_ring_buffer(&reg));
    if (!refused.empty()) throw PluginError("the host refused in open(): " + refused);
  }
#endif
  // SIGHUP: the label can change live; "refuse" is refused.
  bool do_reload() override {
    std::string next = cfg_string("label");
    if (next == "refuse") throw PluginError("label 'refuse' is refused", Status::InvalidConfig);
    label_ = next;
    return true;
  }
  void do_start() override {
    if (host_->add_timer(static_cast<uint64_t>(interval_), this) != Status::Ok)
      throw PluginError("timer refused");
  }

  int64_t interval_ = 0;
  std::string label_, mode_;
  uint64_t count_ = 0, seq_ = 0;
#ifdef TICKER_UNDECLARED
  uint64_t tock_refused_ = 0;
#endif
#ifdef TICKER_GATED
  int bpf_fd_ = -1;
#endif
};

}  // namespace

#if defined(TICKER_WIDE_ROWS)
namespace leaf_plugin_entry {
static IPluginObject* create(IHost* host, char*, uint32_t) noexcept { return new Ticker(host); }
static const Wide<PluginDescriptor> descriptor = {
    {kAbiMajor, kAbiMinor, sizeof(Wide<PluginDescriptor>), PluginKind::Probe, TICKER_NAME, "1.0.0",
     "test ticker with the rows of a later minor", &kWideOptions[0].row, 4,
     sizeof(Wide<ConfigOption>), &create}};
const PluginDescriptor* get_descriptor() { return &descriptor.row; }
}  // namespace leaf_plugin_entry
BOOST_DLL_ALIAS(leaf_plugin_entry::get_descriptor, leaf_plugin_descriptor)
#elif defined(TICKER_ABI_MAJOR) || defined(TICKER_ABI_MINOR) || defined(TICKER_NARROW_ROWS)
// A descriptor that claims another ABI version or option rows too small.
#ifndef TICKER_ABI_MAJOR
#define TICKER_ABI_MAJOR ::leaf::sdk::kAbiMajor
#endif
#ifndef TICKER_ABI_MINOR
#define TICKER_ABI_MINOR ::leaf::sdk::kAbiMinor
#endif
#ifdef TICKER_NARROW_ROWS
#define TICKER_OPTION_SIZE (offsetof(ConfigOption, flags))
#else
#define TICKER_OPTION_SIZE sizeof(ConfigOption)
#endif
namespace leaf_plugin_entry {
static IPluginObject* create(IHost* host, char*, uint32_t) noexcept { return new Ticker(host); }
static const PluginDescriptor descriptor = {
    TICKER_ABI_MAJOR,   TICKER_ABI_MINOR, sizeof(PluginDescriptor),
    PluginKind::Probe,  TICKER_NAME,      "1.0.0",
    "test ticker",      kOptions,         4,
    TICKER_OPTION_SIZE, &create};
const PluginDescriptor* get_descriptor() { return &descriptor; }
}  // namespace leaf_plugin_entry
BOOST_DLL_ALIAS(leaf_plugin_entry::get_descriptor, leaf_plugin_descriptor)
#else
LEAF_PLUGIN(Ticker, Probe, TICKER_NAME, "1.0.0", "test plugin: a timer tick event", kOptions)
#endif
