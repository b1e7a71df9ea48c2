// Unit test of the team_tag example with the SDK's TestHost: no leaf-host,
// no root. Exits 0 when every check holds; prints each failure.
#include <leaf/sdk/schema.h>

#include <cstdio>
#include <cstring>
#include <leaf/sdk/testing/test_host.hpp>
#include <stdexcept>
#include <string>

#include "leaf_event.h"

namespace {

using namespace leaf::sdk;
using leaf::sdk::testing::TestHost;

int failures = 0;
#define EXPECT(cond)                                                          \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                             \
    }                                                                         \
  } while (0)

// A record as a probe would write it: header, pid, comm.
struct exec_event {
  leaf_event_header hdr;
  uint32_t pid;
  char comm[16];
};
const FieldDesc kFields[] = {LEAF_FIELD(exec_event, pid, U32), LEAF_FIELD(exec_event, comm, Chars)};
const EventTypeDesc kExec =
    fixed_event_type<exec_event>("exec", Category::Process, kFields, "test");
const FieldDesc kNoCommFields[] = {LEAF_FIELD(exec_event, pid, U32)};
const EventTypeDesc kNoComm =
    fixed_event_type<exec_event>("other", Category::Process, kNoCommFields, "test");

exec_event event(const char* comm) {
  exec_event e{};
  e.pid = 42;
  std::strncpy(e.comm, comm, sizeof(e.comm) - 1);
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s path/to/leaf_team_tag.so\n", argv[0]);
    return 2;
  }
  const std::string so = argv[1];
  {
    TestHost host(so, {{"teams", R"(["nginx=web", "postgres=db"])"}, {"drop_unknown", "true"}});
    host.open();
    exec_event nginx = event("nginx"), bash = event("bash");
    auto tagged = host.process(kExec, &nginx, sizeof(nginx));
    EXPECT(tagged.verdict == Verdict::Keep);
    EXPECT(tagged.added.size() == 1 && tagged.added["team"] == "\"web\"");
    auto dropped = host.process(kExec, &bash, sizeof(bash));
    EXPECT(dropped.verdict == Verdict::Drop);
    EXPECT(dropped.added.empty());
    auto untouched = host.process(kNoComm, &bash, sizeof(bash));
    EXPECT(untouched.verdict == Verdict::Keep && untouched.added.empty());
    auto counters = host.counters();
    EXPECT(counters["team_tag_tagged_total"] == 1);
    EXPECT(counters["team_tag_dropped_total"] == 1);
  }
  {
    TestHost host(so, {{"teams", R"(["nginx"])"}});
    bool refused = false;
    try {
      host.open();
    } catch (const std::runtime_error& e) {
      refused = std::string(e.what()).find("'nginx' is not comm=team") != std::string::npos;
    }
    EXPECT(refused);
  }
  if (failures) return 1;
  std::printf("team_tag: all checks passed\n");
  return 0;
}
