// The "redact" built-in processor: runs the redaction rules (redactor.hpp)
// over the configured text fields (`cmdline` and `filename` by default) and
// cuts `cmdline` to max_cmdline_length bytes, before any sink or plugin
// processor sees the event (built-in processors run first). When something
// goes wrong while redacting (out of memory), the event is dropped and
// counted: unredacted text never goes out. Configuration: conf.d/redact.toml.
#pragma once

#include <leaf/sdk/abi.h>

namespace leaf::core {

const sdk::PluginDescriptor* redact_descriptor();

}  // namespace leaf::core
