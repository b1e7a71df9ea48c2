// Schema-driven encoding: one record + its EventTypeDesc -> the SPEC.md §2
// JSON message, without plugin-specific code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <leaf/sdk/schema.h>

namespace leaf::core {

// What processors changed: replaced string fields and extra fields (already
// encoded as `,"name":value` fragments) that go after the record's fields.
struct EventEdits {
  std::vector<std::pair<uint32_t, std::string>> replaced;
  std::string extras;

  void clear() {
    replaced.clear();
    extras.clear();
  }
  const std::string* replacement(uint32_t field) const {
    for (const auto& [i, s] : replaced)
      if (i == field) return &s;
    return nullptr;
  }
};

// Checks a plugin's event type description once, when it is registered:
// field sizes against their types, offsets inside the fixed part, names.
// Returns an empty string when valid, else what is wrong.
std::string validate_schema(const sdk::EventTypeDesc& type);

// Checks a record against its schema: size within [fixed_size, max_size],
// every variable field inside the record's tail. Returns false when the
// record must be dropped (and counted).
bool record_fits(const sdk::EventTypeDesc& type, const uint8_t* record, uint32_t size);

struct EncodeContext {
  std::string_view hostname;       // already JSON-escaped, without quotes
  int64_t mono_to_epoch_ns = 0;    // added to CLOCK_MONOTONIC times
  std::string_view metadata_json;  // `"metadata":{...}` fragment, or empty
};

// Appends the whole message to `out`. The record must have passed record_fits.
void encode_event(std::string& out, const sdk::EventTypeDesc& type, const uint8_t* record,
                  uint32_t size, const EncodeContext& ctx, const EventEdits* edits);

// The text of one field, as used for Kafka keys and filters: numbers in
// decimal, strings as they are, addresses as text.
void field_text(std::string& out, const sdk::FieldDesc& f, const uint8_t* record, uint32_t size,
                int64_t mono_to_epoch_ns);

// Index of the field called `name`, or -1.
int find_field(const sdk::EventTypeDesc& type, std::string_view name);

}  // namespace leaf::core
