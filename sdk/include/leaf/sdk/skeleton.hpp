// SkeletonProbe<Skel>: the probe plugin base that owns a bpftool-generated
// C++ skeleton's life cycle (header-only, never part of the ABI).
//
//   open():  Skel::open -> ring size and wakeup policy -> configure(skel)
//            (.rodata, map sizes) -> hook selection -> Skel::load -> loaded()
//   start(): attach the chosen programs -> register the ring -> started()
//   stop():  detach; destruction: detach, then Skel::destroy.
//
// A plugin supplies its event types (the constructor), its settings
// (configure), the probes it needs (configure's return value) and whatever
// it does with the loaded maps (loaded, started, read_counters, do_reload).
//
// The BPF object follows bpf/leaf.bpf.h: one ring buffer declared with
// LEAF_RINGBUF(events), its counters with LEAF_COUNTERS(counters), programs
// named <probe>__<hook> (hooks.hpp). The plugin declares the options
// LEAF_OPTION_RING_BUFFER_SIZE and LEAF_OPTION_HOOKS_SKIP, or overrides
// ring_bytes() / hooks_skip_mask().
#pragma once

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <leaf/sdk/probe.hpp>
#include <string>
#include <vector>

// The two options every skeleton probe reads by default. `default_size` is
// a size literal without quotes: LEAF_OPTION_RING_BUFFER_SIZE("1M").
#define LEAF_OPTION_RING_BUFFER_SIZE(default_size)                                              \
  ::leaf::sdk::ConfigOption {                                                                   \
    "ring_buffer_size", ::leaf::sdk::OptionType::Size, "\"" default_size "\"", 4096, 1LL << 30, \
        nullptr, "ring buffer size in bytes (rounded up to a power of two)"                     \
  }
#define LEAF_OPTION_HOOKS_SKIP                                                        \
  ::leaf::sdk::ConfigOption {                                                         \
    "hooks.skip", ::leaf::sdk::OptionType::StringList, "[]", 0, 0, nullptr,           \
        "hook kinds not to use even when available (fentry, kprobe, tp_btf, raw_tp, " \
        "tracepoint)"                                                                 \
  }

namespace leaf::sdk {

// The probes (program name prefixes, see hooks.hpp) one configuration needs.
struct ProbeSelection {
  enum class Others {
    Required,  // every probe must find a hook (the default)
    Optional,  // probes not in `required` are loaded when a hook works here
    Unused,    // probes not in `required` are not loaded at all
  };
  // Probes that must find a hook on this kernel, or open() fails naming them.
  std::vector<std::string> required;
  Others others = Others::Required;
};

template <class Skel>
class SkeletonProbe : public ProbePluginBase {
 protected:
  template <size_t N>
  SkeletonProbe(IHost* host, const EventTypeDesc (&types)[N])
      : ProbePluginBase(host, types, static_cast<uint32_t>(N)) {}
  SkeletonProbe(IHost* host, const EventTypeDesc* types, uint32_t type_count)
      : ProbePluginBase(host, types, type_count) {}
  // Links go before the object they point into.
  ~SkeletonProbe() override {
    detach();
    Skel::destroy(skel_);
    skel_ = nullptr;
  }

  // Writes the plugin's load-time settings into the opened, not yet loaded
  // skeleton (.rodata, map sizes; the ring size and wakeup policy are set
  // already and may be changed here) and names the probes it needs.
  virtual ProbeSelection configure(Skel& skel) = 0;
  // After load, before attach: fill maps from the configuration.
  virtual void loaded(Skel&) {}
  // After attach and ring registration: timers, baselines.
  virtual void started(Skel&) {}

  // Load-time settings read from the standard options; override when a
  // plugin declares them differently.
  virtual uint32_t ring_bytes() const { return ring_buffer_bytes(cfg_int("ring_buffer_size")); }
  virtual uint32_t hooks_skip_mask() const { return skip_mask_from(cfg_strings("hooks.skip")); }
  // A decoder for records the host's tables cannot describe; none by default.
  virtual IRecordDecoder* decoder() { return nullptr; }

  Skel* skel_ = nullptr;  // null until open()

 private:
  void do_open() final {
    skel_ = Skel::open(bpf_open_opts());
    if (!skel_) throw PluginError(std::string("opening the BPF object: ") + std::strerror(errno));
    apply_ring_settings(skel_->rodata);
    bpf_map__set_max_entries(skel_->maps.events, ring_bytes());
    ProbeSelection wanted = configure(*skel_);
    size_t elf_size = 0;
    const void* elf = Skel::elf_bytes(&elf_size);
    select_hooks(elf, elf_size, skel_->obj, hooks_skip_mask(), required_of(wanted));
    if (wanted.others == ProbeSelection::Others::Unused) drop_unwanted(wanted.required);
    if (int err = Skel::load(skel_))
      throw PluginError(std::string("loading the BPF object: ") + std::strerror(-err));
    loaded(*skel_);
  }

  void do_start() final {
    attach_selected(skel_->obj);
    add_ring(skel_->maps.events, skel_->maps.counters, decoder(), skel_->maps.bss,
             ticking_offset_in(skel_->bss));
    started(*skel_);
  }

  // With Others::Required, every probe of the object.
  std::vector<std::string> required_of(const ProbeSelection& s) const {
    if (s.others != ProbeSelection::Others::Required) return s.required;
    std::vector<std::string> all;
    bpf_program* p = nullptr;
    bpf_object__for_each_program(p, skel_->obj) {
      std::string probe = hooks::probe_of_program(bpf_program__name(p));
      bool seen = false;
      for (const auto& a : all) seen = seen || a == probe;
      if (!seen) all.push_back(probe);
    }
    return all;
  }

  // Probes this configuration does not need: not loaded, and no longer
  // among the plugin's probes (--check, leaf_probe_attached), logged at debug.
  void drop_unwanted(const std::vector<std::string>& wanted) {
    for (auto it = choices_.begin(); it != choices_.end();) {
      bool needed = false;
      for (const auto& w : wanted) needed = needed || w == it->probe;
      if (needed) {
        ++it;
        continue;
      }
      for (const auto& name : it->programs)
        bpf_program__set_autoload(bpf_object__find_program_by_name(skel_->obj, name.c_str()),
                                  false);
      log(LogLevel::Debug, "probe " + it->probe + " not loaded: " + hooks::kNotNeeded);
      it = choices_.erase(it);
    }
  }
};

}  // namespace leaf::sdk
