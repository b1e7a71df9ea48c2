#include "processors/builtin.hpp"

#include "processors/enrich.hpp"
#include "processors/filter.hpp"
#include "processors/redact.hpp"

namespace leaf::core {

// Filter first: a dropped event costs no enrichment or redaction. Redaction
// runs before any plugin processor or sink sees the text.
std::vector<const sdk::PluginDescriptor*> builtin_processors() {
  return {filter_descriptor(), enrich_descriptor(), redact_descriptor()};
}

}  // namespace leaf::core
