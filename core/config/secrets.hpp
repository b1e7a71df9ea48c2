// Secrets read from files by `${file:/path}` references (config/substitute):
// the host remembers their values so that nothing it prints — log lines,
// configuration errors, --check and --list-plugins output — ever shows one.
// redact() replaces every remembered value with "[secret]".
#pragma once

#include <string>
#include <string_view>

namespace leaf::core {

// Remembers `value` as a secret (empty values are ignored). Thread-safe.
void register_secret(std::string value);

// `text` with every registered secret replaced by "[secret]". Cheap when no
// secret is registered. Thread-safe.
std::string redact(std::string_view text);

// True when `text` holds a registered secret.
bool holds_secret(std::string_view text);

}  // namespace leaf::core
