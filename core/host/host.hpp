// leaf-host's life: configuration, plugins, pipeline, dispatcher, run, shutdown.
#pragma once

#include "host/options.hpp"

namespace leaf::core {

// Runs leaf-host as the options say and returns its exit code.
int run_host(const CliOptions& options);

}  // namespace leaf::core
