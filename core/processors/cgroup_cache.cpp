#include "processors/cgroup_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "pipeline/json_writer.hpp"

namespace leaf::core {

namespace {

// kernfs's file handle type (include/linux/exportfs.h FILEID_KERNFS).
constexpr int kFileIdKernfs = 0xfe;

// Mountinfo escapes spaces and such as \040.
std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        if (s[i + k] < '0' || s[i + k] > '7')
          ok = false;
        else
          v = v * 8 + (s[i + k] - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::string find_cgroup2_mount(const std::string& mountinfo) {
  std::ifstream in(mountinfo);
  std::string line;
  // Fields: id parent major:minor root mount-point options [optional...] - fstype source super.
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::vector<std::string> f;
    for (std::string w; ss >> w;) f.push_back(w);
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 1 >= f.size() || f.size() < 5) continue;
    // Only a mount of the hierarchy's root gives paths that are whole.
    if (f[dash + 1] == "cgroup2" && f[3] == "/") return unescape_mountinfo(f[4]);
  }
  return {};
}

CgroupResolver::CgroupResolver(std::string mount, bool use_handles)
    : mount_(std::move(mount)), handles_(use_handles) {
  while (mount_.size() > 1 && mount_.back() == '/') mount_.pop_back();
  mount_fd_ = ::open(mount_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mount_fd_ < 0)
    throw std::runtime_error("cannot open the cgroup v2 mount " + mount_ + ": " +
                             std::strerror(errno));
}

CgroupResolver::~CgroupResolver() {
  if (mount_fd_ >= 0) ::close(mount_fd_);
}

CgroupResolver::Result CgroupResolver::resolve(uint64_t id, std::string* path) {
  if (id == 0) return Result::Unknown;
  if (handles_) {
    Result r = resolve_by_handle(id, path);
    if (handles_) return r;  // still usable: its answer stands
  }
  return resolve_by_walk(id, path);
}

CgroupResolver::Result CgroupResolver::resolve_by_handle(uint64_t id, std::string* path) {
  struct {
    file_handle fh;
    unsigned char id[8];
  } h{};
  h.fh.handle_bytes = sizeof(id);
  h.fh.handle_type = kFileIdKernfs;
  std::memcpy(h.fh.f_handle, &id, sizeof(id));
  int fd = ::open_by_handle_at(mount_fd_, &h.fh, O_PATH | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ESTALE || errno == ENOENT) return Result::Gone;
    // EPERM (no CAP_DAC_READ_SEARCH), EOPNOTSUPP/EINVAL (no kernfs handles):
    // fall back to walking, for good.
    handles_ = false;
    return Result::Unknown;
  }
  char link[64], buf[4096];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(link, buf, sizeof(buf));
  ::close(fd);
  if (n <= 0 || n >= static_cast<ssize_t>(sizeof(buf))) return Result::Unknown;
  std::string_view full(buf, static_cast<size_t>(n));
  // readlink names the directory as this process sees it: under the mount.
  if (full.substr(0, mount_.size()) != mount_) return Result::Unknown;
  full.remove_prefix(mount_ == "/" ? 0 : mount_.size());
  if (full.empty()) full = "/";
  if (full.front() != '/') return Result::Unknown;
  // A directory removed while we held it is shown with " (deleted)".
  if (full.size() > 10 && full.substr(full.size() - 10) == " (deleted)") return Result::Gone;
  path->assign(full);
  return Result::Found;
}

// Depth-first walk comparing inode numbers; `rel` is the directory's path
// inside the hierarchy.
static bool walk_find(int dirfd, const std::string& rel, uint64_t id, std::string* out) {
  DIR* d = ::fdopendir(dirfd);
  if (!d) {
    ::close(dirfd);
    return false;
  }
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
    std::string child = (rel == "/" ? "" : rel) + "/" + e->d_name;
    if (e->d_ino == id) {
      *out = child;
      found = true;
      break;
    }
    int fd = ::openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && walk_find(fd, child, id, out)) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

CgroupResolver::Result CgroupResolver::resolve_by_walk(uint64_t id, std::string* path) {
  ++walks_;
  struct stat st;
  if (::fstat(mount_fd_, &st) == 0 && st.st_ino == id) {
    *path = "/";
    return Result::Found;
  }
  int fd = ::openat(mount_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Result::Unknown;
  return walk_find(fd, "/", id, path) ? Result::Found : Result::Gone;
}

bool CgroupResolver::exists(uint64_t id, const std::string& path) const {
  struct stat st;
  const char* rel = path == "/" ? "." : path.c_str() + 1;
  return ::fstatat(mount_fd_, rel, &st, 0) == 0 && st.st_ino == id;
}

CgroupCache::CgroupCache(std::string mount, Options options)
    : resolver_(std::move(mount)), options_(options) {}

std::string render_members(const CgroupEntry& e, bool with_path) {
  std::string out;
  auto add = [&](const char* name, const std::string& json) {
    if (json.empty()) return;
    if (!out.empty()) out += ',';
    out += '"';
    out += name;
    out += "\":";
    out += json;
  };
  if (with_path) add("cgroup_path", e.json.path);
  if (!e.container.id.empty()) {
    add("container_id", e.json.short_id);
    add("container_full_id", e.json.id);
    add("container_runtime", e.json.runtime);
  }
  add("pod_uid", e.json.pod_uid);
  return out;
}

const CgroupEntry* CgroupCache::lookup_slow(uint64_t id, uint64_t now_ns) {
  if (last_sweep_ns_ == 0) last_sweep_ns_ = now_ns;
  if (now_ns > last_sweep_ns_ + options_.sweep_interval_ns) {
    last_sweep_ns_ = now_ns;
    sweep();
  }
  if (auto it = map_.find(id); it != map_.end()) {
    ++stats_.hits;
    last_id_ = id;
    last_ = it->second.get();
    return last_;
  }
  ++stats_.misses;
  if (map_.size() >= options_.capacity) make_room();
  auto e = std::make_unique<CgroupEntry>();
  e->id = id;
  if (resolver_.resolve(id, &e->path) == CgroupResolver::Result::Found) {
    ++stats_.resolved;
    e->resolved = true;
    e->container = parse_container(e->path);
    e->short_id = e->container.short_id();
    auto render = [](const std::string& v, std::string* out) {
      if (!v.empty()) JsonWriter(*out).string(v);
    };
    render(e->path, &e->json.path);
    render(e->container.id, &e->json.id);
    render(e->short_id, &e->json.short_id);
    render(e->container.runtime, &e->json.runtime);
    render(e->container.pod_uid, &e->json.pod_uid);
    e->json.members_with_path = render_members(*e, true);
    e->json.members_without_path = render_members(*e, false);
  } else {
    ++stats_.unresolved;
  }
  last_id_ = id;
  last_ = e.get();
  map_.emplace(id, std::move(e));
  order_.push_back(id);
  return last_;
}

void CgroupCache::sweep() {
  ++stats_.sweeps;
  last_ = nullptr;
  for (auto it = map_.begin(); it != map_.end();) {
    const CgroupEntry& e = *it->second;
    if (!e.resolved || !resolver_.exists(e.id, e.path)) {
      ++stats_.removed;
      it = map_.erase(it);
    } else {
      ++it;
    }
  }
  std::deque<uint64_t> order;
  for (uint64_t id : order_)
    if (map_.count(id)) order.push_back(id);
  order_.swap(order);
}

void CgroupCache::make_room() {
  sweep();
  // Still full of live cgroups: the oldest eighth goes.
  size_t target = options_.capacity - options_.capacity / 8 - 1;
  if (options_.capacity <= 8) target = options_.capacity - 1;
  while (map_.size() > target && !order_.empty()) {
    if (map_.erase(order_.front())) ++stats_.evicted;
    order_.pop_front();
  }
}

std::shared_ptr<CgroupCache> shared_cgroup_cache(const std::string& mount) {
  static std::mutex mu;
  static std::weak_ptr<CgroupCache> shared;
  std::lock_guard<std::mutex> lock(mu);
  auto cache = shared.lock();
  if (cache && (mount.empty() || cache->resolver().mount() == mount)) return cache;
  std::string m = mount.empty() ? find_cgroup2_mount() : mount;
  if (m.empty())
    throw std::runtime_error("no cgroup v2 hierarchy is mounted (/proc/self/mountinfo)");
  cache = std::make_shared<CgroupCache>(m, CgroupCache::Options{});
  shared = cache;
  return cache;
}

}  // namespace leaf::core
