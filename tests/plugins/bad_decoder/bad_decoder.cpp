// Test probe plugin with an IRecordDecoder that fails on purpose: records of
// close(BAD_DECODER_FD_BASE - k) by the configured process are emitted for
// even k and refused (Status::InvalidArgument) for odd k, so a test knows
// exactly how many decoder failures the host must count.
// Built with BAD_DECODER_RING_ONLY (as leaf_bad_ring.so) it declares no event
// type (IProbePlugin::event_type) while its ring still carries close_call:
// the host refuses that ring, and so the plugin's start.
#include "bad_decoder.h"

#include <cstring>
#include <leaf/sdk/skeleton.hpp>

#include "bad_decoder.skel.h"

#ifndef BAD_DECODER_NAME
#define BAD_DECODER_NAME "bad_decoder"
#endif

namespace {

using namespace leaf::sdk;

const FieldDesc kFields[] = {LEAF_FIELD(bad_decoder_event, fd, I32),
                             LEAF_FIELD(bad_decoder_event, tgid, U32)};
const EventTypeDesc kTypes[] = {fixed_event_type<bad_decoder_event>(
    "close_call", Category::Process, kFields, "close() of an invalid descriptor")};

const ConfigOption kOptions[] = {
    {"target_tgid", OptionType::Int, "0", 0, 1LL << 31, nullptr, "process to watch"},
    LEAF_OPTION_RING_BUFFER_SIZE("64K"),
    LEAF_OPTION_HOOKS_SKIP,
};

class OddRefuser final : public IRecordDecoder {
 public:
  Status decode(const uint8_t* record, uint32_t size, IHost* host) noexcept override {
    bad_decoder_event e;
    if (size < sizeof(e)) return Status::InvalidArgument;
    std::memcpy(&e, record, sizeof(e));
    if ((BAD_DECODER_FD_BASE - e.fd) % 2 == 1) return Status::InvalidArgument;
    return host->emit(&kTypes[0], record, size);
  }
};

class BadDecoderProbe final : public SkeletonProbe<bad_decoder_bpf> {
 public:
  explicit BadDecoderProbe(IHost* host) : SkeletonProbe(host, kTypes) {}

 private:
  ProbeSelection configure(bad_decoder_bpf& skel) override {
    skel.rodata->target_tgid = static_cast<uint32_t>(cfg_int("target_tgid"));
    return {};
  }
  IRecordDecoder* decoder() override { return &decoder_; }
#ifdef BAD_DECODER_RING_ONLY
  uint32_t event_type_count() const noexcept override { return 0; }
#endif

  OddRefuser decoder_;
};

}  // namespace

LEAF_PLUGIN(BadDecoderProbe, Probe, BAD_DECODER_NAME, "1.0.0",
            "Test probe whose decoder refuses every other record", kOptions)
