// Event schemas: how a plugin describes the records its BPF programs write,
// so that the host can encode, key and filter any plugin's events without
// plugin-specific code. Part of the Leaf plugin ABI (see abi.h).
//
// A record is a C struct written by the kernel (or by user space through
// IHost::emit) that starts with `struct leaf_event_header`
// (bpf/leaf_event.h). Its fields are listed once, with their offsets, in a
// FieldDesc table; use LEAF_FIELD() to fill it from the struct so that
// offsets and sizes cannot drift.
#pragma once

#include <leaf/sdk/types.h>

#include <cstddef>
#include <cstdint>

namespace leaf::sdk {

enum class FieldType : uint16_t {
  U8 = 1,
  U16 = 2,
  U32 = 3,
  U64 = 4,
  I8 = 5,
  I16 = 6,
  I32 = 7,
  I64 = 8,
  Bool = 9,         // any width; non-zero is true
  Chars = 10,       // fixed char array, text up to the first NUL
  Ipv4 = 11,        // 4 bytes, network order
  IpAddr = 12,      // 16 bytes, IPv6 form; IPv4-mapped addresses shown as IPv4
  MonoTimeNs = 13,  // u64 CLOCK_MONOTONIC ns, shown as ns since the Unix epoch
  DurationNs = 14,  // u64 nanoseconds
  VarChars = 15,    // struct leaf_var {u16 offset; u16 length;} into the record
  VarJson = 16,     // like VarChars, but the bytes are one JSON value, copied verbatim
  Enum = 17,        // unsigned integer (size 1, 2 or 4) shown by name: aux is an EnumDesc*
};

enum FieldFlags : uint32_t {
  kFieldNone = 0,
  kFieldHidden = 1u << 0,    // kept in the record (filters can use it), not encoded
  kFieldOmitZero = 1u << 1,  // not encoded when zero / empty
};

struct EnumDesc {
  const char* const* names;  // names[value]; values >= count are shown as numbers
  uint32_t count;
};

struct FieldDesc {
  const char* name;  // JSON key in "data"; SPEC.md names are binding
  FieldType type;
  uint16_t offset;  // from the start of the record (header included)
  uint16_t size;    // bytes the field takes in the fixed part
  uint32_t flags;   // FieldFlags
  const void* aux;  // type-specific data (EnumDesc* for Enum), else nullptr
};

// Write tables with designated initializers ({.name = ..., .category = ...})
// so that struct_size and field_size take the sizes of the plugin's SDK.
struct EventTypeDesc {
  uint32_t struct_size = sizeof(EventTypeDesc);
  uint32_t field_size = sizeof(FieldDesc);  // the stride of `fields`
  const char* name;                         // data.type, e.g. "process_exec"
  Category category;                        // message type and Kafka topic
  const FieldDesc* fields;
  uint32_t field_count;
  uint32_t fixed_size;  // sizeof the record struct
  // Largest valid record: fixed_size plus the largest variable tail. A
  // record shorter than fixed_size or longer than max_size is counted and
  // dropped. Equal to fixed_size for records without Var* fields.
  uint32_t max_size;
  // Field whose value is the Kafka key; nullptr for the category's default
  // (SPEC.md §3: network src_ip, process pid, performance hostname, metrics
  // the event type).
  const char* key_field;
  const char* description;  // one line, for --list-plugins
};

// Field `i` of a type, stepping by the type's own field_size: a processor
// must read a host's field table this way (the host's rows may be larger).
inline const FieldDesc& field_at(const EventTypeDesc& type, uint32_t i) noexcept {
  return *reinterpret_cast<const FieldDesc*>(reinterpret_cast<const char*>(type.fields) +
                                             static_cast<size_t>(i) * type.field_size);
}

// The description of a record type without a variable tail: sizes from
// `Record`, field count from the table, the category's default Kafka key.
//   const EventTypeDesc kTypes[] = {
//       fixed_event_type<my_event>("my_event", Category::Process, kFields, "what")};
template <class Record, size_t N>
constexpr EventTypeDesc fixed_event_type(const char* name, Category category,
                                         const FieldDesc (&fields)[N], const char* description) {
  return {.name = name,
          .category = category,
          .fields = fields,
          .field_count = static_cast<uint32_t>(N),
          .fixed_size = sizeof(Record),
          .max_size = sizeof(Record),
          .key_field = nullptr,
          .description = description};
}

}  // namespace leaf::sdk

// Field table helpers. `Struct` is the record type shared with the kernel.
#define LEAF_FIELD(Struct, member, field_type)                                                \
  ::leaf::sdk::FieldDesc {                                                                    \
#member, ::leaf::sdk::FieldType::field_type,                                              \
        static_cast < uint16_t>(offsetof(Struct, member)),                                    \
        static_cast < uint16_t>(sizeof(((Struct*)nullptr)->member)), ::leaf::sdk::kFieldNone, \
        nullptr                                                                               \
  }

// The same with a JSON name different from the struct member.
#define LEAF_FIELD_AS(Struct, member, json_name, field_type, flags)                 \
  ::leaf::sdk::FieldDesc {                                                          \
    json_name, ::leaf::sdk::FieldType::field_type,                                  \
        static_cast<uint16_t>(offsetof(Struct, member)),                            \
        static_cast<uint16_t>(sizeof(((Struct*)nullptr)->member)), (flags), nullptr \
  }

#define LEAF_FIELD_ENUM(Struct, member, json_name, enum_desc_ptr)                             \
  ::leaf::sdk::FieldDesc {                                                                    \
    json_name, ::leaf::sdk::FieldType::Enum, static_cast<uint16_t>(offsetof(Struct, member)), \
        static_cast<uint16_t>(sizeof(((Struct*)nullptr)->member)), ::leaf::sdk::kFieldNone,   \
        (enum_desc_ptr)                                                                       \
  }
