// The probe plugin base (header-only, never part of the ABI): hook
// selection, links, probe reports, the event type table; a plugin fills in
// do_open/do_start. Kept apart from plugin.hpp so that a sink or processor
// plugin does not pull in libbpf.
#pragma once

#include <leaf/sdk/hooks.hpp>
#include <leaf/sdk/plugin.hpp>
#include <string>
#include <vector>

namespace leaf::sdk {

// The common shape of a probe plugin: a BPF object whose programs are chosen
// among hook candidates, attached at start, detached at stop.
class ProbePluginBase : public PluginBase<IProbePlugin> {
 public:
  Status open() noexcept override {
    return guarded([&] { do_open(); });
  }
  Status start() noexcept override {
    return guarded([&] {
      do_start();
      started_ = true;
    });
  }
  void stop() noexcept override {
    if (!started_) return;
    started_ = false;
    detach();
    try {
      do_stop();
    } catch (...) {
    }
  }

  Status reload() noexcept override {
    bool applied = false;
    Status s = guarded([&] { applied = do_reload(); });
    if (s != Status::Ok) return s;
    if (!applied) {
      error_ = "this plugin applies configuration changes at restart only";
      return Status::NotSupported;
    }
    return Status::Ok;
  }

  uint32_t probe_count() const noexcept override { return static_cast<uint32_t>(choices_.size()); }
  Status probe_info(uint32_t i, ProbeInfo* out) const noexcept override {
    if (i >= choices_.size() || !out) return Status::InvalidArgument;
    const auto& c = choices_[i];
    *out = ProbeInfo{sizeof(ProbeInfo),
                     view(c.probe),
                     c.hook,
                     c.programs.empty() ? StringView{"", 0} : view(c.programs.front()),
                     view(c.detail),
                     c.attached ? 1u : 0u};
    return Status::Ok;
  }
  uint32_t event_type_count() const noexcept override { return type_count_; }
  const EventTypeDesc* event_type(uint32_t i) const noexcept override {
    return i < type_count_ ? &types_[i] : nullptr;
  }
  void read_counters(ICounterVisitor*) noexcept override {}

 protected:
  ProbePluginBase(IHost* host, const EventTypeDesc* types, uint32_t type_count)
      : PluginBase(host), types_(types), type_count_(type_count) {}
  ~ProbePluginBase() override { detach(); }

  virtual void do_open() = 0;   // configure, select hooks, load
  virtual void do_start() = 0;  // attach_selected(), register ring buffers
  virtual void do_stop() {}
  // Applies a changed configuration while running; returns false when this
  // plugin cannot (the default). Throw PluginError(..., Status::InvalidConfig)
  // to refuse the new values.
  virtual bool do_reload() { return false; }

  // Tries every probe's hook candidates (see hooks.hpp) and marks only the
  // winners for loading in `obj`. Probes named in `required` must find a
  // hook, or this throws naming them and the reasons.
  void select_hooks(const void* elf, size_t size, bpf_object* obj, uint32_t skip_mask,
                    const std::vector<std::string>& required) {
    hooks::Selector sel(elf, size, skip_mask);
    choices_ = sel.select();
    hooks::Selector::apply(obj, choices_);
    for (const auto& c : choices_) {
      bool needed = false;
      for (const auto& r : required) needed = needed || r == c.probe;
      if (c.hook == HookKind::None && needed)
        throw PluginError("probe '" + c.probe + "' has no usable hook on this kernel: " + c.detail,
                          Status::NotSupported);
      if (c.hook != HookKind::None)
        log(LogLevel::Debug, "probe " + c.probe + " uses " + hooks::hook_name(c.hook) +
                                 (c.detail.empty() ? "" : " (" + c.detail + ")"));
    }
  }

  // Skip mask from a StringList option of hook names ("fentry", "kprobe"...).
  uint32_t skip_mask_from(const std::vector<std::string>& names) const {
    uint32_t mask = 0;
    for (const auto& n : names) {
      uint32_t bit = hooks::hook_bit(n);
      if (!bit)
        throw PluginError("unknown hook '" + n + "' (fentry, kprobe, tp_btf, raw_tp, tracepoint)",
                          Status::InvalidConfig);
      mask |= bit;
    }
    return mask;
  }

  void attach_selected(bpf_object* obj) {
    std::string err;
    if (hooks::Selector::attach(obj, choices_, links_, &err) != 0) throw PluginError(err);
  }

  void detach() noexcept {
    for (auto* l : links_) bpf_link__destroy(l);
    links_.clear();
    for (auto& c : choices_) c.attached = false;
  }

  // Writes the host's ring-buffer wakeup policy into a skeleton's .rodata
  // (every object built with bpf/leaf.bpf.h has leaf_wakeup_delay_ns). Call
  // before load.
  template <class Rodata>
  void apply_ring_settings(Rodata* rodata) const {
    rodata->leaf_wakeup_delay_ns = host_->ring_wakeup_delay_ns();
  }

  // Registers a ring buffer with the host's dispatcher.
  void add_ring(bpf_map* ringbuf, bpf_map* counters, IRecordDecoder* decoder = nullptr) {
    RingBufferRegistration reg{sizeof(RingBufferRegistration),
                               bpf_map__fd(ringbuf),
                               counters ? bpf_map__fd(counters) : -1,
                               types_,
                               type_count_,
                               decoder};
    if (host_->add_ring_buffer(&reg) != Status::Ok)
      throw PluginError("host refused the ring buffer");
  }

  const EventTypeDesc* types_;
  uint32_t type_count_;
  std::vector<hooks::Choice> choices_;
  std::vector<bpf_link*> links_;
  bool started_ = false;
};

}  // namespace leaf::sdk
