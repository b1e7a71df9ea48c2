#include "pipeline/json_writer.hpp"

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

void JsonWriter::escape(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // Copy the longest run of plain bytes at once.
    size_t run = i;
    while (run < n && kPlain.v[p[run]]) ++run;
    if (run > i) {
      out_.append(s.data() + i, run - i);
      i = run;
      if (i >= n) break;
    }
    unsigned char c = p[i];
    if (c >= 0x80) {
      size_t len = utf8_sequence_length(p + i, n - i);
      if (len) {
        out_.append(s.data() + i, len);
        i += len;
      } else {
        const char esc[] = {'\\', '\\', 'x', kHex[c >> 4], kHex[c & 15]};
        out_.append(esc, sizeof(esc));
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out_.append("\\\""); break;
      case '\\': out_.append("\\\\"); break;
      case '\n': out_.append("\\n"); break;
      case '\r': out_.append("\\r"); break;
      case '\t': out_.append("\\t"); break;
      case '\b': out_.append("\\b"); break;
      case '\f': out_.append("\\f"); break;
      default: {
        const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out_.append(esc, sizeof(esc));
      }
    }
    ++i;
  }
}

}  // namespace leaf::core
