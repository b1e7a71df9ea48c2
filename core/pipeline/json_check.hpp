// Whether bytes a plugin hands over as JSON (VarJson fields) are exactly one
// JSON value, so that copying them verbatim keeps the message valid and
// cannot add fields of its own.
#pragma once

#include <string_view>

namespace leaf::core {

bool is_one_json_value(std::string_view text);

}  // namespace leaf::core
