// The "filter" built-in processor: drops events by event type, uid, comm
// (exact or prefix) and container (only containers, only the host, or a list
// of container ids). Drops are counted per rule (read_counters) and, by the
// pipeline, per event type. Configuration: conf.d/filter.toml.
//
// Which events a rule can judge: the uid and comm rules look at the fields
// named `uid` and `comm`; the container rules at `cgroup_id` (through the
// shared CgroupCache). An event type without the field is never dropped by
// that rule (perf_stats has no process, so `containers = "only"` keeps it);
// neither is an event whose cgroup_id is 0 (not attributed to a process).
//
// The same rules can run in the kernel, before the ring buffer, in plugins
// that read them from their own configuration (see their README); this
// processor is the generic path that works for every plugin.
#pragma once

#include <leaf/sdk/abi.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace leaf::core {

struct FilterRules {
  std::set<std::string, std::less<>> drop_types;
  std::set<uint32_t> drop_uids;
  std::set<std::string, std::less<>> drop_comms;
  std::vector<std::string> drop_comm_prefixes;
  enum class Containers { All, Only, Host } containers = Containers::All;
  std::vector<std::string> container_ids;  // 12..64 hex digits: id prefixes; empty: any

  bool needs_cgroups() const { return containers != Containers::All || !container_ids.empty(); }
};

const sdk::PluginDescriptor* filter_descriptor();

}  // namespace leaf::core
