// Bounds on a TOML text checked before toml++ sees it. toml++ 3.3 builds
// (and later destroys) nested tables recursively: a table header or dotted
// key with tens of thousands of segments overflows the stack (issue 17: an
// 80 KB header of 35,000 segments segfaulted leaf-host at startup and on
// SIGHUP). Its own limit (TOML_MAX_NESTED_VALUES) covers arrays and inline
// tables, not dotted keys, so the nesting depth a text can build is
// estimated here with a small lexer and refused above kMaxTomlDepth.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace leaf::core {

// Far beyond any real configuration (Leaf's own keys nest 3 deep).
constexpr size_t kMaxTomlDepth = 64;
// Configuration files larger than this are refused before parsing.
constexpr size_t kMaxTomlBytes = 16u << 20;

struct TomlGuardError {
  int line;  // 1-based
  std::string what;
};

// An upper bound of the table depth `text` can build: the segments of a
// table header or dotted key, plus those of the keys of the arrays and
// inline tables around it. Returns the first place the bound passes
// max_depth, or nothing when the text stays within it. Malformed text is
// left for toml++ to report.
std::optional<TomlGuardError> check_toml_depth(std::string_view text,
                                               size_t max_depth = kMaxTomlDepth);

}  // namespace leaf::core
