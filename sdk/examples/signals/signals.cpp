// Example Leaf probe plugin, built against the installed SDK only.
// It reports every signal generated on the host: who sent which signal to
// whom. One tracepoint, one event type, two options.
#include "signals.h"

#include <cstring>
#include <leaf/sdk/probe.hpp>

#include "signals.skel.h"

namespace {

using namespace leaf::sdk;

const FieldDesc kFields[] = {
    LEAF_FIELD(signal_event, pid, U32),
    LEAF_FIELD(signal_event, tgid, U32),
    LEAF_FIELD(signal_event, uid, U32),
    LEAF_FIELD(signal_event, comm, Chars),
    LEAF_FIELD(signal_event, target_pid, U32),
    LEAF_FIELD(signal_event, target_tgid, U32),
    LEAF_FIELD(signal_event, target_comm, Chars),
    LEAF_FIELD(signal_event, signal, I32),
    LEAF_FIELD(signal_event, result, I32),
};

const EventTypeDesc kTypes[] = {
    {.name = "signal_generate",
     .category = Category::Process,
     .fields = kFields,
     .field_count = sizeof(kFields) / sizeof(kFields[0]),
     .fixed_size = sizeof(signal_event),
     .max_size = sizeof(signal_event),
     .key_field = nullptr,
     .description = "a signal was sent to a task"},
};

const ConfigOption kOptions[] = {
    {"signal", OptionType::Int, "0", 0, 64, nullptr, "report only this signal number (0: every signal)"},
    {"ring_buffer_size", OptionType::Size, "\"256K\"", 4096, 1LL << 30, nullptr,
     "ring buffer size in bytes (rounded up to a power of two)"},
    {"hooks.skip", OptionType::StringList, "[]", 0, 0, nullptr,
     "hook kinds not to use even when available (tp_btf, raw_tp...)"},
};

class SignalsProbe final : public ProbePluginBase {
 public:
  explicit SignalsProbe(IHost* host) : ProbePluginBase(host, kTypes, 1) {}
  ~SignalsProbe() override {
    detach();
    signals_bpf::destroy(skel_);
  }

 private:
  void do_open() override {
    skel_ = signals_bpf::open(leaf::sdk::bpf_open_opts());
    if (!skel_) throw PluginError(std::string("opening the BPF object: ") + std::strerror(errno));
    skel_->rodata->only_signal = static_cast<int32_t>(cfg_int("signal"));
    apply_ring_settings(skel_->rodata);
    bpf_map__set_max_entries(skel_->maps.events, ring_buffer_bytes(cfg_int("ring_buffer_size")));
    size_t elf_size = 0;
    const void* elf = signals_bpf::elf_bytes(&elf_size);
    select_hooks(elf, elf_size, skel_->obj, skip_mask_from(cfg_strings("hooks.skip")),
                 {"signal_generate"});
    if (int err = signals_bpf::load(skel_))
      throw PluginError(std::string("loading the BPF object: ") + std::strerror(-err));
  }

  void do_start() override {
    attach_selected(skel_->obj);
    add_ring(skel_->maps.events, skel_->maps.counters);
  }

  signals_bpf* skel_ = nullptr;
};

}  // namespace

LEAF_PLUGIN(SignalsProbe, Probe, "signals", "1.0.0",
            "Example probe: every signal generated, with sender and target", kOptions)
