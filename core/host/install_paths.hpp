// Where an installed Leaf keeps its configuration and plugins: compiled in
// from the install prefix (CMake's GNUInstallDirs), so that `leaf-host` with
// no arguments runs the installed system.
#pragma once

#include <string>

namespace leaf::core {

// The shipped conf.d directory, e.g. /etc/leaf/conf.d for prefix /usr.
const char* installed_config_dir();
// The plugins directory, e.g. /usr/lib/x86_64-linux-gnu/leaf/plugins.
const char* installed_plugins_dir();

}  // namespace leaf::core
