#include "pipeline/json_writer.hpp"

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

char* escape_to(char* w, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
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

void JsonWriter::escape(std::string_view s) {
  size_t at = out_.size();
  out_.resize(at + s.size() * 6);
  char* end = escape_to(out_.data() + at, s);
  out_.resize(end - out_.data());
}

}  // namespace leaf::core
