// Choosing each probe's hook at load time: fentry, kprobe, tp_btf, raw_tp or
// tracepoint, the best one that loads *and attaches* on this kernel.
//
// Plugin-side helper (header-only C++ on libbpf; never crosses the ABI).
// Programs follow the naming rule of bpf/leaf.bpf.h: <probe>__<hook>[__<part>].
// All programs of one probe with the same hook kind form one candidate. For
// every probe, candidates are tried in the order of HookKind: each in an
// object of its own, opened from the same ELF bytes with only that
// candidate's programs loaded and with its maps shrunk, loaded and attached,
// then closed. A feature test that only loaded would pass fentry on kernels
// where it then fails to attach. One exception to the order: a tp_btf or
// raw_tp candidate on the raw syscall tracepoints (sys_enter/sys_exit, which
// run for every syscall on the machine) is tried after the tracepoint
// candidate (tracefs's per-syscall tracepoints, e.g. syscalls/sys_exit_accept4).
#pragma once

#include <bpf/libbpf.h>
#include <leaf/sdk/abi.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <leaf/sdk/btf.hpp>
#include <map>
#include <string>
#include <vector>

namespace leaf::sdk::hooks {

// Why a probe its configuration does not need is not loaded
// (ProbeSelection::Others::Unused). SDK 1.0's skeleton still listed such a
// probe, with hook None and this ProbeInfo::detail: the host neither counts
// it as a probe that cannot run (--check) nor exports it as detached.
inline constexpr char kNotNeeded[] = "not needed by this configuration";

inline HookKind kind_of_section(const char* sec) {
  auto starts = [sec](const char* p) { return std::strncmp(sec, p, std::strlen(p)) == 0; };
  if (starts("fentry/") || starts("fexit/") || starts("fmod_ret/")) return HookKind::Fentry;
  if (starts("kprobe/") || starts("kretprobe/") || starts("ksyscall/") || starts("kretsyscall/"))
    return HookKind::Kprobe;
  if (starts("tp_btf/")) return HookKind::TpBtf;
  if (starts("raw_tp/") || starts("raw_tracepoint/")) return HookKind::RawTp;
  if (starts("tp/") || starts("tracepoint/")) return HookKind::Tracepoint;
  return HookKind::Other;
}

inline const char* hook_name(HookKind k) {
  switch (k) {
    case HookKind::None:
      return "none";
    case HookKind::Fentry:
      return "fentry";
    case HookKind::Kprobe:
      return "kprobe";
    case HookKind::TpBtf:
      return "tp_btf";
    case HookKind::RawTp:
      return "raw_tp";
    case HookKind::Tracepoint:
      return "tracepoint";
    case HookKind::Other:
      return "other";
  }
  return "unknown";
}

// "fentry" -> bit of HookKind::Fentry; used for configuration switches that
// skip preferred hooks (forced fallback). Returns 0 for an unknown name.
inline uint32_t hook_bit(const std::string& name) {
  for (uint32_t k = 1; k <= static_cast<uint32_t>(HookKind::Other); ++k)
    if (name == hook_name(static_cast<HookKind>(k))) return 1u << k;
  return 0;
}

inline std::string probe_of_program(const char* prog_name) {
  const char* sep = std::strstr(prog_name, "__");
  return sep ? std::string(prog_name, sep) : std::string(prog_name);
}

struct Choice {
  std::string probe;
  HookKind hook = HookKind::None;
  std::vector<std::string> programs;  // of the winning candidate
  std::string detail;                 // why better candidates were passed over
  bool attached = false;
};

class Selector {
 public:
  // `elf`/`size`: the object's bytes (the skeleton's <name>__elf_bytes()).
  // `skip_mask`: bits (1 << HookKind) of hook kinds not to use.
  Selector(const void* elf, size_t size, uint32_t skip_mask = 0)
      : elf_(elf), size_(size), skip_mask_(skip_mask) {}

  // Tries candidates and returns one Choice per probe, in program order.
  // A probe with no working candidate has hook == None and the reasons in
  // detail.
  std::vector<Choice> select() {
    struct Candidate {
      HookKind kind = HookKind::None;
      bool every_syscall = true;  // all its programs on sys_enter/sys_exit
      std::vector<std::string> programs;
    };
    std::vector<std::string> order;
    std::map<std::string, std::map<HookKind, Candidate>> by_probe;
    {
      bpf_object* obj = bpf_object__open_mem(elf_, size_, bpf_open_opts());
      if (!obj) return {};
      bpf_program* p;
      bpf_object__for_each_program(p, obj) {
        std::string probe = probe_of_program(bpf_program__name(p));
        if (!by_probe.count(probe)) order.push_back(probe);
        const char* sec = bpf_program__section_name(p);
        Candidate& c = by_probe[probe][kind_of_section(sec)];
        c.kind = kind_of_section(sec);
        c.every_syscall = c.every_syscall && on_every_syscall(sec);
        c.programs.push_back(bpf_program__name(p));
      }
      bpf_object__close(obj);
    }
    std::vector<Choice> out;
    for (const auto& probe : order) {
      Choice c;
      c.probe = probe;
      for (const Candidate* cand : in_preference_order(by_probe[probe])) {
        HookKind kind = cand->kind;
        if (skip_mask_ & (1u << static_cast<uint32_t>(kind))) {
          append(c.detail, std::string(hook_name(kind)) + ": skipped by configuration");
          continue;
        }
        std::string why;
        if (try_candidate(cand->programs, &why)) {
          c.hook = kind;
          c.programs = cand->programs;
          break;
        }
        append(c.detail, std::string(hook_name(kind)) + ": " + why);
      }
      out.push_back(std::move(c));
    }
    return out;
  }

  // Loads only the chosen programs of `obj` (opened, not yet loaded).
  static void apply(bpf_object* obj, const std::vector<Choice>& choices) {
    bpf_program* p;
    bpf_object__for_each_program(p, obj) {
      bool keep = false;
      for (const auto& c : choices)
        for (const auto& name : c.programs)
          if (name == bpf_program__name(p)) keep = true;
      bpf_program__set_autoload(p, keep);
    }
  }

  // Attaches the chosen programs of a loaded `obj`; links are appended to
  // `links` (destroy them to detach). Returns 0 or a negative errno, with
  // the failing program in *error.
  static int attach(bpf_object* obj, std::vector<Choice>& choices, std::vector<bpf_link*>& links,
                    std::string* error) {
    for (auto& c : choices) {
      for (const auto& name : c.programs) {
        bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str());
        bpf_link* l = p ? bpf_program__attach(p) : nullptr;
        if (!l) {
          int err = p ? -errno : -ENOENT;
          if (error) *error = "attach " + name + ": " + std::strerror(-err);
          return err;
        }
        links.push_back(l);
      }
      c.attached = !c.programs.empty();
    }
    return 0;
  }

 private:
  // tp_btf/raw_tp on the raw syscall tracepoints: the program runs at every
  // syscall of every process on the machine (and the kernel takes the slow
  // syscall path for all of them), to act on a few syscalls.
  static bool on_every_syscall(const char* sec) {
    const char* slash = std::strchr(sec, '/');
    return kind_of_section(sec) != HookKind::Tracepoint && slash &&
           (std::strcmp(slash + 1, "sys_enter") == 0 || std::strcmp(slash + 1, "sys_exit") == 0);
  }

  // HookKind order, except that a tp_btf or raw_tp candidate on every
  // syscall goes right after the tracepoint candidate: tracefs's per-syscall
  // tracepoints (syscalls/sys_exit_accept4...) run only for the syscalls
  // they name. In the connect storm bench (bench/network) tcp_accept's
  // sys_exit program ran 7 times per connection, most for other syscalls.
  template <class Map>
  static std::vector<const typename Map::mapped_type*> in_preference_order(const Map& by_kind) {
    using C = typename Map::mapped_type;
    auto rank = [](const C* c) {
      return c->every_syscall ? 2 * static_cast<int>(HookKind::Tracepoint) + 1
                              : 2 * static_cast<int>(c->kind);
    };
    std::vector<const C*> out;
    for (const auto& kv : by_kind) out.push_back(&kv.second);
    std::stable_sort(out.begin(), out.end(),
                     [&](const C* a, const C* b) { return rank(a) < rank(b); });
    return out;
  }

  static void append(std::string& s, const std::string& more) {
    if (!s.empty()) s += "; ";
    s += more;
  }

  bool try_candidate(const std::vector<std::string>& programs, std::string* why) const {
    bpf_object* obj = bpf_object__open_mem(elf_, size_, bpf_open_opts());
    if (!obj) {
      *why = std::string("open: ") + std::strerror(errno);
      return false;
    }
    bpf_program* p;
    bpf_object__for_each_program(p, obj) {
      bool in = false;
      for (const auto& n : programs) in = in || n == bpf_program__name(p);
      bpf_program__set_autoload(p, in);
    }
    // Keep the test cheap: smallest ring buffers, small hash tables.
    bpf_map* m;
    bpf_object__for_each_map(m, obj) {
      switch (bpf_map__type(m)) {
        case BPF_MAP_TYPE_RINGBUF:
          bpf_map__set_max_entries(m, 4096);
          break;
        case BPF_MAP_TYPE_HASH:
        case BPF_MAP_TYPE_LRU_HASH:
        case BPF_MAP_TYPE_PERCPU_HASH:
        case BPF_MAP_TYPE_LRU_PERCPU_HASH:
          if (bpf_map__max_entries(m) > 64) bpf_map__set_max_entries(m, 64);
          break;
        default:
          break;
      }
    }
    bool ok = true;
    if (int err = bpf_object__load(obj); err) {
      *why = std::string("load: ") + std::strerror(-err);
      ok = false;
    }
    std::vector<bpf_link*> links;
    if (ok) {
      for (const auto& n : programs) {
        bpf_link* l = bpf_program__attach(bpf_object__find_program_by_name(obj, n.c_str()));
        if (!l) {
          *why = "attach " + n + ": " + std::strerror(errno);
          ok = false;
          break;
        }
        links.push_back(l);
      }
    }
    for (auto* l : links) bpf_link__destroy(l);
    bpf_object__close(obj);
    return ok;
  }

  const void* elf_;
  size_t size_;
  uint32_t skip_mask_;
};

}  // namespace leaf::sdk::hooks
