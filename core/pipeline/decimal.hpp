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

// Writes v at p; returns the end.
inline char* u64(char* p, uint64_t v) {
  char* end = p + digits(v);
  char* q = end;
  // Eight digits at a time with 32-bit arithmetic (a 19-digit timestamp
  // takes two 64-bit divisions instead of nine).
  while (v > UINT32_MAX) {
    uint64_t hi = v / 100000000;
    auto lo = static_cast<uint32_t>(v - hi * 100000000);
    for (int i = 0; i < 4; ++i) {
      q -= 2;
      std::memcpy(q, kPairs + (lo % 100) * 2, 2);
      lo /= 100;
    }
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

// Dotted quad of the 4 bytes at a.
inline char* ipv4(char* p, const uint8_t* a) {
  for (int i = 0; i < 4; ++i) {
    unsigned o = a[i];
    if (o >= 100) {
      *p++ = static_cast<char>('0' + o / 100);
      o %= 100;
      std::memcpy(p, kPairs + o * 2, 2);
      p += 2;
    } else if (o >= 10) {
      std::memcpy(p, kPairs + o * 2, 2);
      p += 2;
    } else {
      *p++ = static_cast<char>('0' + o);
    }
    *p++ = '.';
  }
  return p - 1;
}

}  // namespace leaf::core::decimal
