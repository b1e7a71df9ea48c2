// The performance plugin run in the test process by the SDK's TestHost
// (leaf/sdk/testing/test_host.hpp): the test decides exactly when a
// snapshot is taken (tick() fires the plugin's timer), so the plugin's
// window and the kernel's own accounting (/proc) are read back to back.
#pragma once

#include <cstdint>
#include <leaf/sdk/testing/test_host.hpp>
#include <nlohmann/json.hpp>
#include <vector>

#include "performance.h"

namespace leaf::performance::test {

using Json = nlohmann::json;
using sdk::testing::TestHost;

// Runs the plugin's snapshot timer now; returns the perf_stats events it
// emitted, decoded as the host would show them in "data".
std::vector<Json> tick(TestHost& host);

// The perf_stats record as the host encodes its "data": fixed fields and the
// VarJson tables parsed.
Json decode_perf_stats(const uint8_t* record, uint32_t size);

}  // namespace leaf::performance::test
