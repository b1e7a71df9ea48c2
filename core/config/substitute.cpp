#include "config/substitute.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "config/config_section.hpp"
#include "config/secrets.hpp"

namespace leaf::core {

namespace {

bool valid_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

// One reference: the text between "${" and "}".
std::string resolve(std::string_view ref, const SubstitutionSources& src) {
  if (ref.substr(0, 5) == "file:") {
    std::string path(ref.substr(5));
    if (path.empty()) throw std::runtime_error("${file:} names no file");
    return src.file(path);
  }
  size_t sep = ref.find(":-");
  std::string name(ref.substr(0, sep));
  if (!valid_name(name))
    throw std::runtime_error("${" + std::string(ref) +
                             "}: not a variable name (letters, digits and _), nor file:/path");
  std::optional<std::string> value = src.env(name);
  if (sep != std::string_view::npos) {
    if (!value || value->empty()) return std::string(ref.substr(sep + 2));
    return *value;
  }
  if (!value)
    throw std::runtime_error("environment variable " + name +
                             " is not set (give a default with ${" + name + ":-default})");
  return *value;
}

int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

void expand_node(toml::node& node, const std::string& key, const std::string& file,
                 const SubstitutionSources& src) {
  if (auto* s = node.as_string()) {
    try {
      s->get() = expand_references(s->get(), src);
    } catch (const std::runtime_error& e) {
      throw ConfigError(file, line_of(node), key, e.what());
    }
  } else if (auto* a = node.as_array()) {
    for (auto& item : *a) expand_node(item, key, file, src);
  } else if (auto* t = node.as_table()) {
    for (auto& [k, v] : *t)
      expand_node(v, key.empty() ? std::string(k.str()) : key + "." + std::string(k.str()), file,
                  src);
  }
}

}  // namespace

SubstitutionSources SubstitutionSources::system() {
  SubstitutionSources s;
  s.env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
  s.file = read_secret_file;
  return s;
}

std::string expand_references(std::string_view text, const SubstitutionSources& src) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    size_t end = text.find('}', i + 2);
    if (end == std::string_view::npos)
      throw std::runtime_error("\"${\" without a closing \"}\" (write $${ for a literal ${)");
    out += resolve(text.substr(i + 2, end - i - 2), src);
    i = end + 1;
  }
  return out;
}

void substitute_references(toml::table& table, const std::string& file,
                           const SubstitutionSources& src) {
  for (auto& [k, v] : table) expand_node(v, std::string(k.str()), file, src);
}

std::string read_secret_file(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    throw std::runtime_error("secret file " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw std::runtime_error("secret file " + path + " is not a regular file");
  if (st.st_mode & S_IROTH) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw std::runtime_error(
        "secret file " + path + " is readable by every user (mode " + mode +
        "): make it private (chmod o-r; Kubernetes: defaultMode 0440 or 0400)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("secret file " + path + ": " + std::strerror(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  std::string value = buf.str();
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  if (value.empty()) throw std::runtime_error("secret file " + path + " is empty");
  register_secret(value);
  return value;
}

}  // namespace leaf::core
