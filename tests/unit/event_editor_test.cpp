// IEventEditor::add_members (ABI 2.1): several fields added with one call,
// from a fragment rendered once, through leaf-host's pipeline: the exact
// message a sink gets. (The SDK's TestHost: tests/sdk/test_host_test.cpp.)
#include <doctest/doctest.h>
#include <leaf/sdk/abi.h>

#include <cstring>
#include <string>
#include <vector>

#include "leaf_event.h"
#include "pipeline/pipeline.hpp"

using namespace leaf;
using sdk::Status;

namespace {

struct rec {
  leaf_event_header hdr;
  uint32_t pid;
};
const sdk::FieldDesc kFields[] = {LEAF_FIELD(rec, pid, U32)};
const sdk::EventTypeDesc kType = {.name = "tick",
                                  .category = sdk::Category::Process,
                                  .fields = kFields,
                                  .field_count = 1,
                                  .fixed_size = sizeof(rec),
                                  .max_size = sizeof(rec),
                                  .key_field = nullptr,
                                  .description = "test"};

// Adds `"team":"web","tier":3,...` with one add_members call after an
// add_json, and records what the editor answered to an empty fragment.
class Tagger final : public sdk::IProcessor {
 public:
  Status members_status = Status::Error, empty_status = Status::Ok;
  void* query_interface(sdk::InterfaceId id) noexcept override {
    return id == sdk::IProcessor::kId ? static_cast<sdk::IProcessor*>(this) : nullptr;
  }
  const char* last_error() const noexcept override { return ""; }
  void destroy() noexcept override {}
  Status open() noexcept override { return Status::Ok; }
  sdk::Verdict process(const sdk::EventView*, sdk::IEventEditor* ed) noexcept override {
    ed->add_json(sdk::make_view("first"), sdk::make_view("[1,2]"));
    members_status = ed->add_members(sdk::make_view(R"("team":"web","tier":3,"o":{"a":",}"})"));
    empty_status = ed->add_members(sdk::StringView{"", 0});
    return sdk::Verdict::Keep;
  }
  void read_counters(sdk::ICounterVisitor*) noexcept override {}
  Status reload() noexcept override { return Status::Ok; }
  void close() noexcept override {}
};

class LastMessage final : public sdk::ISink {
 public:
  std::string json;
  void* query_interface(sdk::InterfaceId id) noexcept override {
    return id == sdk::ISink::kId ? static_cast<sdk::ISink*>(this) : nullptr;
  }
  const char* last_error() const noexcept override { return ""; }
  void destroy() noexcept override {}
  Status open() noexcept override { return Status::Ok; }
  Status write(const sdk::SinkMessage* m) noexcept override {
    json.assign(m->json.data, m->json.size);
    return Status::Ok;
  }
  void poll() noexcept override {}
  Status flush(uint32_t) noexcept override { return Status::Ok; }
  void read_counters(sdk::ICounterVisitor*) noexcept override {}
  void close() noexcept override {}
  uint32_t healthy() const noexcept override { return 1; }
};

}  // namespace

TEST_CASE("add_members: the pipeline writes the members after the earlier edits, in order") {
  core::Pipeline pipeline("h", {});
  LastMessage sink;
  Tagger tagger;
  pipeline.add_sink("last", &sink);
  pipeline.add_processor("tagger", &tagger);
  auto types = pipeline.register_types("test", &kType, sizeof(kType), 1);
  rec r{};
  r.hdr.timestamp_ns = 5;
  r.pid = 42;
  REQUIRE(pipeline.handle("test", types, reinterpret_cast<const uint8_t*>(&r), sizeof(r)));
  CHECK(tagger.members_status == Status::Ok);
  CHECK(tagger.empty_status == Status::InvalidArgument);
  const std::string tail =
      R"("data":{"type":"tick","pid":42,"first":[1,2],"team":"web","tier":3,"o":{"a":",}"}}})";
  REQUIRE(sink.json.size() > tail.size());
  CHECK(sink.json.substr(sink.json.size() - tail.size()) == tail);
  pipeline.detach_all();
}
