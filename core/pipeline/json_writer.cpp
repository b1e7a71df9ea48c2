#include "pipeline/json_writer.hpp"

#include <bit>
#include <cstring>

namespace leaf::core {

namespace {
constexpr char kHex[] = "0123456789abcdef";

// 1: byte passes through unchanged (printable ASCII other than " and \).
constexpr auto kPlain = [] {
  struct T {
    bool v[256];
  } t{};
  for (int c = 0x20; c < 0x80; ++c) t.v[c] = c != '"' && c != '\\' && c != 0x7f;
  return t;
}();

// Eight bytes at a time (issue 16: a byte-table lookup per character was most
// of the cost of short strings such as comm): a bit 7 set in the result's
// byte i when byte i of `x` (in memory order) is not plain, i.e. below 0x20
// (NUL included), '"', '\\', 0x7f or not ASCII. Bytes above the first such
// byte may be flagged wrongly (a subtraction's borrow), never the bytes
// below it, so only the lowest flag is used.
constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
inline uint64_t has_byte(uint64_t x, uint8_t c) {
  uint64_t y = x ^ (kOnes * c);
  return (y - kOnes) & ~y & kHigh;
}
inline uint64_t not_plain(uint64_t x) {
  return ((x - kOnes * 0x20) & ~x & kHigh) | has_byte(x, '"') | has_byte(x, '\\') |
         has_byte(x, 0x7f) | (x & kHigh);
}
// Index (in memory order) of the lowest flagged byte of a nonzero mask.
inline size_t first_flagged(uint64_t m) {
  return std::endian::native == std::endian::little ? std::countr_zero(m) / 8
                                                    : std::countl_zero(m) / 8;
}
}  // namespace

size_t utf8_sequence_length(const unsigned char* p, size_t avail) {
  unsigned char c = p[0];
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
  }
  if (c >= 0xe0 && c <= 0xef) {
    if (avail < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && p[1] < 0xa0) return 0;   // overlong
    if (c == 0xed && p[1] >= 0xa0) return 0;  // UTF-16 surrogates
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (avail < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
      return 0;
    if (c == 0xf0 && p[1] < 0x90) return 0;   // overlong
    if (c == 0xf4 && p[1] >= 0x90) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

namespace {

// Copies the plain bytes of p[i, n) from i on, eight at a time, to w (moved
// past them) while at least eight are left; stops at the first byte to
// escape (or NUL). Returns where it stopped.
inline size_t copy_plain_run(char*& w, const unsigned char* p, size_t i, size_t n) {
  while (n - i >= 8) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    uint64_t m = not_plain(x);
    std::memcpy(w, &x, 8);  // the caller's room is 6 bytes per input byte
    if (m) {
      size_t k = first_flagged(m);
      w += k;
      return i + k;
    }
    w += 8;
    i += 8;
  }
  return i;
}

}  // namespace

char* escape_to(char* w, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    i = copy_plain_run(w, p, i, n);
    if (i == n) break;
    unsigned char c = p[i];
    if (kPlain.v[c]) {
      *w++ = static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {
      size_t len = utf8_sequence_length(p + i, n - i);
      if (len) {
        std::memcpy(w, p + i, len);
        w += len;
        i += len;
      } else {
        *w++ = '\\';
        *w++ = '\\';
        *w++ = 'x';
        *w++ = kHex[c >> 4];
        *w++ = kHex[c & 15];
        ++i;
      }
      continue;
    }
    *w++ = '\\';
    switch (c) {
      case '"':
        *w++ = '"';
        break;
      case '\\':
        *w++ = '\\';
        break;
      case '\n':
        *w++ = 'n';
        break;
      case '\r':
        *w++ = 'r';
        break;
      case '\t':
        *w++ = 't';
        break;
      case '\b':
        *w++ = 'b';
        break;
      case '\f':
        *w++ = 'f';
        break;
      default:
        *w++ = 'u';
        *w++ = '0';
        *w++ = '0';
        *w++ = kHex[c >> 4];
        *w++ = kHex[c & 15];
    }
    ++i;
  }
  return w;
}

char* escape_chars_to(char* w, const unsigned char* p, size_t size) {
  size_t i = copy_plain_run(w, p, 0, size);
  if (i < size && p[i] == 0) return w;
  const void* nul = std::memchr(p + i, 0, size - i);
  size_t end = nul ? static_cast<size_t>(static_cast<const unsigned char*>(nul) - p) : size;
  return escape_to(w, std::string_view(reinterpret_cast<const char*>(p) + i, end - i));
}

void JsonWriter::escape(std::string_view s) {
  size_t at = out_.size();
  out_.resize(at + s.size() * 6);
  char* end = escape_to(out_.data() + at, s);
  out_.resize(end - out_.data());
}

}  // namespace leaf::core
