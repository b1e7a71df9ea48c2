// The event encoder on generated schemas and records: a schema the
// registration check (validate_schema) accepts, a record record_fits()
// lets through, encoded into exactly encode_bound() bytes (AddressSanitizer
// stops at the first byte past it); the message must be one valid JSON
// object whose "data" has every visible field.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "leaf_event.h"
#include "pipeline/event_encoder.hpp"

using namespace leaf::core;
using namespace leaf::sdk;

namespace {

const char* const kEnumNames[] = {"zero", "one\"quoted\"", "two\\back", nullptr, "\x01ctl"};
const EnumDesc kEnum = {kEnumNames, 5};

uint16_t natural_size(FieldType t, FuzzedDataProvider& in) {
  switch (t) {
    case FieldType::U8:
    case FieldType::I8:
      return 1;
    case FieldType::U16:
    case FieldType::I16:
      return 2;
    case FieldType::U32:
    case FieldType::I32:
    case FieldType::Ipv4:
      return 4;
    case FieldType::Bool:
      return uint16_t(1) << in.ConsumeIntegralInRange(0, 3);
    case FieldType::Enum:
      return uint16_t(1) << in.ConsumeIntegralInRange(0, 2);
    case FieldType::Chars:
      return in.ConsumeIntegralInRange<uint16_t>(1, 64);
    case FieldType::IpAddr:
      return 16;
    case FieldType::VarChars:
    case FieldType::VarJson:
      return sizeof(leaf_var);
    default:
      return 8;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  // The schema: up to 12 fields laid out after the header.
  std::vector<FieldDesc> fields;
  std::vector<std::string> names;
  size_t n = in.ConsumeIntegralInRange(0, 12);
  names.reserve(n);
  uint32_t at = sizeof(leaf_event_header);
  for (size_t i = 0; i < n; ++i) {
    auto type = static_cast<FieldType>(in.ConsumeIntegralInRange(1, 17));
    uint16_t fsize = natural_size(type, in);
    // Occasionally a field placed anywhere (the check must refuse what overlaps the header).
    uint32_t offset = in.ConsumeBool() ? at : in.ConsumeIntegralInRange<uint32_t>(0, at + 8);
    names.push_back(in.ConsumeBool() ? "f" + std::to_string(i)
                                     : in.ConsumeRandomLengthString(12) + std::to_string(i));
    uint32_t flags = in.ConsumeIntegralInRange(0, 3);
    fields.push_back(FieldDesc{names.back().c_str(), type, static_cast<uint16_t>(offset), fsize,
                               flags, type == FieldType::Enum ? &kEnum : nullptr});
    at = std::max(at, offset + fsize);
  }
  uint32_t fixed = at;
  uint32_t max = fixed + in.ConsumeIntegralInRange<uint32_t>(0, 2048);
  std::string type_name = in.ConsumeRandomLengthString(16);
  if (type_name.empty()) type_name = "t";
  auto cat = static_cast<Category>(in.ConsumeIntegralInRange(1, 4));
  EventTypeDesc desc{.name = type_name.c_str(),
                     .category = cat,
                     .fields = fields.data(),
                     .field_count = static_cast<uint32_t>(fields.size()),
                     .fixed_size = fixed,
                     .max_size = max,
                     .key_field = nullptr,
                     .description = "fuzz"};
  if (!validate_schema(desc).empty()) return 0;

  // The record: the rest of the input, as the BPF side would hand it over.
  std::vector<uint8_t> record = in.ConsumeRemainingBytes<uint8_t>();
  if (!record_fits(desc, record.data(), static_cast<uint32_t>(record.size()))) return 0;

  CompiledType compiled = compile_type(desc);
  EncodeContext ctx{"host\\\"name", 1'700'000'000'000'000'000LL, "\"metadata\":{\"k\":\"v\"}"};
  size_t bound = encode_bound(compiled, static_cast<uint32_t>(record.size()), ctx, nullptr);
  std::vector<char> out(bound);  // exactly the bound: ASan catches any byte past it
  size_t len = encode_to(out.data(), compiled, record.data(), ctx, nullptr);
  if (len > bound) __builtin_trap();
  if (getenv("LEAF_FUZZ_PRINT")) fwrite(out.data(), 1, len, stderr);
  auto json = nlohmann::json::parse(out.data(), out.data() + len, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json["data"].is_object()) __builtin_trap();
  for (const auto& f : fields) {
    // Names that are not UTF-8 are shown escaped (\xHH), others as they are.
    bool plain = std::all_of(f.name, f.name + std::strlen(f.name),
                             [](char c) { return c >= 0x20 && c < 0x7f; });
    bool shown = !(f.flags & kFieldHidden) && !(f.flags & kFieldOmitZero);
    if (plain && shown && !json["data"].contains(f.name)) __builtin_trap();
  }
  return 0;
}
