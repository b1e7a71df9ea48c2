// Example Leaf processor plugin, built against the installed SDK only: it
// tags every event that has a `comm` field with the team owning that
// command (data.team), from a table in conf.d/team_tag.toml, and can drop
// the events of commands no team owns. Counts what it tagged and dropped.
//
//   # conf.d/team_tag.toml
//   teams = ["nginx=web", "postgres=db"]
//   drop_unknown = false
#include <cstring>
#include <leaf/sdk/plugin.hpp>
#include <map>
#include <string>

namespace {

using namespace leaf::sdk;

const ConfigOption kOptions[] = {
    {"teams", OptionType::StringList, "[]", 0, 0, nullptr,
     "\"comm=team\" pairs: events of this command get data.team"},
    {"drop_unknown", OptionType::Bool, "false", 0, 0, nullptr,
     "drop events with a comm that no team owns (events without comm pass)"},
};

class TeamTag final : public PluginBase<IProcessor> {
 public:
  explicit TeamTag(IHost* host) : PluginBase(host) {}

  Status open() noexcept override {
    return guarded([&] { configure(); });
  }
  Status reload() noexcept override {
    return guarded([&] { configure(); });
  }
  void close() noexcept override {}

  // The dispatcher thread, every event: no allocation on the common path
  // but the map lookup's key.
  Verdict process(const EventView* event, IEventEditor* editor) noexcept override {
    int comm = comm_field(*event->type);
    if (comm < 0) return Verdict::Keep;
    StringView text{};
    if (editor->get_string(static_cast<uint32_t>(comm), &text) != Status::Ok) return Verdict::Keep;
    try {
      auto it = teams_.find(to_string(text));
      if (it != teams_.end()) {
        ++tagged_;
        editor->add_string(make_view("team"), view(it->second));
        return Verdict::Keep;
      }
    } catch (...) {
      return Verdict::Keep;
    }
    if (!drop_unknown_) return Verdict::Keep;
    ++dropped_;
    return Verdict::Drop;
  }

  void read_counters(ICounterVisitor* v) noexcept override {
    v->counter(make_view("team_tag_tagged_total"), make_view(""), tagged_);
    v->counter(make_view("team_tag_dropped_total"), make_view(""), dropped_);
  }

 private:
  void configure() {
    std::map<std::string, std::string> teams;
    for (const auto& pair : cfg_strings("teams")) {
      auto eq = pair.find('=');
      if (eq == 0 || eq == std::string::npos || eq + 1 == pair.size())
        throw PluginError("teams: '" + pair + "' is not comm=team", Status::InvalidConfig);
      teams[pair.substr(0, eq)] = pair.substr(eq + 1);
    }
    teams_ = std::move(teams);
    drop_unknown_ = cfg_bool("drop_unknown");
  }

  // Index of the type's `comm` field, or -1. Host tables are read with
  // field_at(): their rows may be larger than this SDK's FieldDesc.
  static int comm_field(const EventTypeDesc& type) {
    for (uint32_t i = 0; i < type.field_count; ++i)
      if (std::strcmp(field_at(type, i).name, "comm") == 0) return static_cast<int>(i);
    return -1;
  }

  std::map<std::string, std::string> teams_;
  bool drop_unknown_ = false;
  uint64_t tagged_ = 0, dropped_ = 0;
};

}  // namespace

LEAF_PLUGIN(TeamTag, Processor, "team_tag", "1.0.0",
            "Example processor: data.team from the event's comm; drops unknown commands on request",
            kOptions)
