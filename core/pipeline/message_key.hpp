// The message key of SPEC.md §3, decided in one place: where an event type's
// key comes from (chosen once, when the type is registered) and its text for
// one event. Sinks receive it in SinkMessage::key; the Kafka sink's keys.*
// options may replace it by the hostname or the event type, or drop it.
#pragma once

#include <leaf/sdk/schema.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "pipeline/event_encoder.hpp"

namespace leaf::core {

struct KeyRule {
  enum class Source { Field, TypeName, Hostname };
  Source source = Source::Hostname;
  int field = -1;  // Source::Field: index into the type's fields
};

// The type's key_field when it names one; otherwise the category's default:
// network src_ip, process pid, metrics the event type's name, anything else
// (performance) the hostname. A default field the type lacks: the hostname.
KeyRule key_rule(const sdk::EventTypeDesc& type);

// The key of one event. `encoded`: the key field's text as the encoder wrote
// it into the JSON (non-string fields), or empty data when it did not;
// `edits`: a processor's replacements, which the key follows. The returned
// text lives in `scratch`, in `encoded`, in `hostname` or in the type.
std::string_view message_key(const KeyRule& rule, const sdk::EventTypeDesc& type,
                             const uint8_t* record, uint32_t size, int64_t mono_to_epoch_ns,
                             const EventEdits* edits, std::string_view encoded,
                             const std::string& hostname, std::string& scratch);

}  // namespace leaf::core
