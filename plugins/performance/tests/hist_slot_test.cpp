// The histogram slot function the BPF programs use (performance.h): every
// value lands where SPEC's hist_log2_ns says, slot i holding [2^i, 2^(i+1))
// (slot 0 also 0), the last slot everything from 2^31 ns on.
#include <doctest/doctest.h>

#include <cstdint>

#include "performance.h"

namespace {

uint32_t reference_slot(uint64_t v) {
  if (v == 0) return 0;
  uint32_t log2 = 63 - static_cast<uint32_t>(__builtin_clzll(v));
  return log2 < PERF_HIST_SLOTS ? log2 : PERF_HIST_SLOTS - 1;
}

}  // namespace

TEST_CASE("every value below 2^20 lands in its log2 slot") {
  uint64_t wrong = 0;
  for (uint64_t v = 0; v < (1ULL << 20); ++v)
    if (leaf_perf_hist_slot(v) != reference_slot(v)) ++wrong;
  CHECK(wrong == 0);
}

TEST_CASE("each power of two and its neighbours, up to 2^63, and the largest value") {
  CHECK(leaf_perf_hist_slot(0) == 0);
  CHECK(leaf_perf_hist_slot(1) == 0);
  CHECK(leaf_perf_hist_slot(2) == 1);
  CHECK(leaf_perf_hist_slot((1ULL << 31) - 1) == 30);
  CHECK(leaf_perf_hist_slot(1ULL << 31) == 31);
  CHECK(leaf_perf_hist_slot(~0ULL) == 31);
  for (int bit = 0; bit < 64; ++bit) {
    for (int64_t d = -3; d <= 3; ++d) {
      uint64_t v = (1ULL << bit) + static_cast<uint64_t>(d);
      INFO("v = " << v);
      CHECK(leaf_perf_hist_slot(v) == reference_slot(v));
    }
  }
}

TEST_CASE("a spread of values across all 64 bits") {
  uint64_t x = 0x9e3779b97f4a7c15ULL, wrong = 0;  // xorshift64: a fixed sequence
  for (int i = 0; i < 1000000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint64_t v = x >> (x & 63);
    if (leaf_perf_hist_slot(v) != reference_slot(v)) ++wrong;
  }
  CHECK(wrong == 0);
}
