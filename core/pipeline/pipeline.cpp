#include "pipeline/pipeline.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "leaf_event.h"
#include "pipeline/json_writer.hpp"
#include "plugins/abi_tables.hpp"

namespace leaf::core {

using sdk::Status;
using sdk::StringView;

namespace {
std::string_view sv(StringView v) { return {v.data, static_cast<size_t>(v.size)}; }
}  // namespace

// IEventEditor over the pipeline's per-event EventEdits.
class Pipeline::Editor final : public sdk::IEventEditor {
 public:
  EventEdits edits;
  const sdk::EventTypeDesc* type = nullptr;
  const uint8_t* record = nullptr;

  Status add_string(StringView name, StringView value) noexcept override {
    return add([&](JsonWriter& w) { w.string(sv(value)); }, name);
  }
  Status add_int(StringView name, int64_t value) noexcept override {
    return add([&](JsonWriter& w) { w.i64(value); }, name);
  }
  Status add_uint(StringView name, uint64_t value) noexcept override {
    return add([&](JsonWriter& w) { w.u64(value); }, name);
  }
  Status add_json(StringView name, StringView json) noexcept override {
    if (json.size == 0) return Status::InvalidArgument;
    return add([&](JsonWriter& w) { w.raw(sv(json)); }, name);
  }
  Status add_members(StringView members) noexcept override {
    if (members.size == 0) return Status::InvalidArgument;
    try {
      edits.extras += ',';
      edits.extras.append(members.data, members.size);
      return Status::Ok;
    } catch (...) {
      return Status::Error;
    }
  }
  Status replace_string(uint32_t field, StringView value) noexcept override {
    if (!type || field >= type->field_count) return Status::InvalidArgument;
    auto t = type->fields[field].type;
    if (t != sdk::FieldType::Chars && t != sdk::FieldType::VarChars) return Status::InvalidArgument;
    try {
      for (auto& [i, s] : edits.replaced)
        if (i == field) {
          s.assign(value.data, value.size);
          return Status::Ok;
        }
      edits.replaced.emplace_back(field, std::string(value.data, value.size));
      return Status::Ok;
    } catch (...) {
      return Status::Error;
    }
  }
  Status get_string(uint32_t field, StringView* out) const noexcept override {
    if (!type || !out || field >= type->field_count) return Status::InvalidArgument;
    if (const std::string* r = edits.replacement(field)) {
      *out = StringView{r->data(), r->size()};
      return Status::Ok;
    }
    const auto& f = type->fields[field];
    const uint8_t* p = record + f.offset;
    if (f.type == sdk::FieldType::Chars) {
      const void* nul = std::memchr(p, 0, f.size);
      *out = StringView{reinterpret_cast<const char*>(p),
                        nul ? static_cast<uint64_t>(static_cast<const uint8_t*>(nul) - p) : f.size};
      return Status::Ok;
    }
    if (f.type == sdk::FieldType::VarChars) {
      leaf_var v;
      std::memcpy(&v, p, sizeof(v));
      *out = StringView{reinterpret_cast<const char*>(record) + v.offset, v.length};
      return Status::Ok;
    }
    return Status::InvalidArgument;
  }

 private:
  template <class F>
  Status add(F&& write_value, StringView name) noexcept {
    if (name.size == 0) return Status::InvalidArgument;
    try {
      JsonWriter w(edits.extras);
      w.raw(',');
      w.key(sv(name));
      write_value(w);
      return Status::Ok;
    } catch (...) {
      return Status::Error;
    }
  }
};

Pipeline::Pipeline(std::string hostname, std::vector<std::string> metadata)
    : hostname_(std::move(hostname)), editor_(std::make_unique<Editor>()) {
  JsonWriter(hostname_json_).escape(hostname_);
  if (!metadata.empty()) {
    JsonWriter w(metadata_json_);
    w.raw("\"metadata\":{");
    bool first = true;
    for (const auto& kv : metadata) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw std::invalid_argument("metadata entry '" + kv + "' is not key=value");
      if (!first) w.raw(',');
      first = false;
      w.key(kv.substr(0, eq));
      w.string(kv.substr(eq + 1));
    }
    w.raw('}');
  }
}

Pipeline::~Pipeline() = default;

std::vector<TypeInfo> Pipeline::register_types(const std::string& plugin,
                                               const sdk::EventTypeDesc* types, uint32_t type_size,
                                               uint32_t count) {
  if (count > LEAF_MAX_EVENT_TYPES)
    throw std::invalid_argument(plugin + ": more than " + std::to_string(LEAF_MAX_EVENT_TYPES) +
                                " event types");
  std::vector<TypeInfo> out;
  if (count && type_size < kMinTypeSize)
    throw std::invalid_argument(plugin + ": event type rows of " + std::to_string(type_size) +
                                " bytes, ABI 2.0 rows have " + std::to_string(kMinTypeSize));
  for (uint32_t i = 0; i < count; ++i) {
    std::unique_ptr<OwnedType> owned;
    try {
      owned = read_type(type_at(types, type_size, i));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(plugin + ": " + e.what());
    }
    owned_types_.push_back(std::move(owned));
    const auto& t = owned_types_.back()->desc;
    if (std::string err = validate_schema(t); !err.empty())
      throw std::invalid_argument(plugin + ": " + err);
    TypeInfo info;
    info.desc = &t;
    compiled_.push_back(std::make_unique<CompiledType>(compile_type(t)));
    info.compiled = compiled_.back().get();
    info.key = key_rule(t);
    // Reuse the stats of a type registered before (a plugin with two rings).
    for (auto& s : stats_)
      if (s->plugin == plugin && s->type == t.name) info.stats = s.get();
    if (!info.stats) {
      stats_.push_back(std::make_unique<TypeStats>());
      stats_.back()->plugin = plugin;
      stats_.back()->type = t.name;
      stats_.back()->category = t.category;
      info.stats = stats_.back().get();
    }
    out.push_back(info);
  }
  return out;
}

void Pipeline::add_processor(std::string name, sdk::IProcessor* p, size_t at) {
  at = std::min(at, processors_.size());
  processors_.insert(processors_.begin() + static_cast<std::ptrdiff_t>(at), {std::move(name), p});
}

size_t Pipeline::processor_index(const sdk::IProcessor* p) const {
  for (size_t i = 0; i < processors_.size(); ++i)
    if (processors_[i].processor == p) return i;
  return SIZE_MAX;
}

void Pipeline::add_sink(std::string name, sdk::ISink* s) {
  sinks_.push_back(std::make_unique<SinkEntry>());
  sinks_.back()->name = std::move(name);
  sinks_.back()->sink = s;
}

bool Pipeline::handle(const std::string& plugin, const std::vector<TypeInfo>& types,
                      const uint8_t* record, uint32_t size) {
  if (size < sizeof(leaf_event_header)) {
    count_unknown_type();
    return false;
  }
  uint16_t type_index;
  std::memcpy(&type_index, record + offsetof(leaf_event_header, type), sizeof(type_index));
  if (type_index >= types.size()) {
    count_unknown_type();
    return false;
  }
  return handle_typed(plugin, types[type_index], record, size);
}

bool Pipeline::handle_typed(const std::string& plugin, const TypeInfo& info, const uint8_t* record,
                            uint32_t size) {
  const sdk::EventTypeDesc& t = *info.desc;
  if (size < sizeof(leaf_event_header)) {
    bump(info.stats->malformed);
    return false;
  }
  if (!record_fits(t, record, size)) {
    bump(info.stats->malformed);
    return false;
  }

  uint64_t mono;
  std::memcpy(&mono, record, sizeof(mono));
  const int64_t offset = clock_.offset();

  EventEdits* edits = nullptr;
  if (!processors_.empty()) {
    editor_->edits.clear();
    editor_->type = &t;
    editor_->record = record;
    sdk::EventView view{sizeof(sdk::EventView),
                        &t,
                        record,
                        size,
                        mono + offset,
                        StringView{plugin.data(), plugin.size()}};
    for (auto& p : processors_) {
      if (p.processor->process(&view, editor_.get()) == sdk::Verdict::Drop) {
        bump(info.stats->filtered);
        return true;
      }
    }
    edits = &editor_->edits;
  }

  EncodeContext ctx{hostname_json_, offset, metadata_json_};
  size_t bound = encode_bound(*info.compiled, size, ctx, edits);
  if (bound > out_capacity_) {
    out_capacity_ = std::max<size_t>(bound, 2 * out_capacity_);
    out_ = std::make_unique<char[]>(out_capacity_);
  }
  std::string_view encoded_key;  // found inside the JSON when the key field is not a string
  size_t len =
      encode_to(out_.get(), *info.compiled, record, ctx, edits, info.key.field, &encoded_key);
  std::string_view key =
      message_key(info.key, t, record, size, offset, edits, encoded_key, hostname_, key_);

  sdk::SinkMessage msg{sizeof(sdk::SinkMessage),
                       t.category,
                       StringView{t.name, info.compiled->name_size},
                       StringView{key.data(), key.size()},
                       StringView{out_.get(), len},
                       mono + offset};
  bool accepted = false;
  for (auto& s : sinks_) {
    if (s->sink->write(&msg) == Status::Ok) {
      bump(s->accepted);
      accepted = true;
    } else {
      bump(s->rejected);
    }
  }
  // metrics: a bucket increment per event, a clock read per 16 events.
  if (accepted) info.stats->latency.observe(latency_now_.now() - static_cast<int64_t>(mono));
  bump(info.stats->events);
  bump(events_total_);
  return true;
}

void Pipeline::remove_sink(const sdk::ISink* s) {
  std::erase_if(sinks_, [s](const auto& e) { return e->sink == s; });
}

void Pipeline::remove_processor(const sdk::IProcessor* p) {
  std::erase_if(processors_, [p](const auto& e) { return e.processor == p; });
}

void Pipeline::detach_all() {
  sinks_.clear();
  processors_.clear();
}

void Pipeline::end_batch() {
  latency_now_.invalidate();  // metrics
  for (auto& s : sinks_) s->sink->poll();
}

}  // namespace leaf::core
