#include "pipeline/event_encoder.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "leaf_event.h"
#include "pipeline/decimal.hpp"
#include "pipeline/json_check.hpp"
#include "pipeline/json_writer.hpp"

namespace leaf::core {

using sdk::FieldDesc;
using sdk::FieldType;

namespace {

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

uint64_t load_unsigned(const uint8_t* p, uint16_t size) {
  switch (size) {
    case 1:
      return p[0];
    case 2:
      return load<uint16_t>(p);
    case 4:
      return load<uint32_t>(p);
    default:
      return load<uint64_t>(p);
  }
}

std::string_view chars_of(const uint8_t* p, uint16_t size) {
  const void* nul = std::memchr(p, 0, size);
  size_t n = nul ? static_cast<const uint8_t*>(nul) - p : size;
  return {reinterpret_cast<const char*>(p), n};
}

std::string_view var_of(const uint8_t* record, const uint8_t* p) {
  auto v = load<leaf_var>(p);
  return {reinterpret_cast<const char*>(record) + v.offset, v.length};
}

bool is_zero(const FieldDesc& f, const uint8_t* record) {
  const uint8_t* p = record + f.offset;
  if (f.type == FieldType::VarChars || f.type == FieldType::VarJson)
    return load<leaf_var>(p).length == 0;
  if (f.type == FieldType::Chars) return p[0] == 0;
  for (uint16_t i = 0; i < f.size; ++i)
    if (p[i]) return false;
  return true;
}

// IPv4 dotted quad at p, written by hand (inet_ntop is slow).
char* ipv4_to(char* p, const uint8_t* a) { return decimal::ipv4(p, a); }

char* ip_to(char* p, const uint8_t* a) {
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a, kMapped, 12) == 0) return ipv4_to(p, a + 12);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a, buf, sizeof(buf));
  size_t n = std::strlen(buf);
  std::memcpy(p, buf, n);
  return p + n;
}

char* quoted(char* p, std::string_view v) {
  *p++ = '"';
  p = escape_to(p, v);
  *p++ = '"';
  return p;
}

FieldOp::Kind kind_of(const FieldDesc& f) {
  switch (f.type) {
    case FieldType::U8:
    case FieldType::U16:
    case FieldType::U32:
    case FieldType::U64:
    case FieldType::DurationNs:
      return f.size == 1   ? FieldOp::U8
             : f.size == 2 ? FieldOp::U16
             : f.size == 4 ? FieldOp::U32
                           : FieldOp::U64;
    case FieldType::I8:
    case FieldType::I16:
    case FieldType::I32:
    case FieldType::I64:
      return f.size == 1   ? FieldOp::I8
             : f.size == 2 ? FieldOp::I16
             : f.size == 4 ? FieldOp::I32
                           : FieldOp::I64;
    case FieldType::Bool:
      return FieldOp::Bool;
    case FieldType::Chars:
      return FieldOp::Chars;
    case FieldType::VarChars:
      return FieldOp::VarChars;
    case FieldType::VarJson:
      return FieldOp::VarJson;
    case FieldType::Ipv4:
      return FieldOp::Ipv4;
    case FieldType::IpAddr:
      return FieldOp::IpAddr;
    case FieldType::MonoTimeNs:
      return FieldOp::MonoTime;
    case FieldType::Enum:
      return FieldOp::Enum;
  }
  return FieldOp::U64;  // validate_schema() refuses unknown types
}

// The compiled form of one field (its key is added by compile_type()).
FieldOp op_of(const FieldDesc& f, uint32_t index) {
  return FieldOp{.kind = kind_of(f),
                 .omit_zero = (f.flags & sdk::kFieldOmitZero) != 0,
                 .size = f.size,
                 .offset = f.offset,
                 .index = index,
                 .aux = f.aux};
}

// Writes one compiled field's JSON value at p; returns the end: one switch on
// its kind, inlined in encode_to()'s loop (a call per field cost about as much
// as the switch). Pointer in, pointer out: keeps the output position in a
// register across fields.
[[gnu::always_inline]] inline char* write_op(char* p, const FieldOp& op, const uint8_t* record,
                                             int64_t mono_to_epoch) {
  const uint8_t* v = record + op.offset;
  switch (op.kind) {
    case FieldOp::U8:
      return decimal::u64(p, v[0]);
    case FieldOp::U16:
      return decimal::u64(p, load<uint16_t>(v));
    case FieldOp::U32:
      return decimal::u64(p, load<uint32_t>(v));
    case FieldOp::U64:
      return decimal::u64(p, load<uint64_t>(v));
    case FieldOp::I8:
      return decimal::i64(p, load<int8_t>(v));
    case FieldOp::I16:
      return decimal::i64(p, load<int16_t>(v));
    case FieldOp::I32:
      return decimal::i64(p, load<int32_t>(v));
    case FieldOp::I64:
      return decimal::i64(p, load<int64_t>(v));
    case FieldOp::Bool:
      if (load_unsigned(v, op.size)) {
        std::memcpy(p, "true", 4);
        return p + 4;
      }
      std::memcpy(p, "false", 5);
      return p + 5;
    case FieldOp::Chars:
      *p++ = '"';
      p = escape_chars_to(p, v, op.size);
      *p++ = '"';
      return p;
    case FieldOp::VarChars:
      return quoted(p, var_of(record, v));
    case FieldOp::VarJson: {
      auto j = var_of(record, v);
      if (j.empty()) j = "null";
      std::memcpy(p, j.data(), j.size());
      return p + j.size();
    }
    case FieldOp::Ipv4:
      *p++ = '"';
      p = ipv4_to(p, v);
      *p++ = '"';
      return p;
    case FieldOp::IpAddr:
      *p++ = '"';
      p = ip_to(p, v);
      *p++ = '"';
      return p;
    case FieldOp::MonoTime: {
      uint64_t t = load<uint64_t>(v);
      return decimal::u64(p, t ? t + mono_to_epoch : 0);
    }
    case FieldOp::Enum: {
      uint64_t n = load_unsigned(v, op.size);
      const auto* e = static_cast<const sdk::EnumDesc*>(op.aux);
      if (e && n < e->count && e->names[n]) return quoted(p, e->names[n]);
      return decimal::u64(p, n);
    }
  }
  std::memcpy(p, "null", 4);
  return p + 4;
}

// Most bytes one value of the fixed part can take (Var* tails are bounded
// by the record size separately).
size_t value_bound(const FieldDesc& f) {
  switch (f.type) {
    case FieldType::Chars:
      return 2 + 6 * size_t(f.size);
    case FieldType::IpAddr:
      return 2 + INET6_ADDRSTRLEN;
    case FieldType::Ipv4:
      return 2 + 15;
    case FieldType::Enum: {
      size_t m = 20;
      if (const auto* e = static_cast<const sdk::EnumDesc*>(f.aux))
        for (uint32_t i = 0; i < e->count; ++i)
          if (e->names[i]) m = std::max(m, 2 + 6 * std::strlen(e->names[i]));
      return m;
    }
    case FieldType::VarChars:
    case FieldType::VarJson:
      return 4;  // quotes or null; the bytes are bounded by the record
    default:
      return 21;
  }
}

bool size_matches(const FieldDesc& f) {
  switch (f.type) {
    case FieldType::U8:
    case FieldType::I8:
      return f.size == 1;
    case FieldType::U16:
    case FieldType::I16:
      return f.size == 2;
    case FieldType::U32:
    case FieldType::I32:
    case FieldType::Ipv4:
      return f.size == 4;
    case FieldType::U64:
    case FieldType::I64:
    case FieldType::MonoTimeNs:
    case FieldType::DurationNs:
      return f.size == 8;
    case FieldType::Bool:
      return f.size == 1 || f.size == 2 || f.size == 4 || f.size == 8;
    case FieldType::Enum:
      return f.size == 1 || f.size == 2 || f.size == 4;
    case FieldType::Chars:
      return f.size >= 1;
    case FieldType::IpAddr:
      return f.size == 16;
    case FieldType::VarChars:
    case FieldType::VarJson:
      return f.size == sizeof(leaf_var);
  }
  return false;
}

}  // namespace

std::string validate_schema(const sdk::EventTypeDesc& t) {
  if (!t.name || !*t.name) return "event type without a name";
  std::string where = "event type '" + std::string(t.name) + "'";
  auto cat = static_cast<uint32_t>(t.category);
  if (cat < 1 || cat > 4) return where + ": unknown category " + std::to_string(cat);
  if (t.fixed_size < sizeof(leaf_event_header))
    return where + ": fixed_size " + std::to_string(t.fixed_size) +
           " is smaller than the event header";
  if (t.max_size < t.fixed_size) return where + ": max_size is smaller than fixed_size";
  if (t.field_count && !t.fields) return where + ": field table missing";
  bool has_var = false;
  for (uint32_t i = 0; i < t.field_count; ++i) {
    const FieldDesc& f = t.fields[i];
    if (!f.name || !*f.name) return where + ": field " + std::to_string(i) + " has no name";
    std::string fw = where + ", field '" + f.name + "'";
    if (!size_matches(f)) return fw + ": size " + std::to_string(f.size) + " does not fit its type";
    if (uint32_t(f.offset) + f.size > t.fixed_size) return fw + ": lies outside fixed_size";
    if (f.offset < sizeof(leaf_event_header)) return fw + ": overlaps the event header";
    has_var = has_var || f.type == FieldType::VarChars || f.type == FieldType::VarJson;
    for (uint32_t j = 0; j < i; ++j)
      if (std::strcmp(t.fields[j].name, f.name) == 0) return fw + ": name used twice";
  }
  if (!has_var && t.max_size != t.fixed_size)
    return where + ": max_size differs from fixed_size but no field is variable";
  // record_fits() checks variable fields only when a record can have a tail;
  // without one they could point anywhere (found by fuzz_event_encoder).
  if (has_var && t.max_size == t.fixed_size)
    return where + ": has variable fields but max_size leaves no room after fixed_size";
  if (t.key_field && find_field(t, t.key_field) < 0)
    return where + ": key_field '" + t.key_field + "' is not a field";
  return {};
}

bool record_fits(const sdk::EventTypeDesc& t, const uint8_t* record, uint32_t size) {
  if (size < t.fixed_size || size > t.max_size) return false;
  if (t.max_size == t.fixed_size) return true;
  // encode_bound() reserves 6 bytes per record byte for the escaped tail:
  // fields pointing at the same bytes (each range inside the record) could
  // add up to more and write past it. Plugins write disjoint ranges, whose
  // lengths add up to at most the tail; more is refused (a cheap sum, no
  // sorting of ranges on the hot path).
  uint32_t tail_bytes = 0;
  for (uint32_t i = 0; i < t.field_count; ++i) {
    const FieldDesc& f = t.fields[i];
    if (f.type != FieldType::VarChars && f.type != FieldType::VarJson) continue;
    auto v = load<leaf_var>(record + f.offset);
    if (v.length == 0) continue;
    if (v.offset < t.fixed_size || uint32_t(v.offset) + v.length > size) return false;
    tail_bytes += v.length;
    if (f.type == FieldType::VarJson && !is_one_json_value(var_of(record, record + f.offset)))
      return false;
  }
  return tail_bytes <= size - t.fixed_size;
}

int find_field(const sdk::EventTypeDesc& t, std::string_view name) {
  for (uint32_t i = 0; i < t.field_count; ++i)
    if (name == t.fields[i].name) return static_cast<int>(i);
  return -1;
}

void Fragment::set(std::string s) {
  text = std::move(s);
  fits = text.size() <= kInline;
  if (fits) std::memcpy(padded, text.data(), text.size());
}

namespace {
// Copies a fragment; may write up to Fragment::kInline bytes (the bound
// reserves that slack), but advances by its true length.
inline void put(RawWriter& w, const Fragment& f) {
  if (f.fits) {
    char* p = w.pos();
    std::memcpy(p, f.padded, 16);
    if (f.text.size() > 16) std::memcpy(p + 16, f.padded + 16, 16);
    if (f.text.size() > 32) std::memcpy(p + 32, f.padded + 32, 16);
    w = RawWriter(p + f.text.size());
  } else {
    w.lit(f.text);
  }
}
}  // namespace

CompiledType compile_type(const sdk::EventTypeDesc& t) {
  CompiledType c;
  c.desc = &t;
  c.name_size = std::strlen(t.name);
  JsonWriter pw(c.prefix);
  pw.raw("{\"type\":");
  pw.string(sdk::category_name(t.category));
  pw.raw(",\"timestamp\":");
  JsonWriter dw(c.data_prefix);
  dw.raw("\",\"data\":{\"type\":");
  dw.string(t.name);
  c.static_bound = c.prefix.size() + 20 + 16 + c.data_prefix.size() + 4;
  for (uint32_t i = 0; i < t.field_count; ++i) {
    const FieldDesc& f = t.fields[i];
    std::string k;
    if (!(f.flags & sdk::kFieldHidden)) {
      JsonWriter kw(k);
      kw.raw(',');
      kw.key(f.name);
      c.static_bound += k.size() + value_bound(f);
    }
    c.keys.emplace_back();
    c.keys.back().set(std::move(k));
    if (!(f.flags & sdk::kFieldHidden)) {
      FieldOp op = op_of(f, i);
      const std::string& key = c.keys.back().text;
      op.key_size = static_cast<uint8_t>(std::min<size_t>(key.size(), 255));
      if (key.size() <= FieldOp::kKeyInline) std::memcpy(op.key, key.data(), key.size());
      c.ops.push_back(op);
    }
  }
  c.static_bound += Fragment::kInline;  // slack for put()'s fixed-size copies
  return c;
}

size_t encode_bound(const CompiledType& c, uint32_t size, const EncodeContext& ctx,
                    const EventEdits* edits) {
  size_t b = c.static_bound + 6 * size_t(size) + ctx.hostname.size() + ctx.metadata_json.size() + 1;
  if (edits) {
    b += edits->extras.size();
    for (const auto& [i, s] : edits->replaced) b += 2 + 6 * s.size();
  }
  return b;
}

size_t encode_to(char* out, const CompiledType& c, const uint8_t* record, const EncodeContext& ctx,
                 const EventEdits* edits, int key_field, std::string_view* key) {
  const sdk::EventTypeDesc& t = *c.desc;
  RawWriter w(out);
  w.lit(c.prefix);
  w = RawWriter(decimal::u64(w.pos(), load<uint64_t>(record) + ctx.mono_to_epoch_ns));
  w.lit(",\"hostname\":\"");
  w.lit(ctx.hostname);
  w.lit(c.data_prefix);
  const bool have_edits = edits && !edits->replaced.empty();
  if (!key) key_field = -1;
  for (const FieldOp& op : c.ops) {
    const uint32_t i = op.index;
    if (op.omit_zero && is_zero(t.fields[i], record) && !(have_edits && edits->replacement(i)))
      continue;
    if (op.key_size <= FieldOp::kKeyInline) {
      char* p = w.pos();
      std::memcpy(p, op.key, 16);
      std::memcpy(p + 16, op.key + 16, 16);
      w = RawWriter(p + op.key_size);
    } else {
      put(w, c.keys[i]);
    }
    if (have_edits) {
      if (const std::string* r = edits->replacement(i)) {
        w.string(*r);
        continue;
      }
    }
    char* start = w.pos();
    w = RawWriter(write_op(start, op, record, ctx.mono_to_epoch_ns));
    if (static_cast<int>(i) == key_field && op.kind != FieldOp::Chars &&
        op.kind != FieldOp::VarChars && op.kind != FieldOp::VarJson) {
      std::string_view v(start, w.pos() - start);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      *key = v;
    }
  }
  if (edits && !edits->extras.empty()) w.lit(edits->extras);
  if (!ctx.metadata_json.empty()) {
    w.ch(',');
    w.lit(ctx.metadata_json);
  }
  w.ch('}');
  w.ch('}');
  return static_cast<size_t>(w.pos() - out);
}

void encode_event(std::string& out, const sdk::EventTypeDesc& t, const uint8_t* record,
                  uint32_t size, const EncodeContext& ctx, const EventEdits* edits) {
  CompiledType c = compile_type(t);
  size_t at = out.size();
  out.resize(at + encode_bound(c, size, ctx, edits));
  size_t n = encode_to(out.data() + at, c, record, ctx, edits);
  out.resize(at + n);
}

void field_text(std::string& out, const FieldDesc& f, const uint8_t* record, uint32_t /*size*/,
                int64_t mono_to_epoch) {
  const uint8_t* p = record + f.offset;
  switch (f.type) {
    case FieldType::Chars:
      out.append(chars_of(p, f.size));
      return;
    case FieldType::VarChars:
    case FieldType::VarJson:
      out.append(var_of(record, p));
      return;
    case FieldType::Enum: {
      uint64_t v = load_unsigned(p, f.size);
      const auto* e = static_cast<const sdk::EnumDesc*>(f.aux);
      if (e && v < e->count && e->names[v]) {
        out.append(e->names[v]);
        return;
      }
      break;
    }
    default:
      break;
  }
  // Numbers, booleans and addresses: their JSON text, without quotes.
  char buf[64];
  char* end = write_op(buf, op_of(f, 0), record, mono_to_epoch);
  std::string_view v(buf, end - buf);
  if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
  out.append(v);
}

}  // namespace leaf::core
