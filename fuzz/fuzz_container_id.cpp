// Container identity from a cgroup path: whatever the path, an id found is
// 64 lowercase hex digits, a runtime is one of the known names and a pod UID
// is a dashed UUID or a static pod's 32-digit hash.
#include <cstdint>
#include <string_view>

#include "processors/container_id.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view path(reinterpret_cast<const char*>(data), size);
  leaf::core::ContainerInfo c = leaf::core::parse_container(path);
  if (!c.id.empty() && !leaf::core::is_container_id(c.id)) __builtin_trap();
  if (c.id.empty() && !c.runtime.empty()) __builtin_trap();
  if (!c.runtime.empty() && c.runtime != "docker" && c.runtime != "containerd" &&
      c.runtime != "cri-o" && c.runtime != "podman")
    __builtin_trap();
  // A pod UID: a UUID with dashes, or a static pod's 32-digit hash.
  if (!c.pod_uid.empty() && c.pod_uid.size() != 36 && c.pod_uid.size() != 32) __builtin_trap();
  if (c.short_id().size() > 12) __builtin_trap();
  return 0;
}
