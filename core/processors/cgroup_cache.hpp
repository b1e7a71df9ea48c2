// cgroup id -> cgroup path and container identity, for events that carry
// the cgroup id the kernel recorded at event time (bpf_get_current_cgroup_id()
// and friends: the task's cgroup in the v2 hierarchy).
//
// Why by id and not by /proc/<pid>/cgroup: the process may be gone by the
// time its event is read (a process that lives a millisecond), or its pid
// reused; the id names the cgroup the task was in when the event happened.
//
// Resolution (CgroupResolver): a cgroup v2 id is the inode number of the
// cgroup's directory in cgroupfs (kernfs node id), and kernfs exports file
// handles whose payload is that 8-byte id (handle type FILEID_KERNFS, 0xfe).
// So open_by_handle_at(mount fd, {8, 0xfe, id}) opens the directory in one
// system call whatever the size of the tree, and readlink(/proc/self/fd/N)
// gives its path. A removed cgroup answers ESTALE: we know it is gone, not
// just unknown. open_by_handle_at needs CAP_DAC_READ_SEARCH; without it (or
// on a kernel without kernfs handles) the resolver walks the hierarchy and
// compares directory inode numbers instead: slower, same answers.
//
// Caching (CgroupCache): bounded (capacity entries). cgroup ids are never
// reused while the system runs (a 64-bit counter), so a cached answer never
// becomes wrong, only useless once the cgroup is removed. Removed cgroups are
// noticed by a sweep, run from the event path at most every sweep_interval
// (event time): it checks every entry's directory (stat: same inode?) and
// drops the gone ones and the ids that could not be resolved. When the cache
// is full, a sweep runs at once, then the oldest entries go (insertion
// order). A hit costs one compare (the last id, as events come in runs from
// one process) or one hash lookup.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "processors/container_id.hpp"

namespace leaf::core {

// The cgroup v2 mount point from a mountinfo file ("" when none): on a
// unified host /sys/fs/cgroup, on a hybrid one usually /sys/fs/cgroup/unified.
std::string find_cgroup2_mount(const std::string& mountinfo = "/proc/self/mountinfo");

class CgroupResolver {
 public:
  enum class Result { Found, Gone, Unknown };

  // `mount`: the cgroup v2 mount point. Throws std::runtime_error when it
  // cannot be opened. `use_handles` false: always walk (tests of the fallback).
  explicit CgroupResolver(std::string mount, bool use_handles = true);
  ~CgroupResolver();
  CgroupResolver(const CgroupResolver&) = delete;
  CgroupResolver& operator=(const CgroupResolver&) = delete;

  // The cgroup's path inside the hierarchy ("/system.slice/x.scope", "/"
  // for the root).
  Result resolve(uint64_t id, std::string* path);
  // Whether the cgroup at `path` still exists and is the one with this id.
  bool exists(uint64_t id, const std::string& path) const;

  const std::string& mount() const { return mount_; }
  bool using_handles() const { return handles_; }
  uint64_t walks() const { return walks_; }

 private:
  Result resolve_by_handle(uint64_t id, std::string* path);
  Result resolve_by_walk(uint64_t id, std::string* path);

  std::string mount_;
  int mount_fd_ = -1;
  bool handles_ = true;
  uint64_t walks_ = 0;
};

struct CgroupEntry {
  uint64_t id = 0;
  bool resolved = false;  // false: gone or unknown (a cached negative answer)
  std::string path;
  ContainerInfo container;
  std::string short_id;  // first 12 characters of container.id
  // The values above as JSON strings (quoted, escaped), rendered once so that
  // enriching an event copies them (IEventEditor::add_json) instead of
  // escaping them again: on a cache hit, most of the cost was that escaping.
  struct Json {
    std::string path, id, short_id, runtime, pod_uid;  // empty when the value is
    // What enrichment adds to an event of this cgroup, as IEventEditor::
    // add_members takes it: with and without cgroup_path (see
    // render_members; empty when nothing is added).
    std::string members_with_path, members_without_path;
  } json;
};

// The fields enrichment adds (SPEC.md), in this order: cgroup_path (when
// `with_path`); container_id, container_full_id and container_runtime (when
// known) for a process in a container; pod_uid when known. As `"name":value`
// members without a leading comma.
std::string render_members(const CgroupEntry& e, bool with_path);

struct CgroupCacheStats {
  uint64_t hits = 0, misses = 0, resolved = 0, unresolved = 0;
  uint64_t removed = 0;  // entries dropped because their cgroup was gone
  uint64_t evicted = 0;  // entries dropped for room
  uint64_t sweeps = 0;
};

class CgroupCache {
 public:
  struct Options {
    size_t capacity = 8192;
    uint64_t sweep_interval_ns = 30'000'000'000ull;
  };

  CgroupCache(std::string mount, Options options);

  // The entry of cgroup `id` (never null; entry->resolved says whether the
  // path is known). `now_ns`: the event's time, drives the sweeps. The
  // pointer is valid until the next call.
  const CgroupEntry* lookup(uint64_t id, uint64_t now_ns) {
    if (id == last_id_ && last_) {
      ++stats_.hits;
      return last_;
    }
    return lookup_slow(id, now_ns);
  }

  void set_options(Options options) { options_ = options; }
  const Options& options() const { return options_; }
  const CgroupCacheStats& stats() const { return stats_; }
  size_t size() const { return map_.size(); }
  const CgroupResolver& resolver() const { return resolver_; }
  // Checks every entry now (what the periodic sweep does).
  void sweep();

 private:
  const CgroupEntry* lookup_slow(uint64_t id, uint64_t now_ns);
  void make_room();

  CgroupResolver resolver_;
  Options options_;
  std::unordered_map<uint64_t, std::unique_ptr<CgroupEntry>> map_;
  std::deque<uint64_t> order_;  // insertion order, for eviction
  uint64_t last_id_ = 0;
  const CgroupEntry* last_ = nullptr;
  uint64_t last_sweep_ns_ = 0;
  CgroupCacheStats stats_;
};

// The cache the built-in processors share (enrichment and the container
// filter ask about the same cgroups). Created on first use on the mount
// found in /proc/self/mountinfo, or `mount` when not empty; later callers
// get the same object while one holder keeps it. Throws when there is no
// cgroup v2 hierarchy.
std::shared_ptr<CgroupCache> shared_cgroup_cache(const std::string& mount = "");

}  // namespace leaf::core
