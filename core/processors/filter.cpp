#include "processors/filter.hpp"

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
    {"drop_types", OptionType::StringList, "[]", 0, 0, nullptr,
     "event types to drop (data.type: \"process_fork\", \"tcp_close\"...)", sdk::kOptionLive},
    {"drop_uids", OptionType::IntList, "[]", 0, 4294967295, nullptr,
     "drop events of processes with these uids", sdk::kOptionLive},
    {"drop_comms", OptionType::StringList, "[]", 0, 0, nullptr,
     "drop events of processes with exactly this comm (at most 15 characters)", sdk::kOptionLive},
    {"drop_comm_prefixes", OptionType::StringList, "[]", 0, 0, nullptr,
     "drop events of processes whose comm starts with one of these", sdk::kOptionLive},
    {"containers", OptionType::String, "\"all\"", 0, 0, "all|only|host",
     "keep events of every process, of processes in containers only, or on the host only",
     sdk::kOptionLive},
    {"container_ids", OptionType::StringList, "[]", 0, 0, nullptr,
     "when not empty: keep only events of these containers (short or full ids)", sdk::kOptionLive},
};

// Rule names, the labels of the filter_dropped counter.
enum Rule { kType, kUid, kComm, kCommPrefix, kContainer, kRuleCount };
constexpr const char* kRuleNames[kRuleCount] = {"type", "uid", "comm", "comm_prefix", "container"};

// What the rules need from one event type: indexes, -1 when absent.
struct TypeRules {
  bool drop_all = false;
  int uid = -1, comm = -1, cgroup_id = -1;
};

bool is_hex_id(const std::string& s) {
  if (s.size() < 12 || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

class FilterProcessor final : public sdk::PluginBase<sdk::IProcessor> {
 public:
  explicit FilterProcessor(sdk::IHost* host) : PluginBase(host) {}

  Status open() noexcept override {
    return guarded([&] { apply(read_rules()); });
  }

  sdk::Verdict process(const sdk::EventView* ev, sdk::IEventEditor*) noexcept override {
    const auto& tr = types_.get(ev->type, [&](const sdk::EventTypeDesc& t) { return compile(t); });
    const sdk::FieldDesc* f = ev->type->fields;
    if (tr.drop_all) return drop(kType);
    if (tr.uid >= 0 && !rules_.drop_uids.empty() &&
        rules_.drop_uids.count(static_cast<uint32_t>(read_unsigned(ev->record, f[tr.uid]))))
      return drop(kUid);
    if (tr.comm >= 0 && (!rules_.drop_comms.empty() || !rules_.drop_comm_prefixes.empty())) {
      std::string_view comm = chars_text(ev->record, f[tr.comm]);
      if (rules_.drop_comms.count(comm)) return drop(kComm);
      for (const auto& p : rules_.drop_comm_prefixes)
        if (comm.substr(0, p.size()) == p) return drop(kCommPrefix);
    }
    if (tr.cgroup_id >= 0 && cache_) {
      uint64_t id = read_unsigned(ev->record, f[tr.cgroup_id]);
      if (id != 0 && !container_allowed(id, ev->timestamp_ns)) return drop(kContainer);
    }
    return sdk::Verdict::Keep;
  }

  void read_counters(sdk::ICounterVisitor* v) noexcept override {
    for (int r = 0; r < kRuleCount; ++r)
      v->counter(sdk::make_view("filter_dropped_total"), sdk::make_view(kRuleNames[r]),
                 dropped_[r]);
  }

  Status reload() noexcept override {
    return guarded([&] { apply(read_rules()); });
  }

  void close() noexcept override {}

 private:
  sdk::Verdict drop(Rule r) {
    ++dropped_[r];
    return sdk::Verdict::Drop;
  }

  bool container_allowed(uint64_t cgroup_id, uint64_t now_ns) {
    const CgroupEntry* e;
    try {
      e = cache_->lookup(cgroup_id, now_ns);
    } catch (...) {
      return true;
    }
    if (!e->resolved) return true;  // unknown: not judged
    const std::string& id = e->container.id;
    using C = FilterRules::Containers;
    if (rules_.containers == C::Only && id.empty()) return false;
    if (rules_.containers == C::Host && !id.empty()) return false;
    if (!rules_.container_ids.empty()) {
      if (id.empty()) return false;
      for (const auto& want : rules_.container_ids)
        if (id.compare(0, want.size(), want) == 0) return true;
      return false;
    }
    return true;
  }

  TypeRules compile(const sdk::EventTypeDesc& t) const {
    TypeRules tr;
    tr.drop_all = rules_.drop_types.count(std::string_view(t.name)) > 0;
    int i = field_index(t, "uid");
    if (i >= 0 && is_unsigned(t.fields[i])) tr.uid = i;
    i = field_index(t, "comm");
    if (i >= 0 && t.fields[i].type == sdk::FieldType::Chars) tr.comm = i;
    i = field_index(t, "cgroup_id");
    if (i >= 0 && t.fields[i].type == sdk::FieldType::U64 && t.fields[i].size == 8)
      tr.cgroup_id = i;
    return tr;
  }

  // Reads and checks the rules; throws PluginError(InvalidConfig) naming the key.
  FilterRules read_rules() const {
    auto bad = [](const std::string& key, const std::string& why) {
      return sdk::PluginError("key '" + key + "': " + why, Status::InvalidConfig);
    };
    FilterRules r;
    for (auto& t : cfg_strings("drop_types")) {
      if (t.empty()) throw bad("drop_types", "an empty event type");
      r.drop_types.insert(t);
    }
    for (int64_t u : cfg_ints("drop_uids")) r.drop_uids.insert(static_cast<uint32_t>(u));
    for (auto& c : cfg_strings("drop_comms")) {
      if (c.empty() || c.size() > 15)
        throw bad("drop_comms", "'" + c + "' cannot be a comm (1 to 15 characters)");
      r.drop_comms.insert(c);
    }
    for (auto& c : cfg_strings("drop_comm_prefixes")) {
      if (c.empty() || c.size() > 15)
        throw bad("drop_comm_prefixes", "'" + c + "' cannot start a comm (1 to 15 characters)");
      r.drop_comm_prefixes.push_back(c);
    }
    std::string mode = cfg_string("containers");
    r.containers = mode == "only"   ? FilterRules::Containers::Only
                   : mode == "host" ? FilterRules::Containers::Host
                                    : FilterRules::Containers::All;
    for (auto& id : cfg_strings("container_ids")) {
      if (!is_hex_id(id))
        throw bad("container_ids", "'" + id + "' is not a container id (12 to 64 hex digits)");
      r.container_ids.push_back(id);
    }
    if (r.container_ids.size() && r.containers == FilterRules::Containers::Host)
      throw bad("container_ids", "a container list contradicts containers = \"host\"");
    return r;
  }

  // Takes the checked rules (nothing can fail after the cache is there).
  void apply(FilterRules r) {
    if (r.needs_cgroups() && !cache_) {
      try {
        cache_ = shared_cgroup_cache();
      } catch (const std::exception& e) {
        throw sdk::PluginError(std::string("container filters need cgroup v2: ") + e.what(),
                               Status::InvalidConfig);
      }
    }
    rules_ = std::move(r);
    types_.clear();
  }

  FilterRules rules_;
  PerType<TypeRules> types_;
  std::shared_ptr<CgroupCache> cache_;
  uint64_t dropped_[kRuleCount] = {};
};

LEAF_PLUGIN_DESCRIPTOR(kDescriptor, FilterProcessor, Processor, "filter", "1.0.0",
                       "drops events by type, uid, comm and container", kOptions);

}  // namespace

const sdk::PluginDescriptor* filter_descriptor() { return &kDescriptor; }

}  // namespace leaf::core
