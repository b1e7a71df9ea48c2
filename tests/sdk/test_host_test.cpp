// The SDK's TestHost (leaf/sdk/testing/test_host.hpp) with the ticker test
// plugin: configuration as leaf-host validates it, the life cycle, timers,
// emitted records, counters, and refusals that name their reason.
#include <doctest/doctest.h>

#include <cstring>
#include <leaf/sdk/plugin.hpp>
#include <leaf/sdk/testing/test_host.hpp>
#include <stdexcept>
#include <string>

using leaf::sdk::testing::TestHost;

namespace {

std::string ticker(const std::string& name = "ticker") {
  return std::string(LEAF_TEST_PLUGIN_DIR) + "/leaf_" + name + ".so";
}

std::string error_of(const std::string& path, const leaf::sdk::testing::Overrides& config) {
  try {
    TestHost host(path, config);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// tick_event (tests/plugins/ticker.cpp): header (16 bytes), then seq.
uint64_t seq_of(const std::vector<uint8_t>& record) {
  uint64_t seq = 0;
  std::memcpy(&seq, record.data() + 16, sizeof(seq));
  return seq;
}

}  // namespace

TEST_CASE("TestHost runs a plugin: defaults, overrides, timers, emitted records, counters") {
  TestHost host(ticker(), {{"interval", "\"250ms\""}, {"label", "\"hello\""}});
  REQUIRE(host.probe() != nullptr);
  CHECK(host.sink() == nullptr);
  host.open();
  host.start();
  REQUIRE(host.timer_count() == 1);
  CHECK(host.timer_interval_ns() == 250'000'000);
  host.fire_timers();
  host.fire_timers();
  auto records = host.take_emitted();
  REQUIRE(records.size() == 2);
  CHECK(records[0].type == "tick");
  CHECK(seq_of(records[0].bytes) == 1);
  CHECK(seq_of(records[1].bytes) == 2);
  CHECK(std::string(reinterpret_cast<const char*>(records[0].bytes.data()) + 32) == "hello");
  CHECK(host.take_emitted().empty());
  CHECK(host.counters()["ticker_ticks"] == 2);
  host.stop();
}

TEST_CASE("TestHost refuses what leaf-host refuses, naming the key or the versions") {
  CHECK(error_of(ticker(), {{"colour", "\"red\""}}).find("colour") != std::string::npos);
  std::string range = error_of(ticker(), {{"count", "-1"}});
  CHECK(range.find("count") != std::string::npos);
  std::string type = error_of(ticker(), {{"label", "12"}});
  CHECK(type.find("label") != std::string::npos);
  std::string minor = error_of(ticker("ticker_minor9"), {});
  CHECK(minor.find("2.9") != std::string::npos);
  CHECK(error_of(ticker("ticker_failcreate"), {}).find("built to fail in its factory") !=
        std::string::npos);
  TestHost failing(ticker("ticker_failopen"));
  CHECK_THROWS_WITH_AS(failing.open(), doctest::Contains("built to fail in open()"),
                       std::runtime_error);
}

// As leaf-host: a probe's open() may run beside the dispatcher, so rings,
// timers and events are start()'s; called from open() they are refused.
TEST_CASE("TestHost refuses add_timer, emit and add_ring_buffer from a probe's open()") {
  TestHost host(ticker("ticker_open_calls"));
  CHECK_THROWS_WITH_AS(host.open(),
                       "open_calls open: the host refused in open(): add_timer (status 1), emit "
                       "(status 1), add_ring_buffer (status 1)",
                       std::runtime_error);
  for (const char* call : {"add_timer", "emit", "add_ring_buffer"})
    CHECK_MESSAGE(host.logged(std::string(call) + " refused: called from open()"), call);
  CHECK(host.timer_count() == 0);
  CHECK(host.take_emitted().empty());
}

TEST_CASE("TestHost refuses records outside the type's size bounds, as leaf-host does") {
  TestHost host(ticker(), {{"mode", "\"oversized\""}});
  host.open();
  host.start();
  host.fire_timers();
  CHECK(host.take_emitted().empty());
}

// IEventEditor::add_members (ABI 2.1): TestHost records each member of the
// fragment as add_json would record it, and refuses an empty fragment.
namespace {
struct tick_rec {
  uint64_t timestamp_ns;
  uint32_t type, cpu;
  uint32_t pid;
};
const leaf::sdk::FieldDesc kTickFields[] = {LEAF_FIELD(tick_rec, pid, U32)};
const leaf::sdk::EventTypeDesc kTickType = {.name = "tick",
                                            .category = leaf::sdk::Category::Process,
                                            .fields = kTickFields,
                                            .field_count = 1,
                                            .fixed_size = sizeof(tick_rec),
                                            .max_size = sizeof(tick_rec),
                                            .key_field = nullptr,
                                            .description = "test"};

class Tagger final : public leaf::sdk::PluginBase<leaf::sdk::IProcessor> {
 public:
  explicit Tagger(leaf::sdk::IHost* host) : PluginBase(host) {}
  leaf::sdk::Status open() noexcept override { return leaf::sdk::Status::Ok; }
  leaf::sdk::Verdict process(const leaf::sdk::EventView*,
                             leaf::sdk::IEventEditor* ed) noexcept override {
    using leaf::sdk::make_view;
    ed->add_json(make_view("first"), make_view("[1,2]"));
    members = ed->add_members(make_view(R"("team":"web","tier":3,"o":{"a":",}\""})"));
    empty = ed->add_members(leaf::sdk::StringView{"", 0});
    bad = ed->add_members(make_view(R"("team":"web",)"));
    return leaf::sdk::Verdict::Keep;
  }
  void read_counters(leaf::sdk::ICounterVisitor*) noexcept override {}
  leaf::sdk::Status reload() noexcept override { return leaf::sdk::Status::Ok; }
  void close() noexcept override {}

  static inline leaf::sdk::Status members = leaf::sdk::Status::Error;
  static inline leaf::sdk::Status empty = leaf::sdk::Status::Ok, bad = leaf::sdk::Status::Ok;
};
LEAF_PLUGIN_DESCRIPTOR(kTagger, Tagger, Processor, "tagger", "1.0.0", "test", nullptr);
}  // namespace

TEST_CASE("TestHost records add_members as add_json would, member by member") {
  TestHost host(&kTagger);
  host.open();
  tick_rec r{};
  r.pid = 7;
  auto out = host.process(kTickType, &r, sizeof(r));
  CHECK(Tagger::members == leaf::sdk::Status::Ok);
  CHECK(Tagger::empty == leaf::sdk::Status::InvalidArgument);
  CHECK(Tagger::bad == leaf::sdk::Status::InvalidArgument);
  CHECK(out.added.size() == 4);
  CHECK(out.added["first"] == "[1,2]");
  CHECK(out.added["team"] == "\"web\"");
  CHECK(out.added["tier"] == "3");
  CHECK(out.added["o"] == R"({"a":",}\""})");
}
