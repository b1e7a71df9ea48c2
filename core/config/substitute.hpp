// References in configuration string values, replaced when a file is loaded
// (before validation, so the result is checked like any typed value):
//
//   ${NAME}           the environment variable NAME; unset is an error
//   ${NAME:-default}  NAME, or `default` when NAME is unset or empty
//   ${file:/path}     the content of a file (one trailing newline removed): a
//                     secret, such as a mounted Kubernetes Secret. The file must
//                     exist and must not be readable by every user (mode o+r);
//                     its value is registered with config/secrets and never shown.
//   $${               a literal "${"
//
// Any other "$" is kept as it is. References apply to strings and to strings
// in arrays, at any depth; keys and non-string values are never touched.
// Errors are ConfigErrors naming the file, the dotted key and the line.
#pragma once

#include <toml++/toml.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace leaf::core {

struct SubstitutionSources {
  // Environment lookup; nullopt when unset. Default: getenv.
  std::function<std::optional<std::string>(const std::string&)> env;
  // Reads a secret file; throws std::runtime_error with the reason. Default:
  // read_secret_file.
  std::function<std::string(const std::string&)> file;
  static SubstitutionSources system();
};

// Expands the references in one value. Throws std::runtime_error with the
// reason (without file/key/line: the caller adds them).
std::string expand_references(std::string_view text, const SubstitutionSources& src);

// Expands every string value in `table`; `file` names it in errors.
void substitute_references(toml::table& table, const std::string& file,
                           const SubstitutionSources& src = SubstitutionSources::system());

// Reads a secret file: it must exist, be a regular file, not be readable by
// every user, and not be empty. Registers the value as a secret.
std::string read_secret_file(const std::string& path);

}  // namespace leaf::core
