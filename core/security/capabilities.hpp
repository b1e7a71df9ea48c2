// The process's Linux capabilities: names, what the process holds, and the
// drop that leaf-host makes once every plugin has loaded and attached
// (SPEC §8.1; the set each plugin needs is worked out in security/needs).
// libcap (Debian libcap-dev) names and sets the capabilities.
#pragma once

#include <cstdint>
#include <set>
#include <string>

namespace leaf::core::security {

using CapSet = std::set<int>;  // capability numbers (CAP_BPF = 39, ...)

// "CAP_BPF"; unknown numbers as "CAP_<n>".
std::string cap_name(int cap);
// "CAP_BPF, CAP_PERFMON" (sorted by number); "none" when empty.
std::string cap_list(const CapSet& caps);
// A /proc/<pid>/status capability mask (CapEff: 0000...) as a set, and back.
CapSet caps_from_mask(uint64_t mask);
uint64_t mask_of(const CapSet& caps);

// The sets one thread holds, from /proc/<pid>/task/<tid>/status (or
// /proc/<pid>/status when tid is 0). Returns false when unreadable.
struct ThreadCaps {
  uint64_t inheritable = 0, permitted = 0, effective = 0, bounding = 0, ambient = 0;
  bool operator==(const ThreadCaps&) const = default;
};
bool read_thread_caps(int pid, int tid, ThreadCaps* out);

struct DropPlan {
  CapSet permitted;  // also the bounding set; inheritable and ambient are emptied
  CapSet effective;  // a subset of permitted
  CapSet bounding;   // after a drop: the bounding set left (permitted, unless no CAP_SETPCAP)
  std::string user, group;  // switch to them when not empty
};

// Applies the plan to this process: raises RLIMIT_MEMLOCK to unlimited first
// (kernels before 5.11 charge BPF maps to it, and without CAP_SYS_RESOURCE it
// cannot be raised later), switches user and group (keeping the planned
// capabilities across setuid with PR_SET_KEEPCAPS), empties the ambient and
// inheritable sets, shrinks the bounding set to permitted (when CAP_SETPCAP
// allows; no_new_privs makes it moot otherwise), sets permitted and effective,
// sets no_new_privs, and checks every thread of the process holds exactly the
// planned sets (capabilities are per thread). Capabilities the process was
// never granted are left out of the plan (*applied: the plan carried out).
// Returns "" or what failed.
std::string drop_privileges(const DropPlan& plan, DropPlan* applied = nullptr);

// For a scope on the calling thread (the dispatcher thread, at SIGHUP: a
// probe enabled again loads and attaches): the permitted capabilities are
// made effective, and the effective set is put back afterwards. Only
// "reload" keeps what loading needs in permitted; otherwise nothing changes.
class EffectiveForLoad {
 public:
  EffectiveForLoad();
  ~EffectiveForLoad();
  EffectiveForLoad(const EffectiveForLoad&) = delete;
  EffectiveForLoad& operator=(const EffectiveForLoad&) = delete;

 private:
  CapSet permitted_, effective_;
};

}  // namespace leaf::core::security
