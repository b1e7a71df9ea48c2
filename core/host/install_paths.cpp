#include "host/install_paths.hpp"

// Set on this file only (core/CMakeLists.txt): a change of prefix rebuilds
// one object, not the whole core.
#ifndef LEAF_INSTALLED_CONFIG_DIR
#error "LEAF_INSTALLED_CONFIG_DIR must be defined by the build"
#endif
#ifndef LEAF_INSTALLED_PLUGINS_DIR
#error "LEAF_INSTALLED_PLUGINS_DIR must be defined by the build"
#endif

namespace leaf::core {

const char* installed_config_dir() { return LEAF_INSTALLED_CONFIG_DIR; }
const char* installed_plugins_dir() { return LEAF_INSTALLED_PLUGINS_DIR; }

}  // namespace leaf::core
