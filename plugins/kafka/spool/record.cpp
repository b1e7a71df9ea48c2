#include "record.hpp"

#include <libdeflate.h>

#include <algorithm>
#include <cstring>

namespace leaf::kafka::spool {

namespace {

template <class T>
void put(char*& p, T v) {
  std::memcpy(p, &v, sizeof(T));
  p += sizeof(T);
}

template <class T>
T get(const char*& p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  p += sizeof(T);
  return v;
}

}  // namespace

// CRC-32 (zlib's, the segment format's) of the sequence number and the body,
// computed by libdeflate (issue 16: zlib 1.2.13's crc32 took ~15 % of the
// dispatcher thread at the json ceiling, where the spool takes events and
// checks each twice; libdeflate's is ~5x faster on a 450-byte event).
uint32_t checksum(uint64_t seq, const char* body, size_t size) {
  uint32_t crc = libdeflate_crc32(0, &seq, sizeof(seq));
  return libdeflate_crc32(crc, body, size);
}

void encode(const RecordView& r, uint64_t seq, char* out) {
  char* body = out + kRecordHeader;
  char* p = body;
  put<uint8_t>(p, r.category);
  put<uint8_t>(p, static_cast<uint8_t>((r.key ? 1 : 0) | (r.batch ? 2 : 0) | (r.copy ? 4 : 0)));
  put<uint16_t>(p, static_cast<uint16_t>(r.key ? r.key_size : 0));
  put<int32_t>(p, r.partition);
  put<uint32_t>(p, r.events);
  put<uint64_t>(p, r.event_ns);
  if (r.key && r.key_size) std::memcpy(p, r.key, r.key_size), p += r.key_size;
  if (r.value_size) std::memcpy(p, r.value, r.value_size), p += r.value_size;
  auto body_size = static_cast<uint32_t>(p - body);
  char* h = out;
  put<uint32_t>(h, body_size);
  put<uint32_t>(h, checksum(seq, body, body_size));
  put<uint64_t>(h, seq);
}

Decoded decode(const char* data, size_t size, Record* out, size_t* used) {
  if (size < kRecordHeader) return Decoded::Incomplete;
  const char* p = data;
  auto body_size = get<uint32_t>(p);
  auto crc = get<uint32_t>(p);
  auto seq = get<uint64_t>(p);
  if (body_size < kBodyHeader || body_size > kMaxBody) return Decoded::Corrupt;
  if (size - kRecordHeader < body_size) return Decoded::Incomplete;
  if (checksum(seq, p, body_size) != crc) return Decoded::Corrupt;
  const char* body = p;
  out->seq = seq;
  out->category = get<uint8_t>(p);
  auto flags = get<uint8_t>(p);
  out->has_key = flags & 1;
  out->batch = flags & 2;
  out->copy = flags & 4;
  auto key_size = get<uint16_t>(p);
  out->partition = get<int32_t>(p);
  out->events = get<uint32_t>(p);
  out->event_ns = get<uint64_t>(p);
  if (kBodyHeader + key_size > body_size) return Decoded::Corrupt;
  out->key.assign(p, key_size);
  p += key_size;
  out->value.assign(p, body_size - (p - body));
  *used = kRecordHeader + body_size;
  return Decoded::Ok;
}

void segment_header(char* out) {
  std::memcpy(out, kMagic, sizeof(kMagic));
  uint32_t v = kVersion, zero = 0;
  std::memcpy(out + 8, &v, 4);
  std::memcpy(out + 12, &zero, 4);
}

bool is_segment_header(const char* data) {
  uint32_t v;
  std::memcpy(&v, data + 8, 4);
  return std::memcmp(data, kMagic, sizeof(kMagic)) == 0 && v == kVersion;
}

}  // namespace leaf::kafka::spool
