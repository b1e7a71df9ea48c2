// The event types of the process plugin as the host sees them: one
// EventTypeDesc per record of process.h, indexed by process_event_type.
#pragma once

#include <leaf/sdk/schema.h>

#include <cstdint>

namespace leaf::process {

// kTypes[PROCESS_EVENT_EXEC], [PROCESS_EVENT_FORK], [PROCESS_EVENT_EXIT].
extern const sdk::EventTypeDesc kTypes[];
extern const uint32_t kTypeCount;

}  // namespace leaf::process
