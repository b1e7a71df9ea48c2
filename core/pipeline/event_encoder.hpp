// Schema-driven encoding: one record + its EventTypeDesc -> the SPEC.md §2
// JSON message, without plugin-specific code.
#pragma once

#include <leaf/sdk/schema.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// An event type prepared for encoding once, at registration: the constant
// parts of the message (category, type name, every `,"field":` key) are
// rendered and escaped ahead, so that per event only values are written.
// A short constant piece of JSON copied with fixed-size moves (the compiler
// inlines them) instead of a memcpy call; longer pieces use memcpy.
struct Fragment {
  static constexpr size_t kInline = 48;
  std::string text;
  char padded[kInline] = {};  // text, zero-padded, when it fits
  bool fits = false;
  void set(std::string s);
};

// One visible field as encode_to() writes it, resolved at compile time:
// its kind says type and size at once (one dispatch per field instead of a
// switch on the type and another on the size), hidden fields are left out.
struct FieldOp {
  enum Kind : uint8_t {
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    Bool,
    Chars,
    VarChars,
    VarJson,
    Ipv4,
    IpAddr,
    MonoTime,
    Enum,
  };
  Kind kind = U64;
  bool omit_zero = false;
  uint16_t size = 0;    // bytes in the record
  uint32_t offset = 0;  // in the record
  uint32_t index = 0;   // in desc->fields
  const void* aux = nullptr;
  // Its `,"<field>":` key, zero-padded, copied with two 16-byte moves
  // beside the rest of the field (one cache line per field) when it fits;
  // otherwise from CompiledType::keys.
  static constexpr size_t kKeyInline = 32;
  uint8_t key_size = 0;
  char key[kKeyInline] = {};
};

struct CompiledType {
  const sdk::EventTypeDesc* desc = nullptr;
  std::string prefix;          // {"type":"<category>","timestamp":
  std::string data_prefix;     // ","data":{"type":"<name>"
  std::vector<Fragment> keys;  // ,"<field>":  (empty for hidden fields)
  std::vector<FieldOp> ops;    // the visible fields, in order
  size_t static_bound = 0;     // bytes the fixed part can take at most
  size_t name_size = 0;        // strlen(desc->name)
};
CompiledType compile_type(const sdk::EventTypeDesc& type);

struct EncodeContext {
  std::string_view hostname;       // already JSON-escaped, without quotes
  int64_t mono_to_epoch_ns = 0;    // added to CLOCK_MONOTONIC times
  std::string_view metadata_json;  // `"metadata":{...}` fragment, or empty
};

// The most bytes encode_to() can write for this record.
size_t encode_bound(const CompiledType& type, uint32_t size, const EncodeContext& ctx,
                    const EventEdits* edits);
// Writes the whole message at `out` (at least encode_bound() bytes) and
// returns its length. The record must have passed record_fits.
// When key_field >= 0 and that field's JSON text is its key text (numbers,
// addresses, enums: anything but strings that may need escaping), *key is set
// to that text inside `out` and true is returned through *key_found.
size_t encode_to(char* out, const CompiledType& type, const uint8_t* record,
                 const EncodeContext& ctx, const EventEdits* edits, int key_field = -1,
                 std::string_view* key = nullptr);

// Convenience for tests and cold paths: compiles the type and appends to `out`.
void encode_event(std::string& out, const sdk::EventTypeDesc& type, const uint8_t* record,
                  uint32_t size, const EncodeContext& ctx, const EventEdits* edits);

// The text of one field, as used for Kafka keys and filters: numbers in
// decimal, strings as they are, addresses as text.
void field_text(std::string& out, const sdk::FieldDesc& f, const uint8_t* record, uint32_t size,
                int64_t mono_to_epoch_ns);

// Index of the field called `name`, or -1.
int find_field(const sdk::EventTypeDesc& type, std::string_view name);

}  // namespace leaf::core
