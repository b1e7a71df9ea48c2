#include "pipeline/message_key.hpp"

namespace leaf::core {

KeyRule key_rule(const sdk::EventTypeDesc& t) {
  int field = -1;
  if (t.key_field)
    field = find_field(t, t.key_field);
  else if (t.category == sdk::Category::Network)
    field = find_field(t, "src_ip");
  else if (t.category == sdk::Category::Process)
    field = find_field(t, "pid");
  if (field >= 0) return {KeyRule::Source::Field, field};
  if (t.category == sdk::Category::Metrics) return {KeyRule::Source::TypeName, -1};
  return {KeyRule::Source::Hostname, -1};
}

std::string_view message_key(const KeyRule& rule, const sdk::EventTypeDesc& t,
                             const uint8_t* record, uint32_t size, int64_t mono_to_epoch_ns,
                             const EventEdits* edits, std::string_view encoded,
                             const std::string& hostname, std::string& scratch) {
  switch (rule.source) {
    case KeyRule::Source::TypeName:
      return t.name;
    case KeyRule::Source::Hostname:
      return hostname;
    case KeyRule::Source::Field:
      break;
  }
  if (encoded.data()) return encoded;
  const auto field = static_cast<uint32_t>(rule.field);
  if (const std::string* replaced = edits ? edits->replacement(field) : nullptr) return *replaced;
  scratch.clear();
  field_text(scratch, t.fields[field], record, size, mono_to_epoch_ns);
  return scratch;
}

}  // namespace leaf::core
