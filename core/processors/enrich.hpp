// The "enrich" built-in processor: adds cgroup_path, container_id (12
// characters), container_full_id, container_runtime and pod_uid to every
// event that carries a `cgroup_id` field (the cgroup the kernel recorded at
// event time), through the shared CgroupCache. Fields that are unknown are
// not added (SPEC.md §2). Configuration: conf.d/enrich.toml.
#pragma once

#include <leaf/sdk/abi.h>

namespace leaf::core {

const sdk::PluginDescriptor* enrich_descriptor();

}  // namespace leaf::core
