#include "security/capabilities.hpp"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

namespace leaf::core::security {

namespace {

std::string errno_text() { return std::strerror(errno); }

// Sets permitted and effective (inheritable empty) for the calling thread.
bool set_proc(const CapSet& permitted, const CapSet& effective) {
  cap_t c = cap_init();
  if (!c) return false;
  std::vector<cap_value_t> p(permitted.begin(), permitted.end()),
      e(effective.begin(), effective.end());
  bool ok = (p.empty() ||
             cap_set_flag(c, CAP_PERMITTED, static_cast<int>(p.size()), p.data(), CAP_SET) == 0) &&
            (e.empty() ||
             cap_set_flag(c, CAP_EFFECTIVE, static_cast<int>(e.size()), e.data(), CAP_SET) == 0) &&
            cap_set_proc(c) == 0;
  int saved = errno;
  cap_free(c);
  errno = saved;
  return ok;
}

std::string switch_user(const std::string& user, const std::string& group) {
  uid_t uid = getuid();
  gid_t gid = getgid();
  if (!user.empty()) {
    passwd* pw = getpwnam(user.c_str());
    if (!pw) return "security.user: no user '" + user + "' on this system";
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  if (!group.empty()) {
    struct group* gr = getgrnam(group.c_str());
    if (!gr) return "security.group: no group '" + group + "' on this system";
    gid = gr->gr_gid;
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return "PR_SET_KEEPCAPS: " + errno_text();
  if (setgroups(1, &gid) != 0) return "setgroups: " + errno_text();
  if (setresgid(gid, gid, gid) != 0)
    return "setresgid(" + std::to_string(gid) + "): " + errno_text();
  if (setresuid(uid, uid, uid) != 0)
    return "setresuid(" + std::to_string(uid) + "): " + errno_text();
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  return {};
}

uint64_t hex_field(const std::string& line) {
  return std::strtoull(line.c_str() + line.find(':') + 1, nullptr, 16);
}

}  // namespace

std::string cap_name(int cap) {
  char* n = cap_to_name(static_cast<cap_value_t>(cap));
  std::string s = n ? n : "";
  if (n) cap_free(n);
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    return "CAP_" + std::to_string(cap);
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string cap_list(const CapSet& caps) {
  std::string out;
  for (int c : caps) out += (out.empty() ? "" : ", ") + cap_name(c);
  return out.empty() ? "none" : out;
}

CapSet caps_from_mask(uint64_t mask) {
  CapSet s;
  for (int i = 0; i < 64; ++i)
    if (mask & (uint64_t{1} << i)) s.insert(i);
  return s;
}

uint64_t mask_of(const CapSet& caps) {
  uint64_t m = 0;
  for (int c : caps) m |= uint64_t{1} << c;
  return m;
}

bool read_thread_caps(int pid, int tid, ThreadCaps* out) {
  std::string path = "/proc/" + std::to_string(pid) +
                     (tid ? "/task/" + std::to_string(tid) : std::string()) + "/status";
  std::ifstream in(path);
  if (!in) return false;
  int seen = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("CapInh:", 0) == 0)
      out->inheritable = hex_field(line), ++seen;
    else if (line.rfind("CapPrm:", 0) == 0)
      out->permitted = hex_field(line), ++seen;
    else if (line.rfind("CapEff:", 0) == 0)
      out->effective = hex_field(line), ++seen;
    else if (line.rfind("CapBnd:", 0) == 0)
      out->bounding = hex_field(line), ++seen;
    else if (line.rfind("CapAmb:", 0) == 0)
      out->ambient = hex_field(line), ++seen;
  }
  return seen == 5;
}

// The capabilities this thread holds in `flag` (CAP_PERMITTED...).
CapSet held(cap_flag_t flag) {
  CapSet out;
  cap_t c = cap_get_proc();
  if (!c) return out;
  for (int i = 0; i < static_cast<int>(cap_max_bits()); ++i) {
    cap_flag_value_t v = CAP_CLEAR;
    if (cap_get_flag(c, static_cast<cap_value_t>(i), flag, &v) == 0 && v == CAP_SET) out.insert(i);
  }
  cap_free(c);
  return out;
}

CapSet intersect(const CapSet& a, const CapSet& b) {
  CapSet out;
  for (int c : a)
    if (b.count(c)) out.insert(c);
  return out;
}

std::string drop_privileges(const DropPlan& wanted, DropPlan* applied) {
  // What was never granted cannot be kept: the plan within what is held.
  DropPlan plan = wanted;
  CapSet permitted_now = held(CAP_PERMITTED);
  plan.permitted = intersect(plan.permitted, permitted_now);
  plan.effective = intersect(plan.effective, plan.permitted);
  if (applied) *applied = plan;
  // Before CAP_SYS_RESOURCE goes: BPF maps on kernels before 5.11 are
  // charged to RLIMIT_MEMLOCK, and a reload must still be able to create them.
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  setrlimit(RLIMIT_MEMLOCK, &unlimited);  // best effort: 5.11+ does not use it

  // The bounding set shrinks to what is kept. Without CAP_SETPCAP (a
  // non-root user with file capabilities) it cannot, and need not: with
  // no_new_privs (below) no execve regains anything.
  CapSet bounding_now;
  for (int c = 0; c < static_cast<int>(cap_max_bits()); ++c)
    if (cap_get_bound(static_cast<cap_value_t>(c)) == 1) bounding_now.insert(c);
  bool can_shrink = held(CAP_EFFECTIVE).count(CAP_SETPCAP) > 0;
  CapSet bounding_after = can_shrink ? intersect(bounding_now, plan.permitted) : bounding_now;
  for (int c : bounding_now)
    if (!bounding_after.count(c) && cap_drop_bound(static_cast<cap_value_t>(c)) != 0)
      return "dropping " + cap_name(c) + " from the bounding set: " + errno_text();
  if (applied) applied->bounding = bounding_after;
  if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() != 0)
    return "emptying the ambient set: " + errno_text();
  if (!plan.user.empty() || !plan.group.empty())
    if (std::string why = switch_user(plan.user, plan.group); !why.empty()) return why;
  if (!set_proc(plan.permitted, plan.effective))
    return "setting permitted {" + cap_list(plan.permitted) + "}, effective {" +
           cap_list(plan.effective) + "}: " + errno_text();
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "PR_SET_NO_NEW_PRIVS: " + errno_text();

  // Capabilities belong to threads: every thread must hold the planned sets.
  ThreadCaps want;
  want.permitted = mask_of(plan.permitted);
  want.effective = mask_of(plan.effective);
  want.bounding = mask_of(bounding_after);
  DIR* d = opendir("/proc/self/task");
  if (!d) return "cannot list /proc/self/task: " + errno_text();
  std::string bad;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int tid = std::atoi(e->d_name);
    ThreadCaps got;
    if (!read_thread_caps(getpid(), tid, &got)) continue;  // exited meanwhile
    if (!(got == want)) bad += (bad.empty() ? "" : ", ") + std::to_string(tid);
  }
  closedir(d);
  if (!bad.empty()) return "threads " + bad + " still hold other capabilities than planned";
  return {};
}

EffectiveForLoad::EffectiveForLoad()
    : permitted_(held(CAP_PERMITTED)), effective_(held(CAP_EFFECTIVE)) {
  if (permitted_ != effective_) set_proc(permitted_, permitted_);
}

EffectiveForLoad::~EffectiveForLoad() {
  if (permitted_ != effective_) set_proc(permitted_, effective_);
}

}  // namespace leaf::core::security
