// Helpers the built-in processors share: finding a field of an event type by
// name once per type (EventView::type is stable for the life of the plugin
// that registered it), and reading a field's value from a record.
#pragma once

#include <leaf/sdk/abi.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace leaf::core {

// Index of field `name` in `type`, or -1.
inline int field_index(const sdk::EventTypeDesc& type, std::string_view name) {
  for (uint32_t i = 0; i < type.field_count; ++i)
    if (name == type.fields[i].name) return static_cast<int>(i);
  return -1;
}

inline bool is_text(sdk::FieldType t) {
  return t == sdk::FieldType::Chars || t == sdk::FieldType::VarChars;
}

// An unsigned integer field of 1, 2, 4 or 8 bytes, widened.
inline uint64_t read_unsigned(const uint8_t* record, const sdk::FieldDesc& f) {
  switch (f.size) {
    case 1:
      return record[f.offset];
    case 2: {
      uint16_t v;
      std::memcpy(&v, record + f.offset, 2);
      return v;
    }
    case 4: {
      uint32_t v;
      std::memcpy(&v, record + f.offset, 4);
      return v;
    }
    default: {
      uint64_t v;
      std::memcpy(&v, record + f.offset, 8);
      return v;
    }
  }
}

inline bool is_unsigned(const sdk::FieldDesc& f) {
  using sdk::FieldType;
  return (f.type == FieldType::U8 || f.type == FieldType::U16 || f.type == FieldType::U32 ||
          f.type == FieldType::U64) &&
         (f.size == 1 || f.size == 2 || f.size == 4 || f.size == 8);
}

// A Chars field's text (up to the first NUL).
inline std::string_view chars_text(const uint8_t* record, const sdk::FieldDesc& f) {
  const char* p = reinterpret_cast<const char*>(record + f.offset);
  const void* nul = std::memchr(p, 0, f.size);
  return {p, nul ? static_cast<size_t>(static_cast<const char*>(nul) - p) : f.size};
}

// Per event type data of a processor, built on first sight of the type by
// `Build(const EventTypeDesc&) -> Info`. A handful of types: a short vector
// searched after a one-entry memo beats a hash map here.
template <class Info>
class PerType {
 public:
  template <class Build>
  const Info& get(const sdk::EventTypeDesc* type, Build&& build) {
    if (type == last_type_) return *last_;
    for (auto& [t, info] : items_)
      if (t == type) return remember(t, info.get());
    items_.emplace_back(type, std::make_unique<Info>(build(*type)));
    return remember(type, items_.back().second.get());
  }
  // Forgets every type (after a reload changed what Info holds).
  void clear() {
    items_.clear();
    last_type_ = nullptr;
    last_ = nullptr;
  }

 private:
  const Info& remember(const sdk::EventTypeDesc* t, const Info* info) {
    last_type_ = t;
    last_ = info;
    return *info;
  }
  std::vector<std::pair<const sdk::EventTypeDesc*, std::unique_ptr<Info>>> items_;
  const sdk::EventTypeDesc* last_type_ = nullptr;
  const Info* last_ = nullptr;
};

}  // namespace leaf::core
