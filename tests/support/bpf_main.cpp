// main() for test binaries that need root and BPF: skip (77) with a reason
// when unprivileged, fail instead when LEAF_REQUIRE_BPF=1.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "harness.hpp"

int main(int argc, char** argv) {
  if (int gate = leaf::test::bpf_test_gate(); gate >= 0) return gate;
  doctest::Context context(argc, argv);
  return context.run();
}
