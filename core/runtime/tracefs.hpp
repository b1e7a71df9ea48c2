// Classic tracepoints (tp/...) attach through tracefs. When it is not
// mounted and we are root, mount it; otherwise say what is missing.
#pragma once

#include <string>

namespace leaf::core {

// Returns an empty string when tracefs is usable, else the reason it is not.
std::string ensure_tracefs(std::string* action_taken);

}  // namespace leaf::core
