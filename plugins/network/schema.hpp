// The event schema of the network plugin: how the host reads the records
// network.bpf.c writes (network.h). SPEC.md §2 names are binding.
#pragma once

#include <leaf/sdk/schema.h>

#include <cstdint>

namespace leaf::network {

// Indexed by enum net_event_type.
const sdk::EventTypeDesc* event_types();
uint32_t event_type_count();

// Name of a TCP state number as the kernel numbers them (TCP_ESTABLISHED =
// 1 ...), as shown in tcp_close's `state`.
const char* tcp_state_name(uint32_t state);

}  // namespace leaf::network
