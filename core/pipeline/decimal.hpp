// Integers and IPv4 addresses as decimal text, for the per-event encoder.
// std::to_chars (libstdc++ 12) spends about half of its time finding the
// number of digits, a loop over powers of 10^4, and checks its output
// bound; here the count comes from the bit width (one multiply, one table
// compare) and the digits are written two at a time from a table, into a
// buffer the caller has sized (encode_bound). Measured with callgrind on
// bench/pipeline (issue 16): see the notes of that issue.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace leaf::core::decimal {

inline constexpr char kPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

inline constexpr uint64_t kPow10[20] = {1ull,
                                        10ull,
                                        100ull,
                                        1000ull,
                                        10000ull,
                                        100000ull,
                                        1000000ull,
                                        10000000ull,
                                        100000000ull,
                                        1000000000ull,
                                        10000000000ull,
                                        100000000000ull,
                                        1000000000000ull,
                                        10000000000000ull,
                                        100000000000000ull,
                                        1000000000000000ull,
                                        10000000000000000ull,
                                        100000000000000000ull,
                                        1000000000000000000ull,
                                        10000000000000000000ull};

// Digits of v (1 for 0).
inline int digits(uint64_t v) {
  int t = ((64 - std::countl_zero(v | 1)) * 1233) >> 12;  // floor(log10(2^bits))
  return t + ((v | 1) >= kPow10[t]);
}

// Writes v's `n` low digits ending at `end` (n >= digits(v)).
template <class U>
inline void write_back(char* end, U v) {
  while (v >= 100) {
    unsigned i = static_cast<unsigned>(v % 100) * 2;
    v /= 100;
    end -= 2;
    std::memcpy(end, kPairs + i, 2);
  }
  if (v >= 10) {
    std::memcpy(end - 2, kPairs + static_cast<unsigned>(v) * 2, 2);
  } else {
    end[-1] = static_cast<char>('0' + v);
  }
}

// Writes v < 10^8 as exactly eight digits at p. On little-endian machines
// all eight at once in one 64-bit word (issue 16: the 19-digit timestamp of
// every event): the two 4-digit halves in 32-bit lanes, split into 2-digit
// lanes of 16 bits, then into 1-digit bytes, by multiplying with the
// reciprocals 10486 / 2^20 (exact division by 100 below 10^4) and 103 / 2^10
// (exact division by 10 below 100); no lane overflows into the next.
inline void eight_digits(char* p, uint32_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    uint64_t merged = (v / 10000) | (uint64_t(v % 10000) << 32);
    uint64_t top = ((merged * 10486) >> 20) & ((0x7Full << 32) | 0x7Full);
    uint64_t hundreds = ((merged - 100 * top) << 16) + top;
    uint64_t tens = ((hundreds * 103) >> 10) & 0x000F000F000F000Full;
    tens += (hundreds - 10 * tens) << 8;
    tens += 0x3030303030303030ull;
    std::memcpy(p, &tens, 8);
  } else {
    for (int i = 3; i >= 0; --i) {
      std::memcpy(p + 2 * i, kPairs + (v % 100) * 2, 2);
      v /= 100;
    }
  }
}

// Writes v at p; returns the end.
inline char* u64(char* p, uint64_t v) {
  char* end = p + digits(v);
  char* q = end;
  // Eight digits at a time with 32-bit arithmetic (a 19-digit timestamp
  // takes two 64-bit divisions instead of nine).
  while (v > UINT32_MAX) {
    uint64_t hi = v / 100000000;
    auto lo = static_cast<uint32_t>(v - hi * 100000000);
    q -= 8;
    eight_digits(q, lo);
    v = hi;
  }
  write_back(q, static_cast<uint32_t>(v));
  return end;
}

inline char* i64(char* p, int64_t v) {
  if (v >= 0) return u64(p, static_cast<uint64_t>(v));
  *p++ = '-';
  return u64(p, 0 - static_cast<uint64_t>(v));
}

// Each octet's digits followed by '.', padded to 4 bytes, and their count.
struct Octet {
  char text[4];
  uint8_t size;
};
inline constexpr auto kOctets = [] {
  struct T {
    Octet o[256];
  } t{};
  for (int i = 0; i < 256; ++i) {
    Octet& o = t.o[i];
    int n = 0;
    if (i >= 100) o.text[n++] = static_cast<char>('0' + i / 100);
    if (i >= 10) o.text[n++] = static_cast<char>('0' + i / 10 % 10);
    o.text[n++] = static_cast<char>('0' + i % 10);
    o.text[n++] = '.';
    o.size = static_cast<uint8_t>(n);
  }
  return t;
}();

// Dotted quad of the 4 bytes at a: one table row per octet (issue 16: two
// addresses per network event; writes up to 3 bytes past the end, which
// encode_bound's slack covers).
inline char* ipv4(char* p, const uint8_t* a) {
  for (int i = 0; i < 4; ++i) {
    const Octet& o = kOctets.o[a[i]];
    std::memcpy(p, o.text, 4);
    p += o.size;
  }
  return p - 1;
}

}  // namespace leaf::core::decimal
