// Example Leaf probe plugin, built against the installed SDK only: every
// signal generated on the host, who sent which signal to whom. One
// tracepoint, one event type; SkeletonProbe does the BPF object's life cycle.
#include "signals.h"

#include <leaf/sdk/skeleton.hpp>

#include "signals.skel.h"

namespace {

using namespace leaf::sdk;

const FieldDesc kFields[] = {
    LEAF_FIELD(signal_event, pid, U32),           LEAF_FIELD(signal_event, tgid, U32),
    LEAF_FIELD(signal_event, uid, U32),           LEAF_FIELD(signal_event, comm, Chars),
    LEAF_FIELD(signal_event, target_pid, U32),    LEAF_FIELD(signal_event, target_tgid, U32),
    LEAF_FIELD(signal_event, target_comm, Chars), LEAF_FIELD(signal_event, signal, I32),
    LEAF_FIELD(signal_event, result, I32),
};
const EventTypeDesc kTypes[] = {fixed_event_type<signal_event>(
    "signal_generate", Category::Process, kFields, "a signal was sent to a task")};

const ConfigOption kOptions[] = {
    {"signal", OptionType::Int, "0", 0, 64, nullptr, "report only this signal (0: every signal)"},
    LEAF_OPTION_RING_BUFFER_SIZE("256K"),
    LEAF_OPTION_HOOKS_SKIP,
};

class SignalsProbe final : public SkeletonProbe<signals_bpf> {
 public:
  explicit SignalsProbe(IHost* host) : SkeletonProbe(host, kTypes) {}

 private:
  ProbeSelection configure(signals_bpf& skel) override {
    skel.rodata->only_signal = static_cast<int32_t>(cfg_int("signal"));
    return {};  // its one probe, signal_generate, must attach
  }
};

}  // namespace

LEAF_PLUGIN(SignalsProbe, Probe, "signals", "1.0.0",
            "Example probe: every signal generated, with sender and target", kOptions)
