#include "pipeline/json_check.hpp"

#include <nlohmann/json.hpp>
#include <string_view>

namespace leaf::core {

// nlohmann::json's SAX-free accept(): a validating parse that builds
// nothing. VarJson fields are rare (the performance plugin's periodic
// tables), so its cost stays off the per-event path of other types.
// nlohmann's lexer takes a NUL byte for the end of the input ("4\0garbage"
// passed: found by fuzz_event_encoder); JSON text never holds a raw NUL.
bool is_one_json_value(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return false;
  return nlohmann::json::accept(text.begin(), text.end());
}

}  // namespace leaf::core
