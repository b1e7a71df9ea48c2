#include "processors/redact.hpp"

#include <leaf/sdk/plugin.hpp>

#include "processors/event_fields.hpp"
#include "processors/redactor.hpp"

namespace leaf::core {

namespace {

using sdk::ConfigOption;
using sdk::OptionType;
using sdk::Status;
using sdk::StringView;

const ConfigOption kOptions[] = {
    {"default_rules", OptionType::Bool, "true", 0, 0, nullptr,
     "apply the shipped rules (password/token/secret/api-key flags and key=value pairs, URL "
     "credentials, authorization headers)",
     sdk::kOptionLive},
    {"rules", OptionType::StringList, "[]", 0, 0, nullptr,
     "more rules: PCRE2 regular expressions whose capture groups are replaced by ****",
     sdk::kOptionLive},
    {"fields", OptionType::StringList, "[\"cmdline\", \"filename\"]", 0, 0, nullptr,
     "text fields the rules apply to, in every event type that has them", sdk::kOptionLive},
    {"max_cmdline_length", OptionType::Int, "4096", 0, 65535, nullptr,
     "cmdline is cut to this many bytes after redaction (0: no limit)", sdk::kOptionLive},
};

struct TypeFields {
  std::vector<uint32_t> redact;  // field indexes
  int cmdline = -1;
};

class RedactProcessor final : public sdk::PluginBase<sdk::IProcessor> {
 public:
  explicit RedactProcessor(sdk::IHost* host) : PluginBase(host) {}

  Status open() noexcept override {
    return guarded([&] { apply(read_config()); });
  }

  sdk::Verdict process(const sdk::EventView* ev, sdk::IEventEditor* ed) noexcept override {
    try {
      const auto& tf =
          types_.get(ev->type, [&](const sdk::EventTypeDesc& t) { return compile(t); });
      for (uint32_t i : tf.redact) {
        StringView v{};
        if (ed->get_string(i, &v) != Status::Ok) continue;
        if (cfg_.redactor->redact({v.data, static_cast<size_t>(v.size)}, &out_)) {
          if (ed->replace_string(i, StringView{out_.data(), out_.size()}) != Status::Ok)
            return fail();
          ++redacted_;
        }
      }
      if (tf.cmdline >= 0 && cfg_.max_cmdline > 0) {
        StringView v{};
        if (ed->get_string(tf.cmdline, &v) == Status::Ok && v.size > cfg_.max_cmdline) {
          auto cut = cut_utf8({v.data, static_cast<size_t>(v.size)}, cfg_.max_cmdline);
          out_.assign(cut);
          if (ed->replace_string(tf.cmdline, StringView{out_.data(), out_.size()}) != Status::Ok)
            return fail();
          ++truncated_;
        }
      }
    } catch (...) {
      return fail();
    }
    return sdk::Verdict::Keep;
  }

  void read_counters(sdk::ICounterVisitor* v) noexcept override {
    StringView none{"", 0};
    v->counter(sdk::make_view("redact_fields_redacted_total"), none, redacted_);
    v->counter(sdk::make_view("redact_cmdlines_truncated_total"), none, truncated_);
    v->counter(sdk::make_view("redact_failed_dropped_total"), none, failed_);
  }

  Status reload() noexcept override {
    return guarded([&] { apply(read_config()); });
  }

  void close() noexcept override {}

 private:
  struct Config {
    std::unique_ptr<Redactor> redactor;
    std::vector<std::string> fields;
    uint64_t max_cmdline = 0;
  };

  sdk::Verdict fail() {
    ++failed_;
    return sdk::Verdict::Drop;
  }

  TypeFields compile(const sdk::EventTypeDesc& t) const {
    TypeFields tf;
    for (const auto& name : cfg_.fields) {
      int i = field_index(t, name);
      if (i >= 0 && is_text(t.fields[i].type)) tf.redact.push_back(static_cast<uint32_t>(i));
    }
    int c = field_index(t, "cmdline");
    if (c >= 0 && is_text(t.fields[c].type)) tf.cmdline = c;
    return tf;
  }

  Config read_config() const {
    std::vector<std::string> rules;
    size_t gated = 0;
    if (cfg_bool("default_rules")) rules = default_redaction_rules(), gated = rules.size();
    for (auto& r : cfg_strings("rules")) rules.push_back(r);
    Config c;
    try {
      c.redactor = std::make_unique<Redactor>(rules, default_rules_gate(), gated);
    } catch (const std::invalid_argument& e) {
      throw sdk::PluginError(std::string("key 'rules': ") + e.what(), Status::InvalidConfig);
    }
    c.fields = cfg_strings("fields");
    for (auto& f : c.fields)
      if (f.empty())
        throw sdk::PluginError("key 'fields': an empty field name", Status::InvalidConfig);
    c.max_cmdline = static_cast<uint64_t>(cfg_int("max_cmdline_length"));
    return c;
  }

  void apply(Config c) {
    cfg_ = std::move(c);
    types_.clear();
  }

  Config cfg_;
  PerType<TypeFields> types_;
  std::string out_;
  uint64_t redacted_ = 0, truncated_ = 0, failed_ = 0;
};

LEAF_PLUGIN_DESCRIPTOR(kDescriptor, RedactProcessor, Processor, "redact", "1.0.0",
                       "replaces secrets in command lines by ****, cuts long command lines",
                       kOptions);

}  // namespace

const sdk::PluginDescriptor* redact_descriptor() { return &kDescriptor; }

}  // namespace leaf::core
