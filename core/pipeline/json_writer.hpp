// Minimal JSON text writer for the event hot path.
//
// Written by hand rather than with a JSON library because the encoder only
// ever appends (no DOM, no parsing) into one reused buffer, and the per-event
// budget is ~150 ns: nlohmann::json (the JSON package Debian offers) builds a
// tree of heap nodes per object. What this adds over std::to_chars is string
// escaping that never drops bytes: valid UTF-8 passes through, control
// characters use JSON escapes, and bytes that are not UTF-8 become the text
// "\xHH" (a backslash, 'x', two hex digits), so any byte content is valid JSON.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace leaf::core {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void raw(std::string_view s) { out_.append(s); }
  void raw(char c) { out_.push_back(c); }

  void u64(uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_.append(buf, r.ptr);
  }
  void i64(int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_.append(buf, r.ptr);
  }
  void boolean(bool v) { out_.append(v ? "true" : "false"); }

  // "text", escaped.
  void string(std::string_view s) {
    out_.push_back('"');
    escape(s);
    out_.push_back('"');
  }

  // "key": — keys are schema names (plain ASCII), escaped anyway.
  void key(std::string_view k) {
    string(k);
    out_.push_back(':');
  }

  void escape(std::string_view s);

 private:
  std::string& out_;
};

// Writes `s` escaped at p (at most 6 bytes per input byte); returns the end.
char* escape_to(char* p, std::string_view s);

// The same for a fixed-size char field of `size` bytes: its text up to the
// first NUL (all of it without one), escaped; at most 6 bytes per input byte.
char* escape_chars_to(char* p, const unsigned char* field, size_t size);

// Appending to a raw buffer whose size was reserved up front (the encoder
// computes a bound per event): no capacity check per piece.
class RawWriter {
 public:
  explicit RawWriter(char* p) : p_(p) {}
  char* pos() const { return p_; }
  void lit(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void ch(char c) { *p_++ = c; }
  void u64(uint64_t v) { p_ = std::to_chars(p_, p_ + 20, v).ptr; }
  void i64(int64_t v) { p_ = std::to_chars(p_, p_ + 21, v).ptr; }
  void escaped(std::string_view s) { p_ = escape_to(p_, s); }
  void string(std::string_view s) {
    *p_++ = '"';
    p_ = escape_to(p_, s);
    *p_++ = '"';
  }

 private:
  char* p_;
};

// Length of the valid UTF-8 sequence starting at p (1..4), or 0 when the
// bytes there are not valid UTF-8 (overlong, surrogate, truncated, > U+10FFFF).
size_t utf8_sequence_length(const unsigned char* p, size_t avail);

}  // namespace leaf::core
