// The schema of leaf_process, checked without the kernel: every field lies
// inside its record's fixed part with the size of its C member, the names
// are SPEC.md §2's, and the declared options have sane defaults.
#include "process_schema.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "process.h"
#include "process_options.hpp"

using leaf::process::kOptions;
using leaf::process::kTypeCount;
using leaf::process::kTypes;
using leaf::sdk::FieldType;

namespace {

const leaf::sdk::EventTypeDesc& type_named(const std::string& name) {
  for (uint32_t i = 0; i < kTypeCount; ++i)
    if (name == kTypes[i].name) return kTypes[i];
  FAIL("no event type " << name);
  return kTypes[0];
}

std::set<std::string> field_names(const leaf::sdk::EventTypeDesc& t) {
  std::set<std::string> out;
  for (uint32_t i = 0; i < t.field_count; ++i) out.insert(t.fields[i].name);
  return out;
}

}  // namespace

TEST_CASE("event types are indexed by process_event_type") {
  REQUIRE(kTypeCount == PROCESS_EVENT_TYPES);
  CHECK(std::string(kTypes[PROCESS_EVENT_EXEC].name) == "process_exec");
  CHECK(std::string(kTypes[PROCESS_EVENT_FORK].name) == "process_fork");
  CHECK(std::string(kTypes[PROCESS_EVENT_EXIT].name) == "process_exit");
  for (uint32_t i = 0; i < kTypeCount; ++i)
    CHECK(kTypes[i].category == leaf::sdk::Category::Process);
}

TEST_CASE("every SPEC.md field is declared") {
  const std::vector<std::string> exec = {
      "pid",      "tgid", "ppid", "uid", "gid", "comm", "filename", "cmdline", "cmdline_truncated",
      "cgroup_id"};
  const std::vector<std::string> fork = {"pid", "tgid", "ppid", "parent_tgid", "comm", "is_thread"};
  const std::vector<std::string> exit = {"pid",       "tgid",    "ppid",       "comm",
                                         "exit_code", "signal",  "utime_ns",   "stime_ns",
                                         "min_flt",   "maj_flt", "duration_ns"};
  auto has_all = [](const char* type, const std::vector<std::string>& names) {
    auto declared = field_names(type_named(type));
    for (const auto& n : names) CHECK_MESSAGE(declared.count(n) == 1, type << " lacks " << n);
  };
  has_all("process_exec", exec);
  has_all("process_fork", fork);
  has_all("process_exit", exit);
  // Enrichment finds the process by these names.
  for (uint32_t i = 0; i < kTypeCount; ++i) {
    auto declared = field_names(kTypes[i]);
    CHECK(declared.count("cgroup_id") == 1);
  }
}

TEST_CASE("fields lie inside the fixed part, once each, without overlap") {
  for (uint32_t t = 0; t < kTypeCount; ++t) {
    const auto& type = kTypes[t];
    CAPTURE(type.name);
    CHECK(type.fixed_size >= sizeof(leaf_event_header));
    CHECK(type.max_size >= type.fixed_size);
    CHECK(type.max_size <= 0xffff);
    std::set<std::string> seen;
    std::vector<bool> used(type.fixed_size, false);
    bool has_var = false;
    for (uint32_t i = 0; i < type.field_count; ++i) {
      const auto& f = type.fields[i];
      CAPTURE(f.name);
      CHECK(seen.insert(f.name).second);
      CHECK(f.offset >= sizeof(leaf_event_header));
      CHECK(f.offset + f.size <= type.fixed_size);
      for (uint32_t b = f.offset; b < f.offset + f.size && b < type.fixed_size; ++b) {
        CHECK_FALSE(used[b]);
        used[b] = true;
      }
      if (f.type == FieldType::VarChars) {
        has_var = true;
        CHECK(f.size == sizeof(leaf_var));
      }
      if (f.type == FieldType::U32 || f.type == FieldType::I32) CHECK(f.size == 4);
      if (f.type == FieldType::U64 || f.type == FieldType::DurationNs) CHECK(f.size == 8);
      if (f.type == FieldType::Chars) CHECK(f.size == PROCESS_COMM_LEN);
    }
    // Only records with a variable tail may be longer than their fixed part.
    CHECK(has_var == (type.max_size > type.fixed_size));
  }
}

TEST_CASE("exec record: the largest tail fits the declared maximum") {
  const auto& exec = type_named("process_exec");
  CHECK(exec.fixed_size == sizeof(process_exec_event));
  CHECK(exec.max_size == sizeof(process_exec_event) + PROCESS_CMDLINE_MAX + PROCESS_FILENAME_MAX);
  CHECK(sizeof(process_exec_event) % 8 == 0);  // the command line starts 8-aligned
  CHECK(type_named("process_fork").fixed_size == sizeof(process_fork_event));
  CHECK(type_named("process_exit").fixed_size == sizeof(process_exit_event));
}

TEST_CASE("SPEC types: integers, booleans and text where consumers expect them") {
  auto type_of = [](const char* event, const char* field) {
    const auto& t = type_named(event);
    for (uint32_t i = 0; i < t.field_count; ++i)
      if (std::strcmp(t.fields[i].name, field) == 0) return t.fields[i].type;
    return FieldType{};
  };
  CHECK(type_of("process_exec", "cmdline_truncated") == FieldType::Bool);
  CHECK(type_of("process_exec", "filename") == FieldType::VarChars);
  CHECK(type_of("process_exec", "cmdline") == FieldType::VarChars);
  CHECK(type_of("process_fork", "is_thread") == FieldType::Bool);
  CHECK(type_of("process_exit", "exit_code") == FieldType::I32);
  CHECK(type_of("process_exit", "duration_ns") == FieldType::DurationNs);
  CHECK(type_of("process_exec", "cgroup_id") == FieldType::U64);
}

TEST_CASE("options: documented, unique, defaults within bounds") {
  std::set<std::string> keys;
  for (const auto& o : kOptions) {
    CAPTURE(o.key);
    CHECK(keys.insert(o.key).second);
    CHECK(o.doc != nullptr);
    CHECK(o.default_value != nullptr);
    if (o.type == leaf::sdk::OptionType::Int) {
      long long v = std::stoll(o.default_value);
      CHECK(v >= o.min);
      CHECK(v <= o.max);
    }
  }
  for (const char* k : {"events.exec", "events.fork", "events.exit", "thread_events", "cmdline_max",
                        "ring_buffer_size", "proc_table_size", "hooks.skip"})
    CHECK(keys.count(k) == 1);
}
