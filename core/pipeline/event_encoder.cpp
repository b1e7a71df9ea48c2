#include "pipeline/event_encoder.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "leaf_event.h"
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
    case 1: return p[0];
    case 2: return load<uint16_t>(p);
    case 4: return load<uint32_t>(p);
    default: return load<uint64_t>(p);
  }
}

int64_t load_signed(const uint8_t* p, uint16_t size) {
  switch (size) {
    case 1: return load<int8_t>(p);
    case 2: return load<int16_t>(p);
    case 4: return load<int32_t>(p);
    default: return load<int64_t>(p);
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

// IPv4 dotted quad, written by hand: inet_ntop is the slowest part of an
// address otherwise.
void ipv4_text(std::string& out, const uint8_t* a) {
  char buf[16];
  char* w = buf;
  for (int i = 0; i < 4; ++i) {
    if (i) *w++ = '.';
    w = std::to_chars(w, buf + sizeof(buf), a[i]).ptr;
  }
  out.append(buf, w);
}

void ip_text(std::string& out, const uint8_t* a) {
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a, kMapped, 12) == 0) return ipv4_text(out, a + 12);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a, buf, sizeof(buf));
  out.append(buf);
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

void write_value(JsonWriter& w, std::string& out, const FieldDesc& f, const uint8_t* record,
                 int64_t mono_to_epoch) {
  const uint8_t* p = record + f.offset;
  switch (f.type) {
    case FieldType::U8:
    case FieldType::U16:
    case FieldType::U32:
    case FieldType::U64:
    case FieldType::DurationNs: w.u64(load_unsigned(p, f.size)); return;
    case FieldType::I8:
    case FieldType::I16:
    case FieldType::I32:
    case FieldType::I64: w.i64(load_signed(p, f.size)); return;
    case FieldType::Bool: w.boolean(load_unsigned(p, f.size) != 0); return;
    case FieldType::Chars: w.string(chars_of(p, f.size)); return;
    case FieldType::VarChars: w.string(var_of(record, p)); return;
    case FieldType::VarJson: {
      auto v = var_of(record, p);
      if (v.empty())
        w.raw("null");
      else
        w.raw(v);
      return;
    }
    case FieldType::Ipv4:
      out.push_back('"');
      ipv4_text(out, p);
      out.push_back('"');
      return;
    case FieldType::IpAddr:
      out.push_back('"');
      ip_text(out, p);
      out.push_back('"');
      return;
    case FieldType::MonoTimeNs: {
      uint64_t t = load<uint64_t>(p);
      w.u64(t ? t + mono_to_epoch : 0);
      return;
    }
    case FieldType::Enum: {
      uint64_t v = load_unsigned(p, f.size);
      const auto* e = static_cast<const sdk::EnumDesc*>(f.aux);
      if (e && v < e->count && e->names[v])
        w.string(e->names[v]);
      else
        w.u64(v);
      return;
    }
  }
  w.raw("null");
}

bool size_matches(const FieldDesc& f) {
  switch (f.type) {
    case FieldType::U8:
    case FieldType::I8: return f.size == 1;
    case FieldType::U16:
    case FieldType::I16: return f.size == 2;
    case FieldType::U32:
    case FieldType::I32:
    case FieldType::Ipv4: return f.size == 4;
    case FieldType::U64:
    case FieldType::I64:
    case FieldType::MonoTimeNs:
    case FieldType::DurationNs: return f.size == 8;
    case FieldType::Bool: return f.size == 1 || f.size == 2 || f.size == 4 || f.size == 8;
    case FieldType::Enum: return f.size == 1 || f.size == 2 || f.size == 4;
    case FieldType::Chars: return f.size >= 1;
    case FieldType::IpAddr: return f.size == 16;
    case FieldType::VarChars:
    case FieldType::VarJson: return f.size == sizeof(leaf_var);
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
  if (t.key_field && find_field(t, t.key_field) < 0)
    return where + ": key_field '" + t.key_field + "' is not a field";
  return {};
}

bool record_fits(const sdk::EventTypeDesc& t, const uint8_t* record, uint32_t size) {
  if (size < t.fixed_size || size > t.max_size) return false;
  if (t.max_size == t.fixed_size) return true;
  for (uint32_t i = 0; i < t.field_count; ++i) {
    const FieldDesc& f = t.fields[i];
    if (f.type != FieldType::VarChars && f.type != FieldType::VarJson) continue;
    auto v = load<leaf_var>(record + f.offset);
    if (v.length == 0) continue;
    if (v.offset < t.fixed_size || uint32_t(v.offset) + v.length > size) return false;
  }
  return true;
}

int find_field(const sdk::EventTypeDesc& t, std::string_view name) {
  for (uint32_t i = 0; i < t.field_count; ++i)
    if (name == t.fields[i].name) return static_cast<int>(i);
  return -1;
}

void encode_event(std::string& out, const sdk::EventTypeDesc& t, const uint8_t* record,
                  uint32_t /*size*/, const EncodeContext& ctx, const EventEdits* edits) {
  JsonWriter w(out);
  const auto* h = reinterpret_cast<const leaf_event_header*>(record);
  w.raw("{\"type\":\"");
  w.raw(sdk::category_name(t.category));
  w.raw("\",\"timestamp\":");
  uint64_t mono = load<uint64_t>(reinterpret_cast<const uint8_t*>(&h->timestamp_ns));
  w.u64(mono + ctx.mono_to_epoch_ns);
  w.raw(",\"hostname\":\"");
  w.raw(ctx.hostname);
  w.raw("\",\"data\":{\"type\":");
  w.string(t.name);
  const bool have_edits = edits && !edits->replaced.empty();
  for (uint32_t i = 0; i < t.field_count; ++i) {
    const FieldDesc& f = t.fields[i];
    if (f.flags & sdk::kFieldHidden) continue;
    if (have_edits) {
      if (const std::string* r = edits->replacement(i)) {
        w.raw(',');
        w.key(f.name);
        w.string(*r);
        continue;
      }
    }
    if ((f.flags & sdk::kFieldOmitZero) && is_zero(f, record)) continue;
    w.raw(',');
    w.key(f.name);
    write_value(w, out, f, record, ctx.mono_to_epoch_ns);
  }
  if (edits && !edits->extras.empty()) w.raw(edits->extras);
  if (!ctx.metadata_json.empty()) {
    w.raw(',');
    w.raw(ctx.metadata_json);
  }
  w.raw("}}");
}

void field_text(std::string& out, const FieldDesc& f, const uint8_t* record, uint32_t /*size*/,
                int64_t mono_to_epoch) {
  const uint8_t* p = record + f.offset;
  switch (f.type) {
    case FieldType::Chars: out.append(chars_of(p, f.size)); return;
    case FieldType::VarChars:
    case FieldType::VarJson: out.append(var_of(record, p)); return;
    case FieldType::Ipv4: ipv4_text(out, p); return;
    case FieldType::IpAddr: ip_text(out, p); return;
    case FieldType::Enum: {
      uint64_t v = load_unsigned(p, f.size);
      const auto* e = static_cast<const sdk::EnumDesc*>(f.aux);
      if (e && v < e->count && e->names[v]) {
        out.append(e->names[v]);
        return;
      }
      break;
    }
    default: break;
  }
  // Numbers and booleans: their JSON text is their key text.
  JsonWriter w(out);
  write_value(w, out, f, record, mono_to_epoch);
}

}  // namespace leaf::core
