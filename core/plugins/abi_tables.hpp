// Reading a plugin's tables across the ABI by their declared sizes (the
// versioning rule in sdk/README.md): a row is copied into the host's own
// struct, fields the plugin's SDK lacks keep their defaults, fields the host
// does not know are stepped over. The host then works on its own copies, which
// also outlive nothing: they are dropped with the plugin.
#pragma once

#include <leaf/sdk/abi.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace leaf::core {

// The smallest sizes the host accepts: the sizes of ABI 2.0. These numbers
// never change when a later minor appends fields.
inline constexpr uint32_t kMinOptionSize = offsetof(sdk::ConfigOption, flags) + sizeof(uint32_t);
inline constexpr uint32_t kMinFieldSize = sizeof(sdk::FieldDesc);
inline constexpr uint32_t kMinTypeSize = offsetof(sdk::EventTypeDesc, description) + sizeof(void*);
inline constexpr uint32_t kMinDescriptorSize =
    offsetof(sdk::PluginDescriptor, create) + sizeof(void*);

// Row `i` of a table whose rows are `stride` bytes long.
template <class T>
T read_row(const void* base, uint32_t stride, uint32_t i) {
  T row{};
  std::memcpy(static_cast<void*>(&row), static_cast<const char*>(base) + size_t(i) * stride,
              stride < sizeof(T) ? stride : sizeof(T));
  return row;
}

// A plugin's option table in the host's layout. Throws std::runtime_error
// naming the sizes when the rows are smaller than ABI 2.0's.
std::vector<sdk::ConfigOption> read_options(const sdk::PluginDescriptor& d);

// An event type in the host's layout: the type and its field table. The
// strings still point into the plugin's library.
struct OwnedType {
  sdk::EventTypeDesc desc{};
  std::vector<sdk::FieldDesc> fields;
};

// Copies one plugin event type (its struct_size and field_size say how to
// read it). Throws std::invalid_argument naming the type when too small.
std::unique_ptr<OwnedType> read_type(const sdk::EventTypeDesc* type);

// Element `i` of a plugin's array of event types with stride `type_size`.
inline const sdk::EventTypeDesc* type_at(const sdk::EventTypeDesc* types, uint32_t type_size,
                                         uint32_t i) {
  return reinterpret_cast<const sdk::EventTypeDesc*>(reinterpret_cast<const char*>(types) +
                                                     size_t(i) * type_size);
}

}  // namespace leaf::core
