// leaf_e2e_tick: a benchmark-only probe plugin (bench/e2e). One "bench_tick"
// event per getppid() call of a thread named "e2e-tick"; category network,
// keyed by src_ip like tcp_connect. Never installed: it is built into the
// bench build directory and the e2e driver puts it next to the real plugins.
#include <cstring>
#include <leaf/sdk/probe.hpp>

#include "tick.h"
#include "tick.skel.h"

namespace {

using namespace leaf::sdk;

const FieldDesc kFields[] = {
    LEAF_FIELD(e2e_tick_event, seq, U64),      LEAF_FIELD(e2e_tick_event, pid, U32),
    LEAF_FIELD(e2e_tick_event, tgid, U32),     LEAF_FIELD(e2e_tick_event, cgroup_id, U64),
    LEAF_FIELD(e2e_tick_event, comm, Chars),   LEAF_FIELD(e2e_tick_event, src_ip, Ipv4),
    LEAF_FIELD(e2e_tick_event, dst_ip, Ipv4),  LEAF_FIELD(e2e_tick_event, src_port, U16),
    LEAF_FIELD(e2e_tick_event, dst_port, U16), LEAF_FIELD(e2e_tick_event, cpu, U32),
};

const EventTypeDesc kTypes[] = {
    {.name = "bench_tick",
     .category = Category::Network,
     .fields = kFields,
     .field_count = sizeof(kFields) / sizeof(kFields[0]),
     .fixed_size = sizeof(e2e_tick_event),
     .max_size = sizeof(e2e_tick_event),
     .key_field = nullptr,
     .description = "benchmark load: one event per getppid() of a thread named e2e-tick"},
};

const ConfigOption kOptions[] = {
    {"ring_buffer_size", OptionType::Size, "\"1M\"", 4096, 1LL << 30, nullptr,
     "ring buffer size in bytes (rounded up to a power of two)"},
    {"hooks.skip", OptionType::StringList, "[]", 0, 0, nullptr,
     "hook kinds not to use even when available (tp_btf, raw_tp)"},
};

class TickProbe final : public ProbePluginBase {
 public:
  explicit TickProbe(IHost* host) : ProbePluginBase(host, kTypes, 1) {}
  ~TickProbe() override {
    detach();
    tick_bpf::destroy(skel_);
  }

 private:
  void do_open() override {
    skel_ = tick_bpf::open(leaf::sdk::bpf_open_opts());
    if (!skel_) throw PluginError(std::string("opening the BPF object: ") + std::strerror(errno));
    apply_ring_settings(skel_->rodata);
    bpf_map__set_max_entries(skel_->maps.events, ring_buffer_bytes(cfg_int("ring_buffer_size")));
    size_t elf_size = 0;
    const void* elf = tick_bpf::elf_bytes(&elf_size);
    select_hooks(elf, elf_size, skel_->obj, skip_mask_from(cfg_strings("hooks.skip")),
                 {"e2e_tick"});
    if (int err = tick_bpf::load(skel_))
      throw PluginError(std::string("loading the BPF object: ") + std::strerror(-err));
  }

  void do_start() override {
    attach_selected(skel_->obj);
    add_ring(skel_->maps.events, skel_->maps.counters, nullptr, skel_->maps.bss,
             ticking_offset_in(skel_->bss));
  }

  tick_bpf* skel_ = nullptr;
};

}  // namespace

LEAF_PLUGIN(TickProbe, Probe, "e2e_tick", "1.0.0",
            "Benchmark-only probe: one event per getppid() of a thread named e2e-tick", kOptions)
