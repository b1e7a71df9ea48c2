// Schema-driven encoding: every field type, escaping, invalid UTF-8, size checks.
#include "pipeline/event_encoder.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "leaf_event.h"
#include "pipeline/json_writer.hpp"
#include "pipeline/message_key.hpp"

using namespace leaf::core;
using namespace leaf::sdk;

namespace {

struct rec {
  leaf_event_header hdr;
  uint8_t u8;
  int8_t i8;
  uint16_t port;
  int32_t code;
  uint64_t big;
  int64_t neg;
  uint8_t flag;
  uint8_t kind;
  uint16_t pad;
  uint8_t v4[4];
  uint8_t addr[16];
  uint64_t started;
  uint64_t took;
  char comm[16];
  leaf_var cmdline;
  leaf_var extra;
  uint32_t secret;
  uint32_t zero;
  char tail[128];
};

const char* const kKinds[] = {"zero", "one", "two"};
const EnumDesc kKindEnum = {kKinds, 3};

const FieldDesc kFields[] = {
    LEAF_FIELD(rec, u8, U8),
    LEAF_FIELD(rec, i8, I8),
    LEAF_FIELD(rec, port, U16),
    LEAF_FIELD(rec, code, I32),
    LEAF_FIELD(rec, big, U64),
    LEAF_FIELD(rec, neg, I64),
    LEAF_FIELD(rec, flag, Bool),
    LEAF_FIELD_ENUM(rec, kind, "kind", &kKindEnum),
    LEAF_FIELD(rec, v4, Ipv4),
    LEAF_FIELD(rec, addr, IpAddr),
    LEAF_FIELD(rec, started, MonoTimeNs),
    LEAF_FIELD(rec, took, DurationNs),
    LEAF_FIELD(rec, comm, Chars),
    LEAF_FIELD(rec, cmdline, VarChars),
    LEAF_FIELD(rec, extra, VarJson),
    LEAF_FIELD_AS(rec, secret, "secret", U32, kFieldHidden),
    LEAF_FIELD_AS(rec, zero, "zero", U32, kFieldOmitZero),
};

const EventTypeDesc kType = {.name = "test_event",
                             .category = Category::Network,
                             .fields = kFields,
                             .field_count = 17,
                             .fixed_size = offsetof(rec, tail),
                             .max_size = sizeof(rec),
                             .key_field = nullptr,
                             .description = "test"};

struct Built {
  rec r{};
  uint32_t size = 0;
};

Built make(const std::string& cmdline, const std::string& extra_json) {
  Built b;
  rec& r = b.r;
  r.hdr.timestamp_ns = 1000;
  r.u8 = 255;
  r.i8 = -128;
  r.port = 443;
  r.code = -42;
  r.big = 18446744073709551615ull;
  r.neg = -9000000000;
  r.flag = 1;
  r.kind = 2;
  r.v4[0] = 10, r.v4[1] = 0, r.v4[2] = 0, r.v4[3] = 1;
  inet_pton(AF_INET6, "::ffff:93.184.216.34", r.addr);
  r.started = 500;
  r.took = 123456789;
  std::strcpy(r.comm, "curl");
  r.secret = 7;
  uint16_t off = offsetof(rec, tail);
  std::memcpy(r.tail, cmdline.data(), cmdline.size());
  r.cmdline = {off, static_cast<uint16_t>(cmdline.size())};
  std::memcpy(r.tail + cmdline.size(), extra_json.data(), extra_json.size());
  r.extra = {static_cast<uint16_t>(off + cmdline.size()), static_cast<uint16_t>(extra_json.size())};
  b.size = off + cmdline.size() + extra_json.size();
  return b;
}

std::string encode(const Built& b, const EventEdits* edits = nullptr) {
  std::string out;
  EncodeContext ctx{"prod-web-01", 1'700'000'000'000'000'000LL, ""};
  REQUIRE(record_fits(kType, reinterpret_cast<const uint8_t*>(&b.r), b.size));
  encode_event(out, kType, reinterpret_cast<const uint8_t*>(&b.r), b.size, ctx, edits);
  return out;
}

}  // namespace

TEST_CASE("the schema is valid") { CHECK(validate_schema(kType) == ""); }

TEST_CASE("every field type encodes to the exact JSON") {
  auto b = make("curl -s https://example.com", "{\"a\":[1,2]}");
  std::string json = encode(b);
  CHECK(json ==
        "{\"type\":\"network\",\"timestamp\":1700000000000001000,\"hostname\":\"prod-web-01\","
        "\"data\":{\"type\":\"test_event\",\"u8\":255,\"i8\":-128,\"port\":443,\"code\":-42,"
        "\"big\":18446744073709551615,\"neg\":-9000000000,\"flag\":true,\"kind\":\"two\","
        "\"v4\":\"10.0.0.1\",\"addr\":\"93.184.216.34\",\"started\":1700000000000000500,"
        "\"took\":123456789,\"comm\":\"curl\",\"cmdline\":\"curl -s https://example.com\","
        "\"extra\":{\"a\":[1,2]}}}");
  auto parsed = nlohmann::json::parse(json);
  CHECK(parsed["data"].count("secret") == 0);  // hidden
  CHECK(parsed["data"].count("zero") == 0);    // omitted when zero
}

TEST_CASE("IPv6 addresses, enums out of range, non-zero omit-zero fields") {
  auto b = make("x", "");
  inet_pton(AF_INET6, "2001:db8::1", b.r.addr);
  b.r.kind = 9;
  b.r.zero = 3;
  auto j = nlohmann::json::parse(encode(b));
  CHECK(j["data"]["addr"] == "2001:db8::1");
  CHECK(j["data"]["kind"] == 9);
  CHECK(j["data"]["zero"] == 3);
  CHECK(j["data"]["extra"].is_null());
  inet_pton(AF_INET6, "::1", b.r.addr);
  CHECK(nlohmann::json::parse(encode(b))["data"]["addr"] == "::1");
}

TEST_CASE("strings that need escaping stay valid JSON and lose nothing") {
  std::string tricky = "a\"b\\c\nd\te\x01f\x7f/g\xc3\xa9h\xe2\x82\xac";
  auto b = make(tricky, "");
  std::string json = encode(b);
  auto j = nlohmann::json::parse(json);
  CHECK(j["data"]["cmdline"].get<std::string>() == tricky);
}

TEST_CASE("bytes that are not UTF-8 are escaped as \\xHH, never dropped") {
  std::string bad =
      std::string("ok\xff") + "\xc3" + "(" + "\xed\xa0\x80" + "\xf0\x82\x82\xac" + "end";
  auto b = make(bad, "");
  std::string json = encode(b);
  auto j = nlohmann::json::parse(json);  // must be valid JSON
  CHECK(j["data"]["cmdline"].get<std::string>() ==
        "ok\\xff\\xc3(\\xed\\xa0\\x80\\xf0\\x82\\x82\\xacend");
}

TEST_CASE("fixed char arrays stop at NUL and survive a missing NUL") {
  auto b = make("x", "");
  std::memcpy(b.r.comm, "0123456789abcdef", 16);  // no NUL at all
  CHECK(nlohmann::json::parse(encode(b))["data"]["comm"] == "0123456789abcdef");
}

TEST_CASE("records shorter or longer than the schema, or with tails out of bounds, do not fit") {
  auto b = make("hello", "");
  const auto* p = reinterpret_cast<const uint8_t*>(&b.r);
  CHECK(record_fits(kType, p, b.size));
  CHECK_FALSE(record_fits(kType, p, offsetof(rec, tail) - 1));
  CHECK_FALSE(record_fits(kType, p, sizeof(rec) + 1));
  b.r.cmdline.length = 200;  // runs past the record
  CHECK_FALSE(record_fits(kType, p, b.size));
  b.r.cmdline = {8, 4};  // points into the fixed part
  CHECK_FALSE(record_fits(kType, p, b.size));
}

TEST_CASE("processor edits: replaced strings and added fields") {
  auto b = make("mysql -ppassword", "");
  EventEdits edits;
  edits.replaced.emplace_back(13, "mysql -p****");
  edits.extras = ",\"container_id\":\"abc123def456\"";
  auto j = nlohmann::json::parse(encode(b, &edits));
  CHECK(j["data"]["cmdline"] == "mysql -p****");
  CHECK(j["data"]["container_id"] == "abc123def456");
}

TEST_CASE("key text of fields") {
  auto b = make("x", "");
  const auto* p = reinterpret_cast<const uint8_t*>(&b.r);
  std::string k;
  field_text(k, kFields[9], p, b.size, 0);
  CHECK(k == "93.184.216.34");
  k.clear();
  field_text(k, kFields[2], p, b.size, 0);
  CHECK(k == "443");
  k.clear();
  field_text(k, kFields[12], p, b.size, 0);
  CHECK(k == "curl");
}

TEST_CASE("the message key (SPEC.md section 3) is decided by one rule per type") {
  auto b = make("x", "");
  const auto* p = reinterpret_cast<const uint8_t*>(&b.r);
  const std::string host = "prod-web-01";
  std::string scratch;
  auto key_of = [&](const EventTypeDesc& t, const EventEdits* edits = nullptr,
                    std::string_view encoded = {}) {
    return std::string(message_key(key_rule(t), t, p, b.size, 0, edits, encoded, host, scratch));
  };
  // Network without src_ip, performance: the hostname; metrics: the type.
  CHECK(key_rule(kType).source == KeyRule::Source::Hostname);
  CHECK(key_of(kType) == host);
  EventTypeDesc metrics = kType;
  metrics.category = Category::Metrics;
  CHECK(key_of(metrics) == "test_event");
  // key_field names the field; a processor's replacement is followed; the
  // text the encoder found in the JSON is taken as it is.
  EventTypeDesc keyed = kType;
  keyed.key_field = "comm";
  KeyRule rule = key_rule(keyed);
  CHECK(rule.source == KeyRule::Source::Field);
  CHECK(rule.field == 12);
  CHECK(key_of(keyed) == "curl");
  EventEdits edits;
  edits.replaced.emplace_back(12, "wget");
  CHECK(key_of(keyed, &edits) == "wget");
  keyed.key_field = "port";
  CHECK(key_of(keyed, nullptr, "443") == "443");
  CHECK(key_of(keyed) == "443");
}

TEST_CASE("invalid schemas are refused with the reason") {
  FieldDesc bad_size[] = {{"pid", FieldType::U32, 16, 8, 0, nullptr}};
  EventTypeDesc t = {.name = "bad",
                     .category = Category::Process,
                     .fields = bad_size,
                     .field_count = 1,
                     .fixed_size = 32,
                     .max_size = 32,
                     .key_field = nullptr,
                     .description = ""};
  CHECK(validate_schema(t) == "event type 'bad', field 'pid': size 8 does not fit its type");
  FieldDesc outside[] = {{"pid", FieldType::U32, 30, 4, 0, nullptr}};
  t.fields = outside;
  CHECK(validate_schema(t) == "event type 'bad', field 'pid': lies outside fixed_size");
  FieldDesc header[] = {{"pid", FieldType::U32, 4, 4, 0, nullptr}};
  t.fields = header;
  CHECK(validate_schema(t) == "event type 'bad', field 'pid': overlaps the event header");
  // A variable field without room for a tail (fuzz_event_encoder found its
  // offset unchecked: record_fits() only looks at tails).
  FieldDesc var[] = {{"cmd", FieldType::VarChars, 16, 4, 0, nullptr}};
  t.fields = var;
  CHECK(validate_schema(t) ==
        "event type 'bad': has variable fields but max_size leaves no room after fixed_size");
  t.max_size = 64;
  CHECK(validate_schema(t) == "");
  t.field_count = 0;
  t.max_size = 32;
  t.key_field = "src_ip";
  CHECK(validate_schema(t) == "event type 'bad': key_field 'src_ip' is not a field");
}

TEST_CASE("utf8 sequence lengths") {
  auto len = [](const char* s) {
    return utf8_sequence_length(reinterpret_cast<const unsigned char*>(s), std::strlen(s));
  };
  CHECK(len("a") == 1);
  CHECK(len("\xc3\xa9") == 2);
  CHECK(len("\xe2\x82\xac") == 3);
  CHECK(len("\xf0\x9f\x98\x80") == 4);
  CHECK(len("\xc0\xaf") == 0);      // overlong
  CHECK(len("\xed\xa0\x80") == 0);  // surrogate
  CHECK(len("\xf4\x90\x80\x80") == 0);
  CHECK(len("\xe2\x82") == 0);  // truncated
}

namespace {
// Two variable fields over one 4,000-byte tail (issue 17, defect 3).
struct two_vars {
  leaf_event_header hdr;
  leaf_var a;
  leaf_var b;
  leaf_var j;
  uint16_t pad;
  uint8_t tail[4000];
};
const FieldDesc kTwoFields[] = {
    LEAF_FIELD(two_vars, a, VarChars),
    LEAF_FIELD(two_vars, b, VarChars),
    LEAF_FIELD(two_vars, j, VarJson),
};
const EventTypeDesc kTwoType = {.name = "two_vars",
                                .category = Category::Process,
                                .fields = kTwoFields,
                                .field_count = 3,
                                .fixed_size = offsetof(two_vars, tail),
                                .max_size = sizeof(two_vars),
                                .key_field = nullptr,
                                .description = "test"};

// Encodes into a buffer of exactly encode_bound() bytes (AddressSanitizer
// stops at the first byte written past it); returns whether the message
// stayed within the bound.
bool encodes_within_bound(const two_vars& r, uint32_t size, std::string* json) {
  const auto* p = reinterpret_cast<const uint8_t*>(&r);
  EncodeContext ctx{"h", 0, ""};
  CompiledType c = compile_type(kTwoType);
  size_t bound = encode_bound(c, size, ctx, nullptr);
  std::vector<char> buf(bound);
  size_t n = encode_to(buf.data(), c, p, ctx, nullptr);
  json->assign(buf.data(), n);
  return n <= bound;
}
}  // namespace

TEST_CASE(
    "variable fields whose lengths add up past the tail do not fit (escaped past the bound)") {
  static two_vars r{};
  std::memset(r.tail, 0x01, sizeof(r.tail));  // each byte escapes to \u0001: 6 bytes
  const uint16_t off = offsetof(two_vars, tail);
  const uint32_t size = sizeof(two_vars);
  const auto* p = reinterpret_cast<const uint8_t*>(&r);
  REQUIRE(validate_schema(kTwoType) == "");

  r.a = {off, 4000};
  r.b = {off, 4000};  // the same bytes again
  CHECK_FALSE(record_fits(kTwoType, p, size));
  r.b = {static_cast<uint16_t>(off + 1999), 2001};  // one byte shared
  CHECK_FALSE(record_fits(kTwoType, p, size));

  // Side by side, every byte once: fits, and stays within the bound.
  r.a = {off, 2000};
  r.b = {static_cast<uint16_t>(off + 2000), 2000};
  REQUIRE(record_fits(kTwoType, p, size));
  std::string json;
  CHECK(encodes_within_bound(r, size, &json));
  auto j = nlohmann::json::parse(json);
  CHECK(j["data"]["a"].get<std::string>() == std::string(2000, '\x01'));
  CHECK(j["data"]["b"].get<std::string>() == std::string(2000, '\x01'));
}

TEST_CASE("a VarJson field that is not one JSON value does not fit") {
  static two_vars r{};
  const uint16_t off = offsetof(two_vars, tail);
  const auto* p = reinterpret_cast<const uint8_t*>(&r);
  auto with_json = [&](const std::string& text) {
    std::memcpy(r.tail, text.data(), text.size());
    r.j = {off, static_cast<uint16_t>(text.size())};
    return record_fits(kTwoType, p, off + static_cast<uint32_t>(text.size()));
  };
  CHECK(with_json("{\"cpu\":[1,2.5,-3e2],\"x\":null,\"s\":\"\\u00e9\"}"));
  CHECK(with_json("[]"));
  CHECK(with_json("17"));
  CHECK_FALSE(with_json("{\"cpu\":"));
  CHECK_FALSE(with_json("{\"a\":1}}"));                // closes what it never opened
  CHECK_FALSE(with_json("{\"a\":1},\"injected\":2"));  // two values: would add a field
  CHECK_FALSE(with_json("\"unterminated"));
  CHECK_FALSE(with_json("nul"));
  CHECK_FALSE(with_json(std::string("4\0,\"injected\":1", 15)));  // found by fuzz_event_encoder
}

// compile_type() resolves each field's type and size into one kind
// (FieldOp): every width of every integer, boolean and enum type, and the
// key text encode_to() hands back for a key field, must come out as
// field_text() and the SPEC say.
namespace {
struct widths {
  leaf_event_header hdr;
  int16_t i16;
  uint16_t b16;
  uint32_t u32;
  uint32_t b32;
  uint64_t b64;
  uint16_t e16;
  uint32_t e32;
  int8_t i8;
  uint8_t b8;
  uint64_t hidden;
  uint32_t omitted;
};
const FieldDesc kWidthFields[] = {
    LEAF_FIELD(widths, i16, I16),
    LEAF_FIELD(widths, b16, Bool),
    LEAF_FIELD(widths, u32, U32),
    LEAF_FIELD(widths, b32, Bool),
    LEAF_FIELD(widths, b64, Bool),
    LEAF_FIELD_ENUM(widths, e16, "e16", &kKindEnum),
    LEAF_FIELD_ENUM(widths, e32, "e32", &kKindEnum),
    LEAF_FIELD(widths, i8, I8),
    LEAF_FIELD(widths, b8, Bool),
    LEAF_FIELD_AS(widths, hidden, "hidden", U64, kFieldHidden),
    LEAF_FIELD_AS(widths, omitted, "omitted", U32, kFieldOmitZero),
};
const EventTypeDesc kWidthType = {.name = "widths",
                                  .category = Category::Process,
                                  .fields = kWidthFields,
                                  .field_count = 11,
                                  .fixed_size = sizeof(widths),
                                  .max_size = sizeof(widths),
                                  .key_field = nullptr,
                                  .description = "test"};
}  // namespace

TEST_CASE("integer, boolean and enum fields of every width; key text from encode_to") {
  REQUIRE(validate_schema(kWidthType) == "");
  widths r{};
  r.hdr.timestamp_ns = 1;
  r.i16 = -32768;
  r.b16 = 0x100;  // a high byte set is true
  r.u32 = 4294967295u;
  r.b32 = 0;
  r.b64 = uint64_t{1} << 40;
  r.e16 = 1;
  r.e32 = 70000;  // out of range: the number
  r.i8 = -1;
  r.b8 = 0;
  r.hidden = 99;
  const auto* p = reinterpret_cast<const uint8_t*>(&r);
  EncodeContext ctx{"h", 0, ""};
  CompiledType c = compile_type(kWidthType);
  CHECK(c.ops.size() == 10);  // the hidden field is left out
  std::vector<char> buf(encode_bound(c, sizeof(r), ctx, nullptr));
  std::string_view key;
  size_t n = encode_to(buf.data(), c, p, ctx, nullptr, 6, &key);
  CHECK(std::string(buf.data(), n) ==
        "{\"type\":\"process\",\"timestamp\":1,\"hostname\":\"h\",\"data\":{\"type\":\"widths\","
        "\"i16\":-32768,\"b16\":true,\"u32\":4294967295,\"b32\":false,\"b64\":true,"
        "\"e16\":\"one\",\"e32\":70000,\"i8\":-1,\"b8\":false}}");
  CHECK(key == "70000");
  n = encode_to(buf.data(), c, p, ctx, nullptr, 5, &key);
  CHECK(key == "one");  // an enum's name, without its quotes
  r.omitted = 5;
  n = encode_to(buf.data(), c, p, ctx, nullptr, 10, &key);
  CHECK(std::string(buf.data(), n).find(",\"omitted\":5}}") != std::string::npos);
  CHECK(key == "5");
  for (uint32_t i = 0; i < kWidthType.field_count; ++i) {
    if (i == 9) continue;  // hidden
    std::string text;
    field_text(text, kWidthFields[i], p, sizeof(r), 0);
    std::string json(buf.data(), n);
    std::string member = std::string("\"") + kWidthFields[i].name + "\":";
    auto at = json.find(member);
    REQUIRE(at != std::string::npos);
    std::string value = json.substr(at + member.size());
    value = value.substr(0, value.find_first_of(",}"));
    if (value.front() == '"') value = value.substr(1, value.size() - 2);
    CHECK_MESSAGE(value == text, kWidthFields[i].name);
  }
}

namespace {
// What a fixed char array or a string with one byte `c` at `at` encodes to,
// the rest plain letters: `c` escaped as SPEC.md section 2 says; a NUL ends
// a fixed char array there.
std::string with_byte_at(size_t size, size_t at, char c) {
  std::string s;
  for (size_t i = 0; i < size; ++i) s += static_cast<char>('a' + i % 26);
  s[at] = c;
  return s;
}
std::string escaped_byte(char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\x01':
      return "\\u0001";
    case '\x7f':
      return "\\u007f";
    case '\xff':
      return "\\\\xff";
  }
  return std::string(1, c);
}
std::string expected_text(const std::string& s, size_t at, bool stops) {
  if (stops) return s.substr(0, at);
  return s.substr(0, at) + escaped_byte(s[at]) + s.substr(at + 1);
}
}  // namespace

// The encoder reads strings eight bytes at a time and writes numbers and
// addresses from tables: every position of a byte to escape or of the end,
// every octet, every digit count.
TEST_CASE("strings, addresses and numbers at every position, octet and digit count") {
  for (char c : {'"', '\\', '\n', '\x01', '\x7f', '\xff', '\0'}) {
    for (size_t at = 0; at < 16; ++at) {
      auto b = make("x", "");
      std::string s = with_byte_at(16, at, c);
      std::memcpy(b.r.comm, s.data(), 16);
      std::string json = encode(b);
      CAPTURE(at);
      CAPTURE(int(c));
      CHECK(json.find("\"comm\":\"" + expected_text(s, at, c == '\0') + "\",") !=
            std::string::npos);
    }
    if (c == '\0') continue;
    for (size_t len = 1; len <= 40; ++len) {
      for (size_t at = 0; at < len; ++at) {
        std::string s = with_byte_at(len, at, c);
        std::string json = encode(make(s, ""));
        CAPTURE(len);
        CAPTURE(at);
        CHECK(json.find("\"cmdline\":\"" + expected_text(s, at, false) + "\",") !=
              std::string::npos);
      }
    }
  }
  // UTF-8 across an eight-byte boundary passes through unchanged.
  std::string utf8 = "abcdefg\xc3\xa9h\xe2\x82\xac";
  CHECK(nlohmann::json::parse(encode(make(utf8, "")))["data"]["cmdline"] == utf8);

  for (int o = 0; o < 256; ++o) {
    auto b = make("x", "");
    uint8_t v4[4] = {uint8_t(o), uint8_t(255 - o), uint8_t(o / 16), uint8_t(o % 10)};
    std::memcpy(b.r.v4, v4, 4);
    std::string quad = std::to_string(v4[0]) + "." + std::to_string(v4[1]) + "." +
                       std::to_string(v4[2]) + "." + std::to_string(v4[3]);
    std::string json = encode(b);
    CAPTURE(o);
    CHECK(json.find("\"v4\":\"" + quad + "\",") != std::string::npos);
  }

  uint64_t p = 1;
  for (int digits = 1; digits <= 20; ++digits) {
    for (uint64_t v : {p, p * 3 + 7, p * 10 - 1}) {
      if (digits == 20 && v != p) v = 18446744073709551615ull - (v % 1000);
      auto b = make("x", "");
      b.r.big = v;
      std::string json = encode(b);
      CAPTURE(v);
      CHECK(json.find("\"big\":" + std::to_string(v) + ",") != std::string::npos);
    }
    if (digits < 20) p *= 10;
  }
}
