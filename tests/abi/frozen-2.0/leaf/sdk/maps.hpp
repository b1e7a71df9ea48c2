// Plugin-side helpers for BPF maps that configuration fills (header-only,
// never part of the ABI).
#pragma once

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <leaf/sdk/probe.hpp>
#include <string>
#include <vector>

namespace leaf::sdk {

// Makes the hash map `m` (a set: values are one byte, 1) hold exactly
// `keys`: adds the missing ones, then deletes the others. Used to load and
// reload (SIGHUP) in-kernel filter sets. Throws PluginError on failure.
template <class Key>
void sync_set(bpf_map* m, const std::vector<Key>& keys) {
  const uint8_t one = 1;
  for (const auto& k : keys)
    if (bpf_map__update_elem(m, &k, sizeof(k), &one, sizeof(one), BPF_ANY) != 0)
      throw PluginError(std::string(bpf_map__name(m)) + ": " + std::strerror(errno));
  std::vector<Key> stale;
  Key cur{}, next{};
  const void* prev = nullptr;
  while (bpf_map__get_next_key(m, prev, &next, sizeof(next)) == 0) {
    bool keep = false;
    for (const auto& k : keys) keep |= std::memcmp(&k, &next, sizeof(Key)) == 0;
    if (!keep) stale.push_back(next);
    cur = next;
    prev = &cur;
  }
  for (const auto& k : stale) bpf_map__delete_elem(m, &k, sizeof(k), 0);
}

}  // namespace leaf::sdk
