// Processors built into leaf-host (enrichment, filtering, redaction). They
// implement the SDK's IProcessor exactly as a third-party processor plugin
// does, and are described by static PluginDescriptors, so the host loads,
// configures (conf.d/<name>.toml), reloads and reports them like plugins.
#pragma once

#include <leaf/sdk/abi.h>

#include <vector>

namespace leaf::core {

// In pipeline order.
std::vector<const sdk::PluginDescriptor*> builtin_processors();

}  // namespace leaf::core
