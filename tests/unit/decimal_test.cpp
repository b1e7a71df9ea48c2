// core/pipeline/decimal.hpp against std::to_chars: every boundary where the
// digit count changes, the 32/64-bit split, the extremes, a pseudo-random
// sweep, and every IPv4 octet.
#include "pipeline/decimal.hpp"

#include <doctest/doctest.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace {

std::string mine_u(uint64_t v) {
  char buf[32];
  return std::string(buf, leaf::core::decimal::u64(buf, v));
}
std::string mine_i(int64_t v) {
  char buf[32];
  return std::string(buf, leaf::core::decimal::i64(buf, v));
}
template <class T>
std::string reference(T v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof(buf), v).ptr);
}

}  // namespace

TEST_CASE("decimal::u64 and i64 write what std::to_chars writes") {
  std::vector<uint64_t> values = {0,          1,
                                  9,          10,
                                  99,         100,
                                  UINT32_MAX, uint64_t(UINT32_MAX) + 1,
                                  UINT64_MAX, 1700000001000000000ull};
  for (uint64_t p = 1, i = 0; i < 20; ++i, p *= 10) {
    values.push_back(p - 1);
    values.push_back(p);
    values.push_back(p + 1);
  }
  std::mt19937_64 rng(16);
  for (int i = 0; i < 200000; ++i) values.push_back(rng() >> (rng() % 64));
  for (uint64_t v : values) {
    REQUIRE(mine_u(v) == reference(v));
    auto s = static_cast<int64_t>(v);
    REQUIRE(mine_i(s) == reference(s));
    REQUIRE(mine_i(-s) == reference(-s));
  }
  CHECK(mine_i(std::numeric_limits<int64_t>::min()) == "-9223372036854775808");
  CHECK(mine_u(UINT64_MAX) == "18446744073709551615");
}

TEST_CASE("decimal::ipv4 writes every octet as inet_ntop does") {
  for (unsigned o = 0; o < 256; ++o) {
    uint8_t a[4] = {static_cast<uint8_t>(o), 0, static_cast<uint8_t>(255 - o),
                    static_cast<uint8_t>(o % 10)};
    char buf[16];
    std::string got(buf, leaf::core::decimal::ipv4(buf, a));
    std::string want = std::to_string(a[0]) + "." + std::to_string(a[1]) + "." +
                       std::to_string(a[2]) + "." + std::to_string(a[3]);
    REQUIRE(got == want);
  }
}
