// The Kafka sink's disk spool on its own (plugins/kafka/spool/): the segment
// format, replay order, acknowledgement watermark across a restart, a torn
// tail and a corrupt CRC (counted and skipped), rotation, the size bound and
// its two policies. Real files in a temporary directory.
#include "../spool/spool.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../spool/record.hpp"

namespace {

namespace fs = std::filesystem;
using leaf::kafka::spool::Options;
using leaf::kafka::spool::Record;
using leaf::kafka::spool::RecordView;
using leaf::kafka::spool::Spool;

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/leaf-spool-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

// Every payload has the same size (the tests compute offsets).
std::string payload(int i) {
  char seq[16];
  std::snprintf(seq, sizeof(seq), "%08d", i);
  return std::string("{\"seq\":\"") + seq + "\",\"pad\":\"" + std::string(40, 'x') + "\"}";
}
constexpr uint64_t kRecordSize = 16 + 20 + 1 + 67;  // headers, key "k", payload

Spool::Result add(Spool& s, int i, const std::string& key = "k") {
  std::string v = payload(i);
  RecordView r;
  r.category = static_cast<uint8_t>(i % 4);
  r.key = key.empty() ? nullptr : key.data();
  r.key_size = key.size();
  r.event_ns = 1'000'000'000ull * static_cast<uint64_t>(i);
  r.value = v.data();
  r.value_size = v.size();
  return s.append(r);
}

// Takes every record the spool hands over (acknowledging them when `ack`).
std::vector<Record> drain(Spool& s, bool ack) {
  std::vector<Record> out;
  while (const Record* r = s.peek()) {
    out.push_back(*r);
    s.handed();
    if (ack) s.acked(out.back().seq);
  }
  return out;
}

std::vector<fs::path> segments(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".seg") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

Options opts(const std::string& dir) {
  Options o;
  o.dir = dir;
  o.max_bytes = 64 << 20;
  o.segment_bytes = 1 << 20;
  o.fsync_interval_ns = 0;
  return o;
}

}  // namespace

TEST_CASE("records come back in order with their fields; acknowledged segments are deleted") {
  TempDir d;
  Options o = opts(d.path);
  o.segment_bytes = 64 * 1024;  // ~800 records a segment
  Spool s(o);
  for (int i = 0; i < 5000; ++i)
    REQUIRE(add(s, i, i % 3 ? "key" + std::to_string(i) : "") == Spool::Result::Ok);
  s.tick(1);
  CHECK(segments(d.path).size() >= 5);  // rotated
  CHECK(s.stats().records == 5000);
  CHECK(s.stats().appended == 5000);
  auto got = drain(s, false);
  REQUIRE(got.size() == 5000);
  for (int i = 0; i < 5000; ++i) {
    CHECK(got[i].seq == uint64_t(i + 1));
    CHECK(got[i].value == payload(i));
    CHECK(got[i].category == i % 4);
    CHECK(got[i].has_key == (i % 3 != 0));
    if (i % 3) CHECK(got[i].key == "key" + std::to_string(i));
    CHECK(got[i].event_ns == 1'000'000'000ull * i);
  }
  CHECK(s.stats().replayed == 5000);
  // Acknowledged out of order: the watermark waits for the lowest.
  for (int i = 4999; i >= 1; --i) s.acked(got[i].seq);
  s.tick(2);
  CHECK(s.stats().records == 5000);
  CHECK(segments(d.path).size() >= 5);
  s.acked(got[0].seq);
  s.tick(3);
  CHECK(s.stats().records == 0);
  CHECK(segments(d.path).empty());
  CHECK(s.stats().oldest_event_ns == 0);
}

TEST_CASE("a restart replays only what was not acknowledged, and counts what was sent before") {
  TempDir d;
  {
    Spool s(opts(d.path));
    for (int i = 0; i < 100; ++i) REQUIRE(add(s, i) == Spool::Result::Ok);
    auto got = drain(s, false);
    REQUIRE(got.size() == 100);
    for (int i = 0; i < 40; ++i) s.acked(got[i].seq);  // 40 acknowledged, 60 in flight
    s.tick(1);
  }
  {
    Spool s(opts(d.path));
    CHECK(s.stats().records == 60);
    CHECK(s.stats().possible_duplicates == 60);
    auto notes = s.take_notes();
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].find("60 records not acknowledged") != std::string::npos);
    auto got = drain(s, true);
    REQUIRE(got.size() == 60);
    CHECK(got.front().value == payload(40));
    CHECK(got.back().value == payload(99));
    // New records continue the sequence.
    REQUIRE(add(s, 100) == Spool::Result::Ok);
    auto more = drain(s, true);
    REQUIRE(more.size() == 1);
    CHECK(more[0].seq == 101);
    s.tick(1);
    CHECK(s.stats().records == 0);
  }
  Spool s(opts(d.path));
  CHECK(s.stats().records == 0);
  CHECK(s.peek() == nullptr);
}

TEST_CASE("records never handed over are replayed after a restart without counting duplicates") {
  TempDir d;
  {
    Spool s(opts(d.path));
    for (int i = 0; i < 10; ++i) REQUIRE(add(s, i) == Spool::Result::Ok);
  }  // closed: written and synced
  Spool s(opts(d.path));
  CHECK(s.stats().possible_duplicates == 0);
  CHECK(drain(s, true).size() == 10);
}

TEST_CASE("a torn tail (a crash mid-write) is counted and skipped; the records before it stay") {
  TempDir d;
  {
    Spool s(opts(d.path));
    for (int i = 0; i < 50; ++i) REQUIRE(add(s, i) == Spool::Result::Ok);
  }
  auto segs = segments(d.path);
  REQUIRE(segs.size() == 1);
  auto size = fs::file_size(segs[0]);
  fs::resize_file(segs[0], size - 10);  // the last record loses its end
  Spool s(opts(d.path));
  CHECK(s.stats().corrupt_records == 1);
  auto notes = s.take_notes();
  REQUIRE(!notes.empty());
  CHECK(notes[0].find("corrupt or torn record") != std::string::npos);
  auto got = drain(s, true);
  REQUIRE(got.size() == 49);
  CHECK(got.back().value == payload(48));
  // Appends go on (into a new segment), in sequence after the valid ones.
  REQUIRE(add(s, 1000) == Spool::Result::Ok);
  auto more = drain(s, true);
  REQUIRE(more.size() == 1);
  CHECK(more[0].value == payload(1000));
}

TEST_CASE("a corrupt CRC in the middle of a segment is counted; the segment is read up to it") {
  TempDir d;
  {
    Options o = opts(d.path);
    o.segment_bytes = 64 * 1024;
    Spool s(o);
    for (int i = 0; i < 2000; ++i) REQUIRE(add(s, i) == Spool::Result::Ok);
  }
  auto segs = segments(d.path);
  REQUIRE(segs.size() >= 2);
  // Flip one byte of the 11th record's value in the first segment.
  uint64_t rec = kRecordSize;
  REQUIRE(rec == 16 + 20 + 1 + payload(0).size());
  {
    std::fstream f(segs[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(16 + 10 * rec + rec - 3));
    f.put('#');
  }
  uint64_t first_size = fs::file_size(segs[0]);
  uint64_t per_segment = (first_size - 16) / rec;
  Options o = opts(d.path);
  o.segment_bytes = 64 * 1024;
  Spool s(o);
  CHECK(s.stats().corrupt_records == 1);
  CHECK(s.stats().corrupt_bytes == first_size - 16 - 10 * rec);
  auto got = drain(s, true);
  // 10 records of the first segment, then every record of the others.
  REQUIRE(got.size() == 2000 - per_segment + 10);
  CHECK(got[9].value == payload(9));
  CHECK(got[10].value == payload(static_cast<int>(per_segment)));
  CHECK(got.back().value == payload(1999));
}

TEST_CASE("a file that is not a segment (a torn header) is counted and removed, never a crash") {
  TempDir d;
  { std::ofstream(d.path + "/00000000000000000001.seg") << "LEAF"; }
  { std::ofstream(d.path + "/00000000000000000009.seg") << std::string(100, '\xff'); }
  Spool s(opts(d.path));
  CHECK(s.stats().corrupt_records == 2);
  CHECK(s.peek() == nullptr);
  CHECK(segments(d.path).empty());
  REQUIRE(add(s, 7) == Spool::Result::Ok);
  CHECK(drain(s, true).size() == 1);
}

TEST_CASE("the ack file torn: everything is replayed, counted") {
  TempDir d;
  {
    Spool s(opts(d.path));
    for (int i = 0; i < 20; ++i) REQUIRE(add(s, i) == Spool::Result::Ok);
    auto got = drain(s, false);
    for (int i = 0; i < 5; ++i) s.acked(got[i].seq);
    s.tick(1);
  }
  {
    std::fstream f(d.path + "/ack", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(9);
    f.put('\x7f');
  }
  Spool s(opts(d.path));
  CHECK(s.stats().corrupt_records == 1);
  CHECK(drain(s, true).size() == 20);
}

TEST_CASE("full, drop_newest: new records are refused and counted; room comes back with acks") {
  TempDir d;
  Options o = opts(d.path);
  o.max_bytes = 1 << 20;
  o.segment_bytes = 128 * 1024;
  Spool s(o);
  int ok = 0, full = 0;
  for (int i = 0; i < 20000; ++i) (add(s, i) == Spool::Result::Ok ? ok : full)++;
  s.tick(1);
  CHECK(ok > 10000);
  CHECK(full == 20000 - ok);
  CHECK(s.stats().dropped_full == uint64_t(full));
  CHECK(s.stats().bytes <= o.max_bytes);
  uint64_t on_disk = 0;
  for (auto& p : segments(d.path)) on_disk += fs::file_size(p);
  CHECK(on_disk == s.stats().bytes);
  auto got = drain(s, true);
  REQUIRE(got.size() == size_t(ok));
  CHECK(got.back().value == payload(ok - 1));  // the oldest kept, the newest refused
  s.tick(2);
  CHECK(add(s, 99999) == Spool::Result::Ok);
}

TEST_CASE("full, drop_oldest: the oldest segment goes, its records counted") {
  TempDir d;
  Options o = opts(d.path);
  o.max_bytes = 1 << 20;
  o.segment_bytes = 128 * 1024;
  o.drop_oldest = true;
  Spool s(o);
  for (int i = 0; i < 20000; ++i) REQUIRE(add(s, i) == Spool::Result::Ok);
  s.tick(1);
  CHECK(s.stats().bytes <= o.max_bytes);
  auto got = drain(s, true);
  CHECK(s.stats().dropped_oldest == 20000 - got.size());
  // At most one segment (and the header of the next) below the bound.
  CHECK(got.size() * kRecordSize >= o.max_bytes - o.segment_bytes - 2 * kRecordSize - 32);
  CHECK(got.back().value == payload(19999));  // the newest kept
  // What is left is contiguous and in order.
  for (size_t i = 1; i < got.size(); ++i) CHECK(got[i].seq == got[i - 1].seq + 1);
}

TEST_CASE("the spool directory is locked: a second spool on it is refused with a message") {
  TempDir d;
  Spool s(opts(d.path));
  try {
    Spool other(opts(d.path));
    FAIL("a second spool opened the same directory");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("in use by another process") != std::string::npos);
  }
}

TEST_CASE("a spool directory that cannot be created is refused, naming it") {
  try {
    Spool s(opts("/proc/leaf-no-such-dir/spool"));
    FAIL("opened");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("/proc/leaf-no-such-dir/spool") != std::string::npos);
  }
}

TEST_CASE(
    "a write that fails (file size limit): buffered records dropped, counted; appends resume") {
  TempDir d;
  Options o = opts(d.path);
  o.segment_bytes = 4 << 20;
  Spool s(o);
  // Writes past 200 KB fail with EFBIG (SIGXFSZ ignored), as a full disk fails with ENOSPC.
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 200 * 1024;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  int ok = 0, failed = 0, i = 0;
  for (; i < 5000 && failed == 0; ++i) (add(s, i) == Spool::Result::Ok ? ok : failed)++;
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  REQUIRE(failed == 1);
  uint64_t dropped = s.stats().dropped_write_error;
  CHECK(dropped > 1);  // the whole 64 KiB buffer
  auto notes = s.take_notes();
  REQUIRE(!notes.empty());
  CHECK(notes.back().find("write failed (File too large)") != std::string::npos);
  // The segment holds exactly the records written before the failure.
  auto segs = segments(d.path);
  REQUIRE(segs.size() == 1);
  CHECK(fs::file_size(segs[0]) == 16 + (i - dropped) * kRecordSize);
  // Writes work again: appends continue the sequence.
  for (int j = 0; j < 100; ++j) REQUIRE(add(s, 10000 + j) == Spool::Result::Ok);
  auto got = drain(s, true);
  REQUIRE(got.size() == i - dropped + 100);
  for (size_t k = 1; k < got.size(); ++k) CHECK(got[k].seq == got[k - 1].seq + 1);
  CHECK(got.back().value == payload(10099));
  CHECK(got[i - dropped - 1].value == payload(static_cast<int>(i - dropped - 1)));
}

namespace {
uint64_t add_copy(Spool& s, int i) {
  std::string v = payload(i);
  RecordView r;
  r.category = static_cast<uint8_t>(i % 4);
  r.key = "k";
  r.key_size = 1;
  r.event_ns = 1'000'000'000ull * static_cast<uint64_t>(i);
  r.value = v.data();
  r.value_size = v.size();
  return s.append_copy(r);
}
int seq_of(const Record& r) { return std::atoi(r.value.c_str() + 8); }
}  // namespace

TEST_CASE("copies of what librdkafka holds: the reader waits at them, acked or reclaimed") {
  TempDir d;
  {
    Spool s(opts(d.path));
    // Copies 0..9 (in librdkafka), then events 10..19 spooled after them.
    std::vector<uint64_t> copies;
    for (int i = 0; i < 10; ++i) copies.push_back(add_copy(s, i));
    CHECK(copies.front() == 1);
    CHECK(copies.back() == 10);
    CHECK(s.commit_copies() == 0);
    for (int i = 10; i < 20; ++i) REQUIRE(add(s, i) == Spool::Result::Ok);
    CHECK(s.stats().copied == 10);
    CHECK(s.stats().appended == 20);
    s.tick(1);
    CHECK(s.stats().records == 20);
    // Nothing is handed over while the first copy is in librdkafka.
    CHECK(s.peek() == nullptr);
    CHECK(!s.caught_up());
    // Acknowledged out of order: the reader passes 0..2 once 0 is acked.
    s.acked(copies[2]);
    s.acked(copies[1]);
    CHECK(s.peek() == nullptr);
    s.acked(copies[0]);
    // Copy 3 failed in librdkafka: handed over in its turn; 4..9 acked.
    CHECK(s.reclaim(copies[3]));
    CHECK(!s.reclaim(copies[3]));  // only once
    for (int i = 4; i < 10; ++i) s.acked(copies[i]);
    std::vector<Record> got = drain(s, false);
    REQUIRE(got.size() == 11);
    CHECK(seq_of(got[0]) == 3);
    CHECK(got[0].copy);
    for (int i = 1; i < 11; ++i) {
      CHECK(seq_of(got[i]) == 9 + i);
      CHECK(!got[i].copy);
    }
    CHECK(s.stats().replayed == 11);
    CHECK(s.caught_up());
    // The watermark stops at record 4 (copy 3, handed over, not acknowledged):
    // a restart replays records 4..20 (copies 3..9, events 10..19), all handed
    // over or acknowledged before, so all possible duplicates.
    s.tick(1);
  }
  {
    Spool s(opts(d.path));
    CHECK(s.stats().records == 17);
    CHECK(s.stats().possible_duplicates == 17);
    std::vector<Record> got = drain(s, true);
    REQUIRE(got.size() == 17);
    for (int i = 0; i < 17; ++i) CHECK(seq_of(got[i]) == 3 + i);
  }
}

TEST_CASE("copies still in librdkafka at a kill are replayed and counted as possible duplicates") {
  TempDir d;
  {
    Spool s(opts(d.path));
    for (int i = 0; i < 5; ++i) REQUIRE(add_copy(s, i) != 0);
    CHECK(s.commit_copies() == 0);
    for (int i = 5; i < 8; ++i) REQUIRE(add(s, i) == Spool::Result::Ok);
    // The spooled events wait behind the copies.
    CHECK(!s.caught_up());
    s.tick(1);
  }  // no acknowledgement: as after a kill -9 (everything was written out)
  Spool s(opts(d.path));
  CHECK(s.stats().records == 8);
  CHECK(s.stats().possible_duplicates == 5);  // the copies, not the 3 spooled events
  std::vector<Record> got = drain(s, true);
  REQUIRE(got.size() == 8);
  for (int i = 0; i < 8; ++i) CHECK(seq_of(got[i]) == i);
}

TEST_CASE("a spool of copies only is caught up; a full spool refuses a copy without a drop") {
  TempDir d;
  Options o = opts(d.path);
  o.max_bytes = 64 * 1024;
  o.segment_bytes = 16 * 1024;
  Spool s(o);
  for (int i = 0; i < 3; ++i) REQUIRE(add_copy(s, i) != 0);
  CHECK(s.commit_copies() == 0);
  CHECK(s.peek() == nullptr);
  CHECK(s.caught_up());  // only copies librdkafka holds: new events may go straight to it
  int n = 3;
  while (add_copy(s, n) != 0) ++n;
  CHECK(s.stats().dropped_full == 0);  // a refused copy is still in memory
  CHECK(s.stats().copied == uint64_t(n));
}

// The CRC of a record is zlib's crc32 of the sequence number (host order)
// and the body, whatever computes it: segments written by earlier versions
// stay readable, and a changed byte is caught.
TEST_CASE("the record CRC is zlib's crc32 of seq and body (the segment format)") {
  for (size_t value_size : {0, 1, 7, 8, 15, 16, 63, 64, 450, 1000, 5000}) {
    std::string value;
    for (size_t i = 0; i < value_size; ++i) value += static_cast<char>(i * 131 + 7);
    RecordView v;
    v.category = 2;
    v.key = "k1";
    v.key_size = 2;
    v.value = value.data();
    v.value_size = value.size();
    std::vector<char> out(v.encoded_size());
    uint64_t seq = 0x0123456789abcdefull + value_size;
    leaf::kafka::spool::encode(v, seq, out.data());
    uint32_t body_size, crc;
    std::memcpy(&body_size, out.data(), 4);
    std::memcpy(&crc, out.data() + 4, 4);
    REQUIRE(body_size == out.size() - leaf::kafka::spool::kRecordHeader);
    uLong z = crc32(0L, reinterpret_cast<const Bytef*>(&seq), sizeof(seq));
    z = crc32(z, reinterpret_cast<const Bytef*>(out.data() + leaf::kafka::spool::kRecordHeader),
              body_size);
    CAPTURE(value_size);
    CHECK(crc == static_cast<uint32_t>(z));
    Record r;
    size_t used = 0;
    CHECK(leaf::kafka::spool::decode(out.data(), out.size(), &r, &used) ==
          leaf::kafka::spool::Decoded::Ok);
    CHECK(used == out.size());
    CHECK(r.value == value);
    out.back() ^= 1;
    if (value_size)
      CHECK(leaf::kafka::spool::decode(out.data(), out.size(), &r, &used) ==
            leaf::kafka::spool::Decoded::Corrupt);
  }
}
