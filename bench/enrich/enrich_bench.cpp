// Prints, measured in one run (absolute numbers are noisy on shared cores):
//  1. the pipeline's ns/event for one process-like event type with the JSON
//     encoding to a null sink: no processor (baseline), the enrich
//     processor (events from a docker-like cgroup, so five fields are
//     added), and filter + enrich + redact as leaf-host runs them;
//  2. CgroupCache::lookup on a hit: the same id again (memo) and alternating
//     ids (hash lookup);
//  3. redaction per command line: the shipped rules with PCRE2's JIT (what
//     the redact processor uses) and the same rules with std::regex.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "config/host_config.hpp"
#include "leaf_event.h"
#include "pipeline/pipeline.hpp"
#include "processors/builtin.hpp"
#include "processors/cgroup_cache.hpp"
#include "processors/redactor.hpp"
#include "runtime/plugin_instance.hpp"

namespace {

using namespace leaf;
using Clock = std::chrono::steady_clock;

struct BenchEvent {
  leaf_event_header hdr;
  uint32_t pid, uid;
  uint64_t cgroup_id;
  leaf_var cmdline;
  char comm[16];
};

const sdk::FieldDesc kFields[] = {
    LEAF_FIELD(BenchEvent, pid, U32),       LEAF_FIELD(BenchEvent, uid, U32),
    LEAF_FIELD(BenchEvent, cgroup_id, U64), LEAF_FIELD(BenchEvent, cmdline, VarChars),
    LEAF_FIELD(BenchEvent, comm, Chars),
};
const sdk::EventTypeDesc kType = {.name = "process_exec",
                                  .category = sdk::Category::Process,
                                  .fields = kFields,
                                  .field_count = 5,
                                  .fixed_size = sizeof(BenchEvent),
                                  .max_size = sizeof(BenchEvent) + 256,
                                  .key_field = nullptr,
                                  .description = "bench"};

// Takes messages and counts bytes: the cost of a sink is not measured here.
class NullSink final : public sdk::ISink {
 public:
  uint64_t bytes = 0;
  const char* last_error() const noexcept override { return ""; }
  void destroy() noexcept override {}
  void* query_interface(sdk::InterfaceId id) noexcept override {
    return id == sdk::ISink::kId ? static_cast<sdk::ISink*>(this) : nullptr;
  }
  sdk::Status open() noexcept override { return sdk::Status::Ok; }
  sdk::Status write(const sdk::SinkMessage* m) noexcept override {
    bytes += m->json.size;
    return sdk::Status::Ok;
  }
  void poll() noexcept override {}
  sdk::Status flush(uint32_t) noexcept override { return sdk::Status::Ok; }
  void read_counters(sdk::ICounterVisitor*) noexcept override {}
  void close() noexcept override {}
  uint32_t healthy() const noexcept override { return 1; }
};

// An editor that appends ,"name":value to one string, as the pipeline's does,
// without its per-event bookkeeping: to time a processor's own work.
class AppendEditor final : public sdk::IEventEditor {
 public:
  std::string extras;
  sdk::Status add_string(sdk::StringView n, sdk::StringView v) noexcept override {
    append(n, v, true);
    return sdk::Status::Ok;
  }
  sdk::Status add_int(sdk::StringView, int64_t) noexcept override { return sdk::Status::Ok; }
  sdk::Status add_uint(sdk::StringView, uint64_t) noexcept override { return sdk::Status::Ok; }
  sdk::Status add_json(sdk::StringView n, sdk::StringView v) noexcept override {
    append(n, v, false);
    return sdk::Status::Ok;
  }
  sdk::Status add_members(sdk::StringView m) noexcept override {
    extras += ',';
    extras.append(m.data, m.size);
    return sdk::Status::Ok;
  }
  sdk::Status replace_string(uint32_t, sdk::StringView) noexcept override {
    return sdk::Status::Ok;
  }
  sdk::Status get_string(uint32_t, sdk::StringView*) const noexcept override {
    return sdk::Status::InvalidArgument;
  }

 private:
  void append(sdk::StringView n, sdk::StringView v, bool quote) {
    extras += ",\"";
    extras.append(n.data, n.size);
    extras += "\":";
    if (quote) extras += '"';
    extras.append(v.data, v.size);
    if (quote) extras += '"';
  }
};

std::vector<uint8_t> make_record(uint64_t cgroup_id, const std::string& cmdline) {
  std::vector<uint8_t> rec(sizeof(BenchEvent) + cmdline.size());
  BenchEvent e{};
  e.hdr.timestamp_ns = 1'000'000'000;
  e.pid = 4242;
  e.uid = 1000;
  e.cgroup_id = cgroup_id;
  e.cmdline = {static_cast<uint16_t>(sizeof(BenchEvent)), static_cast<uint16_t>(cmdline.size())};
  std::strcpy(e.comm, "python3");
  std::memcpy(rec.data(), &e, sizeof(e));
  std::memcpy(rec.data() + sizeof(e), cmdline.data(), cmdline.size());
  return rec;
}

// ns/event through Pipeline::handle_typed with the named built-in processors.
double pipeline_ns(const std::vector<std::string>& processors, const std::vector<uint8_t>& rec,
                   int n) {
  core::Pipeline pipeline("bench-host", {});
  auto types = pipeline.register_types("bench", &kType, sizeof(kType), 1);
  NullSink sink;
  pipeline.add_sink("null", &sink);
  std::vector<std::unique_ptr<core::PluginInstance>> instances;
  for (const auto* d : core::builtin_processors()) {
    bool wanted = false;
    for (const auto& p : processors) wanted |= p == d->name;
    if (!wanted) continue;
    auto lib = core::builtin_library(d);
    auto section = core::validate_plugin_config(d->name, nullptr, lib.options);
    instances.push_back(
        std::make_unique<core::PluginInstance>(std::move(lib), std::move(section), nullptr));
    std::string err;
    if (!instances.back()->create(&err) ||
        instances.back()->processor()->open() != sdk::Status::Ok) {
      std::fprintf(stderr, "%s: %s %s\n", d->name, err.c_str(),
                   instances.back()->last_error().c_str());
      std::exit(1);
    }
    pipeline.add_processor(d->name, instances.back()->processor());
  }
  for (int i = 0; i < 1000; ++i) pipeline.handle_typed("bench", types[0], rec.data(), rec.size());
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) pipeline.handle_typed("bench", types[0], rec.data(), rec.size());
  double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
  pipeline.detach_all();
  if (sink.bytes == 0) std::exit(1);
  return ns;
}

template <class F>
double per_call_ns(int n, F&& f) {
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) f(i);
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
}

std::string strip_inline_icase(std::string r) {
  if (r.rfind("(?i)", 0) == 0) r.erase(0, 4);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const bool only_pipeline = argc > 1 && std::string(argv[1]) == "--pipeline";
  const std::string mount = core::find_cgroup2_mount();
  if (mount.empty()) {
    std::fprintf(stderr, "no cgroup v2 mount\n");
    return 1;
  }
  const std::string id = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
  std::string dir = mount + "/leaf-bench-" + std::to_string(getpid());
  std::string scope = dir + "/docker-" + id + ".scope";
  bool made = ::mkdir(dir.c_str(), 0755) == 0 && ::mkdir(scope.c_str(), 0755) == 0;
  struct stat st {};
  ::stat(made ? scope.c_str() : mount.c_str(), &st);
  std::printf("cgroup v2 at %s; events from %s (cgroup id %llu)\n", mount.c_str(),
              made ? "a docker-like cgroup" : "the root cgroup (not root: no container)",
              static_cast<unsigned long long>(st.st_ino));

  const int n = 2'000'000;
  auto plain = make_record(st.st_ino, "python3 -m http.server 8080 --bind 0.0.0.0");
  std::printf("\n1. pipeline ns/event (encode to a null sink), %d events each\n", n);
  for (int round = 0; round < 2; ++round) {
    double base = pipeline_ns({}, plain, n);
    double enrich = pipeline_ns({"enrich"}, plain, n);
    double all = pipeline_ns({"filter", "enrich", "redact"}, plain, n);
    std::printf(
        "   round %d: baseline %.1f  enrich %.1f (+%.1f)  filter+enrich+redact %.1f (+%.1f)\n",
        round + 1, base, enrich, enrich - base, all, all - base);
  }

  {
    // The enrich processor's process() alone.
    const auto* d = core::builtin_processors()[1];
    auto lib = core::builtin_library(d);
    auto section = core::validate_plugin_config(d->name, nullptr, lib.options);
    core::PluginInstance inst(std::move(lib), std::move(section), nullptr);
    std::string err;
    if (std::string(d->name) != "enrich" || !inst.create(&err) ||
        inst.processor()->open() != sdk::Status::Ok)
      return 1;
    sdk::EventView view{sizeof(sdk::EventView),
                        &kType,
                        plain.data(),
                        static_cast<uint32_t>(plain.size()),
                        1,
                        {"bench", 5}};
    AppendEditor ed;
    ed.extras.reserve(1024);
    auto idle = per_call_ns(n, [&](int) { ed.extras.clear(); });
    auto enrich = per_call_ns(n, [&](int) {
      ed.extras.clear();
      inst.processor()->process(&view, &ed);
    });
    std::printf(
        "   enrich process() alone (cache hit, 5 fields, %zu bytes added): %.1f ns "
        "(loop alone %.1f ns)\n",
        ed.extras.size(), enrich, idle);
  }

  if (!only_pipeline) {
    core::CgroupCache cache(mount, {});
    struct stat root {};
    ::stat(mount.c_str(), &root);
    uint64_t ids[2] = {st.st_ino, root.st_ino};
    volatile size_t sink = 0;
    double memo = per_call_ns(n, [&](int) { sink = sink + cache.lookup(ids[0], 1)->path.size(); });
    double hashed =
        per_call_ns(n, [&](int i) { sink = sink + cache.lookup(ids[i & 1], 1)->path.size(); });
    std::printf("\n2. CgroupCache::lookup hit: same id %.1f ns, alternating ids %.1f ns\n", memo,
                hashed);
  }

  std::vector<std::string> cmdlines = {
      "python3 -m http.server 8080 --bind 0.0.0.0",
      "/usr/bin/java -Xmx2g -Dspring.profiles.active=prod -jar /opt/app/service.jar "
      "--server.port=8443 --logging.level=INFO",
      "mysql -h db.internal -u app --password=hunter2 shop",
      "git clone https://alice:ghp_abcdefghijklmnop@github.com/org/repo.git /src/repo",
      "curl -sS -H Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc "
      "https://api.example.com/v1/items?limit=10&api_key=k123",
  };
  core::Redactor pcre(core::default_redaction_rules(), core::default_rules_gate(),
                      core::default_redaction_rules().size());
  core::Redactor ungated(core::default_redaction_rules());
  std::vector<std::regex> std_rules;
  for (const auto& r : core::default_redaction_rules())
    std_rules.emplace_back(strip_inline_icase(r), std::regex::icase | std::regex::ECMAScript);
  std::printf("\n3. redaction per command line (shipped rules: %zu)\n", pcre.rule_count());
  if (only_pipeline) cmdlines.clear();
  std::printf("   %-6s %-10s %-10s %-11s %s\n", "bytes", "PCRE2+gate", "PCRE2 JIT", "std::regex",
              "result");
  for (const auto& c : cmdlines) {
    std::string out;
    const int m = 200'000;
    double p = per_call_ns(m, [&](int) { pcre.redact(c, &out); });
    double u = per_call_ns(m, [&](int) { ungated.redact(c, &out); });
    std::string shown = pcre.redact(c, &out) ? out : c;
    const int ms = 5'000;
    double s = per_call_ns(ms, [&](int) {
      std::string t = c;
      for (const auto& re : std_rules) {
        std::smatch mm;
        if (std::regex_search(t, mm, re))
          t = mm.prefix().str() + "****";  // a lower bound: one match
      }
      out = t;
    });
    std::printf("   %-6zu %-10.0f %-10.0f %-11.0f %.60s%s\n", c.size(), p, u, s, shown.c_str(),
                shown.size() > 60 ? "..." : "");
  }
  if (made) {
    ::rmdir(scope.c_str());
    ::rmdir(dir.c_str());
  }
  return 0;
}
