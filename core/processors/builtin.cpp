#include "processors/builtin.hpp"

namespace leaf::core {

std::vector<const sdk::PluginDescriptor*> builtin_processors() { return {}; }

}  // namespace leaf::core
