// Dispatcher (core/runtime/dispatcher.hpp) on a real BPF ring buffer: a
// socket-filter program written here submits one 24-byte Leaf record per run
// (bpf_ringbuf_output with the wakeup flag asked for), BPF_PROG_TEST_RUN
// runs it, and a counting sink must see every record exactly once:
//   - under a steady flow (a forced wakeup per drain interval, the other
//     records without one, as bpf/leaf.bpf.h submits them), the rings leave
//     the epoll set and the drain tick alone delivers;
//   - once the flow stops, the rings are back in the epoll set: a record
//     after that is delivered by its wakeup alone (the tick has stopped).
// And with a writer built with bpf/leaf.bpf.h (dispatcher_writer.bpf.c):
//   - leaf_wakeup_flags() forces no wakeup for a record stamped before the
//     host's ticking word, and does once the word is in the past;
//   - the dispatcher publishes the word while records flow, never stops
//     ticking before the time it published has passed, delivers every
//     record (the flow's last one included) exactly once, and a record after
//     the tick stopped forces its wakeup again;
//   - an ABI 2.0 registration (smaller struct_size) is accepted and its
//     bytes past struct_size are never read.
#include "runtime/dispatcher.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <doctest/doctest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#include "dispatcher_writer.skel.h"
#include "leaf_event.h"
#include "pipeline/pipeline.hpp"

using namespace std::chrono_literals;
namespace sdk = leaf::sdk;

namespace {

struct test_record {
  leaf_event_header hdr;
  uint64_t value;
};

const sdk::FieldDesc kFields[] = {LEAF_FIELD(test_record, value, U64)};
const sdk::EventTypeDesc kType = {.name = "dispatch_probe",
                                  .category = sdk::Category::Process,
                                  .fields = kFields,
                                  .field_count = 1,
                                  .fixed_size = sizeof(test_record),
                                  .max_size = sizeof(test_record),
                                  .key_field = nullptr,
                                  .description = ""};

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst;
  i.src_reg = src;
  i.off = off;
  i.imm = imm;
  return i;
}

// Writes {timestamp 1, type 0, value 42} to the ring with `flags`; returns 0.
int load_writer(int ring_fd, uint64_t flags) {
  std::vector<bpf_insn> prog = {
      insn(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, -24, 1),  // timestamp_ns
      insn(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, -16, 0),  // type, flags, reserved
      insn(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, -8, 42),  // value
      insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, ring_fd),
      insn(0, 0, 0, 0, 0),                                             // second half of ld_imm64
      insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),  // r2 = r10
      insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -24),         // r2 -= 24
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, sizeof(test_record)),
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, static_cast<int32_t>(flags)),
      insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ringbuf_output),
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
      insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  return bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "leaf_dispatch", "GPL", prog.data(),
                       prog.size(), nullptr);
}

void run_writer(int prog_fd, int times) {
  char packet[64] = {};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof(packet),
              .repeat = times);
  REQUIRE(bpf_prog_test_run_opts(prog_fd, &opts) == 0);
}

// A registration of ring `ring_fd` for kType records, no counters, no
// ticking word.
sdk::RingBufferRegistration plain_registration(int ring_fd) {
  sdk::RingBufferRegistration reg{};
  reg.struct_size = sizeof(reg);
  reg.ringbuf_map_fd = ring_fd;
  reg.counters_map_fd = -1;
  reg.ticking_map_fd = -1;
  reg.types = &kType;
  reg.type_count = 1;
  reg.type_size = sizeof(sdk::EventTypeDesc);
  return reg;
}

// Counts what reaches it (written on the dispatcher thread, read here).
class CountingSink final : public sdk::ISink {
 public:
  std::atomic<uint64_t> events{0};
  std::atomic<bool> bad{false};
  const char* last_error() const noexcept override { return ""; }
  void destroy() noexcept override {}
  void* query_interface(sdk::InterfaceId id) noexcept override {
    return id == sdk::ISink::kId ? static_cast<sdk::ISink*>(this) : nullptr;
  }
  sdk::Status open() noexcept override { return sdk::Status::Ok; }
  sdk::Status write(const sdk::SinkMessage* m) noexcept override {
    std::string_view json(m->json.data, m->json.size);
    if (json.find("\"value\":42") == std::string_view::npos) bad = true;
    events.fetch_add(1);
    return sdk::Status::Ok;
  }
  // The most events written between two polls (json-batch closes a Kafka
  // batch at a poll: what one poll covers is what one message can hold).
  std::atomic<uint64_t> most_per_poll{0};
  void poll() noexcept override {
    uint64_t now = events.load();
    most_per_poll = std::max(most_per_poll.load(), now - at_last_poll_);
    at_last_poll_ = now;
  }
  sdk::Status flush(uint32_t) noexcept override { return sdk::Status::Ok; }
  void read_counters(sdk::ICounterVisitor*) noexcept override {}
  void close() noexcept override {}
  uint32_t healthy() const noexcept override { return 1; }

 private:
  uint64_t at_last_poll_ = 0;  // dispatcher thread only
};

// Waits (at most `limit`: a liveness bound, not a timing figure) for `done`.
template <class F>
bool wait_for(F&& done, std::chrono::seconds limit = 20s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE(
    "dispatcher: a steady flow is drained by the tick with the rings out of epoll; "
    "after it, a record's wakeup alone delivers it") {
  int ring = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "leaf_disp_test", 0, 0, 1 << 20, nullptr);
  REQUIRE_MESSAGE(ring >= 0, "bpf_map_create: ", std::strerror(errno));
  int forced = load_writer(ring, BPF_RB_FORCE_WAKEUP);
  int quiet = load_writer(ring, BPF_RB_NO_WAKEUP);
  int normal = load_writer(ring, 0);  // wakes when the consumer has caught up
  REQUIRE_MESSAGE((forced >= 0 && quiet >= 0 && normal >= 0),
                  "bpf_prog_load: ", std::strerror(errno));

  boost::asio::io_context io;
  leaf::core::Pipeline pipeline("test-host", {});
  CountingSink sink;
  pipeline.add_sink("count", &sink);
  leaf::core::Dispatcher dispatcher(io, pipeline);
  dispatcher.set_drain_interval(1ms);
  sdk::RingBufferRegistration reg = plain_registration(ring);
  int owner = 0;
  auto types = pipeline.register_types("test", &kType, sizeof(kType), 1);
  REQUIRE(dispatcher.add_ring(&owner, "test", reg, nullptr, types) == "");

  auto work = boost::asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });

  // A steady flow as leaf.bpf.h makes it: every 1 ms a forced wakeup, 20
  // records without one in between, until the rings have left epoll (and
  // 50 ms more of it), at most 20 s.
  uint64_t written = 0;
  auto flow_until = std::chrono::steady_clock::now() + 20s;
  std::chrono::steady_clock::time_point unwatched_at{};
  while (std::chrono::steady_clock::now() < flow_until) {
    run_writer(forced, 1);
    run_writer(quiet, 20);
    written += 21;
    if (unwatched_at == std::chrono::steady_clock::time_point{} && dispatcher.rings_unwatched()) {
      unwatched_at = std::chrono::steady_clock::now();
      flow_until = unwatched_at + 50ms;
    }
    std::this_thread::sleep_for(1ms);
  }
  CHECK(dispatcher.unwatch_count() >= 1);
  CHECK(wait_for([&] { return sink.events.load() == written; }));
  CHECK(sink.events.load() == written);

  // The flow stopped: the tick stops and the rings are back in epoll.
  CHECK(wait_for([&] { return !dispatcher.rings_unwatched(); }));
  std::this_thread::sleep_for(20ms);  // the tick has run out by now (2 intervals)
  run_writer(normal, 1);
  ++written;
  CHECK(wait_for([&] { return sink.events.load() == written; }));

  // Once more: a second flow leaves epoll again, and everything still arrives.
  uint64_t before = dispatcher.unwatch_count();
  flow_until = std::chrono::steady_clock::now() + 20s;
  while (dispatcher.unwatch_count() == before && std::chrono::steady_clock::now() < flow_until) {
    run_writer(forced, 1);
    run_writer(quiet, 20);
    written += 21;
    std::this_thread::sleep_for(1ms);
  }
  CHECK(dispatcher.unwatch_count() == before + 1);
  CHECK(wait_for([&] { return !dispatcher.rings_unwatched(); }));
  std::this_thread::sleep_for(20ms);
  run_writer(forced, 1);
  ++written;
  CHECK(wait_for([&] { return sink.events.load() == written; }));
  CHECK(sink.events.load() == written);  // none twice
  CHECK_FALSE(sink.bad.load());

  work.reset();
  io.stop();
  loop.join();
  pipeline.detach_all();
  close(forced);
  close(quiet);
  close(normal);
  close(ring);
}

TEST_CASE("dispatcher: the drain tick polls the sinks once, after every ring") {
  // Rings A and B get records without a wakeup, ring C one with: C's wakeup
  // starts the tick, whose drain of A and B must end in one poll covering
  // both (a poll per ring would cover 5 at most).
  int rings[3];
  int writers[3];
  for (int i = 0; i < 3; ++i) {
    rings[i] = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "leaf_disp_poll", 0, 0, 1 << 16, nullptr);
    REQUIRE_MESSAGE(rings[i] >= 0, "bpf_map_create: ", std::strerror(errno));
    writers[i] = load_writer(rings[i], i == 2 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
    REQUIRE_MESSAGE(writers[i] >= 0, "bpf_prog_load: ", std::strerror(errno));
  }
  boost::asio::io_context io;
  leaf::core::Pipeline pipeline("test-host", {});
  CountingSink sink;
  pipeline.add_sink("count", &sink);
  leaf::core::Dispatcher dispatcher(io, pipeline);
  dispatcher.set_drain_interval(1ms);
  auto types = pipeline.register_types("test", &kType, sizeof(kType), 1);
  int owner = 0;
  for (int ring : rings) {
    REQUIRE(dispatcher.add_ring(&owner, "test", plain_registration(ring), nullptr, types) == "");
  }
  auto work = boost::asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  run_writer(writers[0], 5);
  run_writer(writers[1], 5);
  run_writer(writers[2], 1);
  CHECK(wait_for([&] { return sink.events.load() == 11; }));
  CHECK(wait_for([&] { return !dispatcher.ticking(); }));
  CHECK(sink.events.load() == 11);
  CHECK(sink.most_per_poll.load() == 10);
  work.reset();
  io.stop();
  loop.join();
  pipeline.detach_all();
  for (int i = 0; i < 3; ++i) {
    close(writers[i]);
    close(rings[i]);
  }
}

namespace {

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The writer object, loaded with a wakeup delay of 1 ms (as leaf-host's
// default dispatcher.wakeup_delay), and its program run `times` times.
struct Writer {
  dispatcher_writer_bpf* skel = nullptr;
  Writer() {
    skel = dispatcher_writer_bpf::open();
    REQUIRE_MESSAGE(skel, "opening the writer: ", std::strerror(errno));
    skel->rodata->leaf_wakeup_delay_ns = 1000000;
    REQUIRE_MESSAGE(dispatcher_writer_bpf::load(skel) == 0,
                    "loading the writer: ", std::strerror(errno));
  }
  ~Writer() { dispatcher_writer_bpf::destroy(skel); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  void run(int times) { run_writer(bpf_program__fd(skel->progs.writer), times); }
  uint64_t forced() const { return __atomic_load_n(&skel->bss->forced, __ATOMIC_ACQUIRE); }
  uint64_t word() const {
    return __atomic_load_n(&skel->bss->leaf_consumer_ticking_until_ns, __ATOMIC_ACQUIRE);
  }
  void set_word(uint64_t v) {
    __atomic_store_n(&skel->bss->leaf_consumer_ticking_until_ns, v, __ATOMIC_RELEASE);
  }
};

std::unique_ptr<Writer> loaded_writer() { return std::make_unique<Writer>(); }

sdk::RingBufferRegistration registration(const Writer& w) {
  sdk::RingBufferRegistration reg{};
  reg.struct_size = sizeof(reg);
  reg.ringbuf_map_fd = bpf_map__fd(w.skel->maps.events);
  reg.counters_map_fd = bpf_map__fd(w.skel->maps.counters);
  reg.types = &kType;
  reg.type_count = 1;
  reg.decoder = nullptr;
  reg.type_size = sizeof(sdk::EventTypeDesc);
  reg.ticking_map_fd = bpf_map__fd(w.skel->maps.bss);
  reg.ticking_offset = static_cast<uint32_t>(
      offsetof(std::remove_pointer_t<decltype(w.skel->bss)>, leaf_consumer_ticking_until_ns));
  return reg;
}

// A dispatcher with a 1 ms tick on its own thread, a counting sink.
struct Host {
  boost::asio::io_context io;
  leaf::core::Pipeline pipeline{"test-host", {}};
  CountingSink sink;
  leaf::core::Dispatcher dispatcher{io, pipeline};
  std::vector<leaf::core::TypeInfo> types;
  int owner = 0;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  std::thread loop;
  Host() {
    pipeline.add_sink("count", &sink);
    dispatcher.set_drain_interval(1ms);
    types = pipeline.register_types("test", &kType, sizeof(kType), 1);
  }
  std::string add(const sdk::RingBufferRegistration& reg) {
    return dispatcher.add_ring(&owner, "test", reg, nullptr, types);
  }
  void start() {
    loop = std::thread([this] { io.run(); });
  }
  ~Host() {
    work.reset();
    io.stop();
    if (loop.joinable()) loop.join();
    pipeline.detach_all();
  }
};

}  // namespace

TEST_CASE("leaf_wakeup_flags: no forced wakeup for records stamped before the ticking word") {
  auto w = loaded_writer();
  CHECK(w->word() == 0);
  // The host says it drains for an hour: 100 records, not one wakeup.
  w->set_word(monotonic_ns() + 3600ull * 1000000000ull);
  w->run(100);
  CHECK(w->forced() == 0);
  // The word in the past: the delay rule alone, and the last forced wakeup
  // was never (0), so the next record forces one.
  w->set_word(monotonic_ns() - 1);
  w->run(1);
  CHECK(w->forced() == 1);
  // 0 (an older host, or no tick) is in the past too.
  w->set_word(0);
  __atomic_store_n(&w->skel->bss->leaf_last_wakeup_ns, 0, __ATOMIC_RELEASE);
  w->run(1);
  CHECK(w->forced() == 2);
}

TEST_CASE(
    "dispatcher: the ticking word is published while records flow, the tick outlives it, "
    "every record arrives exactly once, the last one of a flow included") {
  auto w = loaded_writer();
  Host h;
  REQUIRE(h.add(registration(*w)) == "");
  h.start();

  // A steady flow (20 records a millisecond) until the word was seen ahead
  // of the clock, then 50 ms more; at most 20 s (liveness bound).
  uint64_t written = 0;
  bool ahead = false;
  auto flow_until = std::chrono::steady_clock::now() + 20s;
  uint64_t forced_from = 0;
  while (std::chrono::steady_clock::now() < flow_until) {
    w->run(20);
    written += 20;
    if (!ahead && w->word() > monotonic_ns()) {
      ahead = true;
      forced_from = w->forced();
      flow_until = std::chrono::steady_clock::now() + 50ms;
    }
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(ahead);
  MESSAGE("forced wakeups in the 50 ms after the word was published: ", w->forced() - forced_from);
  // The flow's last record was submitted without a wakeup if the word
  // covered it: the tick must still deliver it.
  CHECK(wait_for([&] { return h.sink.events.load() == written; }));
  CHECK(wait_for([&] { return !h.dispatcher.ticking(); }));
  // The tick stopped only after the time it published.
  CHECK(w->word() < monotonic_ns());
  CHECK(h.sink.events.load() == written);

  // The tick has stopped: the next record forces its wakeup, which alone
  // delivers it.
  uint64_t forced = w->forced();
  w->run(1);
  ++written;
  CHECK(w->forced() == forced + 1);
  CHECK(wait_for([&] { return h.sink.events.load() == written; }));
  CHECK(h.sink.events.load() == written);  // none twice
  CHECK_FALSE(h.sink.bad.load());
}

TEST_CASE("dispatcher: an ABI 2.0 ring registration works and its word fields are never read") {
  auto w = loaded_writer();
  Host h;
  sdk::RingBufferRegistration small = registration(*w);
  small.struct_size = 40;  // less than ABI 2.0's
  CHECK(h.add(small) == "registration of 40 bytes, ABI 2.0's has 44");
  // ABI 2.0's size, with a valid word map past it: the host must not use it.
  sdk::RingBufferRegistration reg = registration(*w);
  reg.struct_size = offsetof(sdk::RingBufferRegistration, reserved) + 4;  // sizeof in ABI 2.0
  REQUIRE(reg.struct_size == 48);
  REQUIRE(h.add(reg) == "");
  h.start();
  uint64_t written = 0;
  for (int i = 0; i < 50; ++i) {
    w->run(20);
    written += 20;
    std::this_thread::sleep_for(1ms);
  }
  CHECK(wait_for([&] { return h.sink.events.load() == written; }));
  CHECK(wait_for([&] { return !h.dispatcher.ticking(); }));
  CHECK(w->word() == 0);
  CHECK(w->forced() >= 1);
  CHECK(h.sink.events.load() == written);
}

// A timer wait that completed before remove_owner() is queued in io_ and runs
// although cancel() came later (cancel reaches only waits still pending): its
// handler must not touch the removed timer. It did (a use after free, seen as a
// SIGHUP restart stalling leaf-host in reload_open_test). Asio queues the
// completions its reactor collects behind the handlers posted before it ran:
// the removal below runs between the wait's completion and its handler.
TEST_CASE("dispatcher: a timer removed after its wait completed does not fire") {
  boost::asio::io_context io;
  leaf::core::Pipeline pipeline("test-host", {});
  leaf::core::Dispatcher dispatcher(io, pipeline);
  int owner = 0;
  int fired = 0, fired_after_removal = 0;
  bool removed = false;
  dispatcher.add_timer(&owner, 1ms, [&] { ++(removed ? fired_after_removal : fired); });
  boost::asio::post(io, [&] {
    std::this_thread::sleep_for(5ms);  // the timer expires meanwhile
    boost::asio::post(io, [&] {
      dispatcher.remove_owner(&owner);
      removed = true;
    });
  });
  io.run_for(std::chrono::milliseconds(200));
  CHECK(removed);
  CHECK(fired_after_removal == 0);
  MESSAGE("fired before the removal: ", fired);
}

// A drain that stops at kBatch records posts its continuation; the ring's
// removal may run before it. The continuation then finds no ring (it holds
// it weakly; a raw pointer would be to freed memory) and remove_owner() has
// delivered the rest: every record once.
TEST_CASE("dispatcher: a ring removed while its drain's continuation waits") {
  int ring = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "leaf_disp_rm", 0, 0, 1 << 20, nullptr);
  REQUIRE_MESSAGE(ring >= 0, "bpf_map_create: ", std::strerror(errno));
  int writer = load_writer(ring, BPF_RB_FORCE_WAKEUP);
  REQUIRE_MESSAGE(writer >= 0, "bpf_prog_load: ", std::strerror(errno));
  // Five drains' worth (kBatch 1024): whether the ring's first wakeup drains
  // before or after the first continuation, a continuation is pending when
  // the removal runs.
  constexpr int kRecords = 5000;
  run_writer(writer, kRecords);

  boost::asio::io_context io;
  leaf::core::Pipeline pipeline("test-host", {});
  CountingSink sink;
  pipeline.add_sink("count", &sink);
  leaf::core::Dispatcher dispatcher(io, pipeline);
  int owner = 0;
  auto types = pipeline.register_types("test", &kType, sizeof(kType), 1);
  REQUIRE(dispatcher.add_ring(&owner, "test", plain_registration(ring), nullptr, types) == "");
  // add_ring drained the first batch and posted a continuation.
  CHECK(sink.events.load() == 1024);
  bool removed = false;
  boost::asio::post(io, [&] {
    dispatcher.remove_owner(&owner);
    removed = true;
  });
  io.run_for(std::chrono::milliseconds(100));
  CHECK(removed);
  CHECK(sink.events.load() == kRecords);
  CHECK_FALSE(sink.bad.load());
  pipeline.detach_all();
  close(writer);
  close(ring);
}
