#include "processors/container_id.hpp"

#include <array>
#include <vector>

namespace leaf::core {

namespace {

constexpr size_t kIdLen = 64;

struct Prefix {
  std::string_view prefix;
  std::string_view runtime;
};

// Names of systemd scopes (and podman's cgroupfs cgroups) that hold one
// container: prefix + id [+ ".scope"]. Longer prefixes first where one
// prefix is a prefix of another ("cri-containerd-" before "containerd-").
constexpr std::array<Prefix, 6> kScopePrefixes{{
    {"docker-", "docker"},
    {"cri-containerd-", "containerd"},
    {"containerd-", "containerd"},
    {"crio-", "cri-o"},
    {"libpod-", "podman"},
    {"nerdctl-", "containerd"},
}};

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string_view strip_suffix(std::string_view s, std::string_view suffix) {
  if (s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix)
    return s.substr(0, s.size() - suffix.size());
  return s;
}

// The id of one path component and the runtime its name says; `parent` is
// the component above it (for bare ids under cgroupfs drivers).
bool component_id(std::string_view c, std::string_view parent, bool in_kubepods,
                  ContainerInfo* out) {
  // containerd's systemd cgroupsPath form "<slice>:cri-containerd:<id>".
  if (auto colon = c.rfind(':'); colon != std::string_view::npos) {
    std::string_view id = c.substr(colon + 1);
    std::string_view head = c.substr(0, colon);
    if (!is_container_id(id)) return false;
    auto colon2 = head.rfind(':');
    std::string_view kind = colon2 == std::string_view::npos ? head : head.substr(colon2 + 1);
    out->id = id;
    if (kind == "cri-containerd" || kind == "containerd")
      out->runtime = "containerd";
    else if (kind == "crio")
      out->runtime = "cri-o";
    else if (kind == "docker")
      out->runtime = "docker";
    return true;
  }
  std::string_view name = strip_suffix(c, ".scope");
  if (is_container_id(name)) {
    if (name.size() != c.size()) return false;  // "<id>.scope" is not a known layout
    out->id = name;
    if (parent == "docker" || parent == "actions_job")
      out->runtime = "docker";
    else if (parent == "libpod_parent")
      out->runtime = "podman";
    else if (in_kubepods)
      out->runtime = "containerd";
    return true;
  }
  for (const auto& p : kScopePrefixes) {
    if (!starts_with(name, p.prefix)) continue;
    std::string_view id = name.substr(p.prefix.size());
    if (!is_container_id(id)) continue;  // e.g. "libpod-conmon-<id>", "crio-conmon-<id>"
    out->id = id;
    out->runtime = p.runtime;
    return true;
  }
  return false;
}

// "pod<uid>" in "pod<uid>" (cgroupfs) or "kubepods-besteffort-pod<uid>.slice"
// (systemd, '_' for '-').
bool component_pod_uid(std::string_view c, std::string* out) {
  c = strip_suffix(c.substr(0, c.find(':')), ".slice");
  auto pos = c.rfind("pod");
  if (pos == std::string_view::npos) return false;
  if (pos != 0 && c[pos - 1] != '-') return false;
  std::string_view uid = c.substr(pos + 3);
  // A UID is 32 hex digits in 8-4-4-4-12 groups (static pods: a 32-digit hash).
  size_t hex = 0;
  std::string text;
  for (char ch : uid) {
    if (ch == '_' || ch == '-') {
      text.push_back('-');
    } else if (is_hex(ch)) {
      text.push_back(ch);
      ++hex;
    } else {
      return false;
    }
  }
  if (hex != 32 || (text.size() != 36 && text.size() != 32)) return false;
  *out = std::move(text);
  return true;
}

}  // namespace

bool is_container_id(std::string_view s) {
  if (s.size() != kIdLen) return false;
  for (char c : s)
    if (!is_hex(c)) return false;
  return true;
}

ContainerInfo parse_container(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  ContainerInfo info;
  bool in_kubepods = false;
  for (auto p : parts)
    if (p.find("kubepods") != std::string_view::npos)
      in_kubepods = true;  // also kind's kubelet-kubepods
  // Innermost container first.
  for (size_t k = parts.size(); k-- > 0;) {
    std::string_view parent = k > 0 ? parts[k - 1] : std::string_view();
    if (component_id(parts[k], parent, in_kubepods, &info)) break;
  }
  if (in_kubepods) {
    for (auto p : parts)
      if (component_pod_uid(p, &info.pod_uid)) break;
  }
  return info;
}

}  // namespace leaf::core
