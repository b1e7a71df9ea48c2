// The on-disk format of the Kafka sink's spool (spool.hpp): segment files
// of checksummed records.
//
//   segment = header (16 bytes: "LEAFSPOL", u32 version, u32 0) record*
//   record  = u32 body size | u32 crc32 (of seq and body) | u64 seq | body
//   body    = u8 category | u8 flags (1: has a key, 2: a json-batch message, 4: a copy) |
//             u16 key size |
//             i32 partition | u32 events | u64 event time (ns) | key | value
//
// Integers are in the host's byte order: a spool is read back by the
// leaf-host that wrote it (or its successor on the same machine). The CRC is
// CRC-32 as zlib's crc32 computes it (computed with libdeflate's, the same
// function, faster: record.cpp), which detects a torn or overwritten record;
// a record that fails it ends what is read of its segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace leaf::kafka::spool {

inline constexpr char kMagic[8] = {'L', 'E', 'A', 'F', 'S', 'P', 'O', 'L'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kSegmentHeader = 16;
inline constexpr size_t kRecordHeader = 16;
inline constexpr size_t kBodyHeader = 20;
// A record larger than this is taken for corruption (a Kafka message is at
// most ~1 MB; a json-batch message at most 960 KiB).
inline constexpr uint32_t kMaxBody = 16u << 20;

// One spooled message: an event (its JSON; partition -1, events 1), or a
// json-batch message saved at shutdown (batch: its value as sent, its
// partition, -1 when librdkafka's partitioner placed it, and event count).
struct Record {
  uint64_t seq = 0;
  uint8_t category = 0;
  bool has_key = false;
  bool batch = false;
  bool copy = false;  // librdkafka held the message when it was appended (Spool::append_copy)
  int32_t partition = -1;
  uint32_t events = 1;
  uint64_t event_ns = 0;
  std::string key;
  std::string value;
};

// What a record to append is made of (views; nothing is copied).
struct RecordView {
  uint8_t category = 0;
  const char* key = nullptr;  // nullptr: no key
  size_t key_size = 0;
  bool batch = false;
  bool copy = false;
  int32_t partition = -1;
  uint32_t events = 1;
  uint64_t event_ns = 0;
  const char* value = nullptr;
  size_t value_size = 0;

  size_t encoded_size() const { return kRecordHeader + kBodyHeader + key_size + value_size; }
};

// Writes the record (header included) at `out`, which has encoded_size() bytes.
void encode(const RecordView& r, uint64_t seq, char* out);

enum class Decoded { Ok, Incomplete, Corrupt };

// Decodes the record at the start of [data, data + size): Ok with `out` and
// the record's size in `used`; Incomplete when the bytes end inside it
// (a torn tail when nothing follows); Corrupt when its size or CRC is wrong.
Decoded decode(const char* data, size_t size, Record* out, size_t* used);

// The segment header; true when `data` (kSegmentHeader bytes) is one.
void segment_header(char* out);
bool is_segment_header(const char* data);

uint32_t checksum(uint64_t seq, const char* body, size_t size);

}  // namespace leaf::kafka::spool
