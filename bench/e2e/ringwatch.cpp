// e2e-ringwatch: high-water marks of a process's BPF ring buffers.
//   e2e-ringwatch PID
// Finds the ring buffers PID holds (/proc/PID/fdinfo), maps each one's
// consumer and producer position pages read-only and samples
// producer_pos - consumer_pos (bytes written by the kernel, not yet consumed)
// every 200 us. "mark" on stdin prints one JSON line with the highest fill of
// each ring since the previous mark; "quit" exits.
#include <bpf/bpf.h>
#include <dirent.h>
#include <poll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

struct Ring {
  uint32_t id = 0;
  std::string name;
  uint32_t size = 0;
  const volatile uint64_t* cons = nullptr;
  const volatile uint64_t* prod = nullptr;
  std::atomic<uint64_t> hwm{0};
};

std::vector<uint32_t> ring_ids(int pid) {
  std::vector<uint32_t> ids;
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (!d) return ids;
  while (dirent* e = readdir(d)) {
    std::ifstream in(dir + "/" + e->d_name);
    int type = -1;
    uint32_t id = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("map_type:", 0) == 0) type = std::atoi(line.c_str() + 9);
      if (line.rfind("map_id:", 0) == 0) id = uint32_t(std::atoi(line.c_str() + 7));
    }
    if (type == BPF_MAP_TYPE_RINGBUF && id && std::find(ids.begin(), ids.end(), id) == ids.end())
      ids.push_back(id);
  }
  closedir(d);
  return ids;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: e2e-ringwatch PID\n");
    return 2;
  }
  const long page = sysconf(_SC_PAGESIZE);
  std::vector<Ring*> rings;
  for (uint32_t id : ring_ids(std::atoi(argv[1]))) {
    int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len)) continue;
    void* c = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, 0);
    void* p = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, page);
    if (c == MAP_FAILED || p == MAP_FAILED) {
      perror("e2e-ringwatch: mmap");
      continue;
    }
    auto* r = new Ring;
    r->id = id;
    r->name = info.name;
    r->size = info.max_entries;
    r->cons = static_cast<const volatile uint64_t*>(c);
    r->prod = static_cast<const volatile uint64_t*>(p);
    rings.push_back(r);
  }
  std::printf("{\"rings\":%zu}\n", rings.size());
  std::fflush(stdout);
  std::string pending;
  for (;;) {
    for (Ring* r : rings) {
      uint64_t cons = *r->cons, prod = *r->prod;
      uint64_t fill = prod > cons ? prod - cons : 0;
      if (fill > r->hwm) r->hwm = fill;
    }
    pollfd pfd{0, POLLIN, 0};
    if (poll(&pfd, 1, 0) <= 0) {
      timespec ts{0, 200000};
      nanosleep(&ts, nullptr);
      continue;
    }
    char buf[256];
    ssize_t n = read(0, buf, sizeof(buf));
    if (n <= 0) return 0;
    pending.append(buf, size_t(n));
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line == "quit") return 0;
      if (line != "mark") continue;
      std::string out = "{\"rings\":[";
      for (size_t i = 0; i < rings.size(); ++i) {
        Ring* r = rings[i];
        char one[256];
        std::snprintf(one, sizeof(one),
                      "%s{\"id\":%u,\"name\":\"%s\",\"size\":%u,\"hwm_bytes\":%llu}", i ? "," : "",
                      r->id, r->name.c_str(), r->size,
                      static_cast<unsigned long long>(r->hwm.load()));
        out += one;
        r->hwm = 0;
      }
      std::printf("%s]}\n", out.c_str());
      std::fflush(stdout);
    }
  }
}
