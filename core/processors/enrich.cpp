#include "processors/enrich.hpp"

#include <leaf/sdk/plugin.hpp>

#include "processors/cgroup_cache.hpp"
#include "processors/event_fields.hpp"

namespace leaf::core {

namespace {

using sdk::ConfigOption;
using sdk::OptionType;
using sdk::Status;
using sdk::StringView;

const ConfigOption kOptions[] = {
    {"cgroup_root", OptionType::String, "\"\"", 0, 0, nullptr,
     "cgroup v2 mount point; empty: found in /proc/self/mountinfo (/sys/fs/cgroup/unified on "
     "hybrid hosts)"},
    {"cgroup_path", OptionType::String, "\"all\"", 0, 0, "all|containers|never",
     "add cgroup_path to events of every process, of processes in containers only, or never",
     sdk::kOptionLive},
    {"cache_size", OptionType::Int, "8192", 16, 1 << 20, nullptr,
     "cgroups remembered (id -> path and container); the oldest go when full", sdk::kOptionLive},
    {"sweep_interval", OptionType::Duration, "\"30s\"", 1'000'000, 3600'000'000'000, nullptr,
     "how often removed cgroups are looked for and forgotten", sdk::kOptionLive},
};

enum class PathMode { All, Containers, Never };

struct TypeFields {
  int cgroup_id = -1;  // index of a u64 `cgroup_id` field, -1: none
};

StringView sv(const std::string& s) { return StringView{s.data(), s.size()}; }

class EnrichProcessor final : public sdk::PluginBase<sdk::IProcessor> {
 public:
  explicit EnrichProcessor(sdk::IHost* host) : PluginBase(host) {}

  Status open() noexcept override {
    return guarded([&] {
      Config c = read_config();
      cache_ = shared_cgroup_cache(c.root);
      apply(c);
      log(sdk::LogLevel::Info, "enrich: cgroup v2 at " + cache_->resolver().mount());
    });
  }

  sdk::Verdict process(const sdk::EventView* ev, sdk::IEventEditor* ed) noexcept override {
    const auto& tf = types_.get(ev->type, [](const sdk::EventTypeDesc& t) {
      TypeFields f;
      int i = field_index(t, "cgroup_id");
      if (i >= 0 && t.fields[i].type == sdk::FieldType::U64 && t.fields[i].size == 8)
        f.cgroup_id = i;
      return f;
    });
    if (tf.cgroup_id < 0) return sdk::Verdict::Keep;
    uint64_t id;
    std::memcpy(&id, ev->record + ev->type->fields[tf.cgroup_id].offset, sizeof(id));
    if (id == 0) return sdk::Verdict::Keep;  // not attributed to a process
    try {
      const CgroupEntry* e = cache_->lookup(id, ev->timestamp_ns);
      if (!e->resolved) return sdk::Verdict::Keep;
      const bool in_container = !e->container.id.empty();
      // Rendered once per cgroup (cgroup_cache.hpp), added with one call.
      const bool with_path =
          path_mode_ == PathMode::All || (path_mode_ == PathMode::Containers && in_container);
      const std::string& m = with_path ? e->json.members_with_path : e->json.members_without_path;
      if (!m.empty()) ed->add_members(sv(m));
    } catch (...) {
      ++errors_;  // enrichment is best effort: the event goes on without it
    }
    return sdk::Verdict::Keep;
  }

  void read_counters(sdk::ICounterVisitor* v) noexcept override {
    if (!cache_) return;
    const auto& s = cache_->stats();
    auto c = [&](const char* name, uint64_t value) {
      v->counter(sdk::make_view(name), StringView{"", 0}, value);
    };
    c("enrich_cache_hits_total", s.hits);
    c("enrich_cache_misses_total", s.misses);
    c("enrich_cgroups_resolved_total", s.resolved);
    c("enrich_cgroups_unresolved_total", s.unresolved);
    c("enrich_cgroups_removed_total", s.removed);
    c("enrich_cgroups_evicted_total", s.evicted);
    c("enrich_errors_total", errors_);
    v->gauge(sdk::make_view("enrich_cache_entries"), StringView{"", 0},
             static_cast<int64_t>(cache_->size()));
  }

  Status reload() noexcept override {
    Config c;
    Status st = guarded([&] { c = read_config(); });
    if (st != Status::Ok) return st;
    if (cache_ && !c.root.empty() && c.root != cache_->resolver().mount()) {
      error_ = "cgroup_root changes take effect at restart (running on " +
               cache_->resolver().mount() + ")";
      return Status::InvalidConfig;
    }
    apply(c);
    return Status::Ok;
  }

  void close() noexcept override {}

 private:
  struct Config {
    std::string root;
    PathMode path_mode = PathMode::All;
    size_t cache_size = 8192;
    uint64_t sweep_ns = 0;
  };

  Config read_config() const {
    Config c;
    c.root = cfg_string("cgroup_root");
    std::string mode = cfg_string("cgroup_path");
    c.path_mode = mode == "never"        ? PathMode::Never
                  : mode == "containers" ? PathMode::Containers
                                         : PathMode::All;
    c.cache_size = static_cast<size_t>(cfg_int("cache_size"));
    c.sweep_ns = static_cast<uint64_t>(cfg_int("sweep_interval"));
    return c;
  }

  void apply(const Config& c) {
    path_mode_ = c.path_mode;
    cache_->set_options({c.cache_size, c.sweep_ns});
  }

  std::shared_ptr<CgroupCache> cache_;
  PathMode path_mode_ = PathMode::All;
  PerType<TypeFields> types_;
  uint64_t errors_ = 0;
};

LEAF_PLUGIN_DESCRIPTOR(
    kDescriptor, EnrichProcessor, Processor, "enrich", "1.0.0",
    "adds cgroup_path, container_id, container_full_id, container_runtime and pod_uid", kOptions);

}  // namespace

const sdk::PluginDescriptor* enrich_descriptor() { return &kDescriptor; }

}  // namespace leaf::core
