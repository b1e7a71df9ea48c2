#include "plugins/abi_tables.hpp"

#include <stdexcept>

namespace leaf::core {

std::vector<sdk::ConfigOption> read_options(const sdk::PluginDescriptor& d) {
  std::vector<sdk::ConfigOption> out;
  if (!d.option_count) return out;
  if (d.option_size < kMinOptionSize)
    throw std::runtime_error("malformed descriptor: option rows of " +
                             std::to_string(d.option_size) + " bytes, ABI 2.0 rows have " +
                             std::to_string(kMinOptionSize));
  out.reserve(d.option_count);
  for (uint32_t i = 0; i < d.option_count; ++i)
    out.push_back(read_row<sdk::ConfigOption>(d.options, d.option_size, i));
  return out;
}

std::unique_ptr<OwnedType> read_type(const sdk::EventTypeDesc* type) {
  if (!type) throw std::invalid_argument("no event type");
  if (type->struct_size < kMinTypeSize)
    throw std::invalid_argument("event type of " + std::to_string(type->struct_size) +
                                " bytes, ABI 2.0 types have " + std::to_string(kMinTypeSize));
  auto t = std::make_unique<OwnedType>();
  t->desc = read_row<sdk::EventTypeDesc>(type, type->struct_size, 0);
  const char* name = t->desc.name ? t->desc.name : "?";
  if (t->desc.field_count && t->desc.field_size < kMinFieldSize)
    throw std::invalid_argument(std::string("event type ") + name + ": field rows of " +
                                std::to_string(t->desc.field_size) + " bytes, ABI 2.0 rows have " +
                                std::to_string(kMinFieldSize));
  if (t->desc.field_count && !t->desc.fields)
    throw std::invalid_argument(std::string("event type ") + name + ": field table missing");
  t->fields.reserve(t->desc.field_count);
  for (uint32_t i = 0; i < t->desc.field_count; ++i)
    t->fields.push_back(read_row<sdk::FieldDesc>(t->desc.fields, t->desc.field_size, i));
  t->desc.struct_size = sizeof(sdk::EventTypeDesc);
  t->desc.field_size = sizeof(sdk::FieldDesc);
  t->desc.fields = t->fields.data();
  return t;
}

}  // namespace leaf::core
