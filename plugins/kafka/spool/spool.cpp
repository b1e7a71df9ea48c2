#include "spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace leaf::kafka::spool {

namespace {

constexpr size_t kWriteBuffer = 64 * 1024;
constexpr size_t kReadChunk = 1 << 20;
constexpr char kSuffix[] = ".seg";

std::string errno_text(int e = errno) { return std::strerror(e); }

[[noreturn]] void fail(const std::string& what, int e = errno) {
  throw std::runtime_error(what + ": " + errno_text(e));
}

// Writes everything or fails with errno set.
bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

ssize_t pread_full(int fd, char* p, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, p + got, n - got, static_cast<off_t>(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

// "00000000000000000042.seg" -> 42; false for other names.
bool segment_name(const char* name, uint64_t* seq) {
  size_t len = std::strlen(name);
  if (len != 20 + sizeof(kSuffix) - 1 || std::strcmp(name + 20, kSuffix) != 0) return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  *seq = v;
  return true;
}

struct AckFile {
  uint64_t magic;
  uint64_t watermark;
  uint64_t handed;
  uint32_t crc;
  uint32_t zero;
};
constexpr uint64_t kAckMagic = 0x314b434146454c4cull;  // "LLEFACK1"

}  // namespace

Spool::Spool(Options options) : opt_(std::move(options)) {
  if (opt_.segment_bytes > opt_.max_bytes / 4)
    opt_.segment_bytes = std::max<uint64_t>(opt_.max_bytes / 4, 4096);
  std::error_code ec;
  std::filesystem::create_directories(opt_.dir, ec);
  if (ec)
    throw std::runtime_error("spool directory " + opt_.dir + " cannot be created: " + ec.message());
  dir_fd_ = ::open(opt_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) fail("spool directory " + opt_.dir);
  lock_fd_ = ::openat(dir_fd_, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock_fd_ < 0) fail("spool " + opt_.dir + "/lock");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    ::close(lock_fd_);
    ::close(dir_fd_);
    if (e == EWOULDBLOCK)
      throw std::runtime_error("spool directory " + opt_.dir +
                               " is in use by another process (another leaf-host?)");
    fail("spool " + opt_.dir + "/lock", e);
  }
  try {
    read_ack();
    std::vector<uint64_t> firsts;
    if (DIR* d = ::fdopendir(::dup(dir_fd_))) {
      while (dirent* e = ::readdir(d)) {
        uint64_t seq;
        if (segment_name(e->d_name, &seq)) firsts.push_back(seq);
      }
      ::closedir(d);
    } else {
      fail("spool directory " + opt_.dir + " cannot be listed");
    }
    std::sort(firsts.begin(), firsts.end());
    uint64_t possible_dups = 0, unacked = 0;
    for (uint64_t first : firsts) {
      Segment s;
      s.first_seq = first;
      s.last_seq = first - 1;
      s.path = seg_path(first);
      scan(s);
      if (!s.empty()) {
        next_seq_ = std::max(next_seq_, s.last_seq + 1);
        uint64_t from = std::max(s.first_seq, watermark_ + 1);
        if (s.last_seq >= from) {
          unacked += s.last_seq - from + 1;
          uint64_t hi = std::min(s.last_seq, handed_hi_);
          if (hi >= from) possible_dups += hi - from + 1;
        }
      }
      total_bytes_ += s.end;
      segments_.push_back(std::move(s));
    }
    next_seq_ = std::max(next_seq_, watermark_ + 1);
    // Replay starts after the watermark; what was handed over beyond it
    // before the restart may reach Kafka twice.
    handed_hi_ = watermark_;
    possible_dups += open_copies_;
    stats_.possible_duplicates = possible_dups;
    r_seg_ = segments_.empty() ? next_seq_ : segments_.front().first_seq;
    r_off_ = kSegmentHeader;
    if (unacked)
      note("spool " + opt_.dir + ": " + std::to_string(unacked) +
           " records not acknowledged before the last stop are replayed" +
           (possible_dups ? " (" + std::to_string(possible_dups) +
                                " of them were sent before and may arrive twice)"
                          : std::string()));
    delete_acked();
    update_gauges();
  } catch (...) {
    for (int fd : {ack_fd_, lock_fd_, dir_fd_})
      if (fd >= 0) ::close(fd);
    throw;
  }
}

Spool::~Spool() {
  try {
    sync_all();
  } catch (...) {
  }
  for (int fd : {active_fd_, ack_fd_, lock_fd_, dir_fd_})
    if (fd >= 0) ::close(fd);
}

std::string Spool::seg_path(uint64_t first_seq) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%020" PRIu64 "%s", first_seq, kSuffix);
  return opt_.dir + "/" + name;
}

void Spool::note(std::string line) { notes_.push_back(std::move(line)); }

std::vector<std::string> Spool::take_notes() { return std::move(notes_); }

// Reads a segment through: its valid records give last_seq and end; a bad
// header, a corrupt record or a torn tail is counted and ends it.
void Spool::scan(Segment& s) {
  int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("spool segment " + s.path);
  struct stat st {};
  ::fstat(fd, &st);
  auto size = static_cast<uint64_t>(st.st_size);
  std::string buf(kSegmentHeader, '\0');
  if (size < kSegmentHeader ||
      pread_full(fd, buf.data(), kSegmentHeader, 0) != static_cast<ssize_t>(kSegmentHeader) ||
      !is_segment_header(buf.data())) {
    ::close(fd);
    if (size > 0) {
      stats_.corrupt_records += 1;
      stats_.corrupt_bytes += size;
      note("spool segment " + s.path + ": not a spool segment (" + std::to_string(size) +
           " bytes); skipped");
    }
    s.end = 0;
    // Nothing readable: the file goes (a header torn by a crash).
    ::unlinkat(dir_fd_, s.path.substr(opt_.dir.size() + 1).c_str(), 0);
    s.path.clear();
    return;
  }
  uint64_t off = kSegmentHeader;
  std::string chunk;
  size_t pos = 0;
  uint64_t chunk_at = off;
  Record r;
  bool bad = false;
  while (off < size) {
    size_t used = 0;
    Decoded d = decode(chunk.data() + pos, chunk.size() - pos, &r, &used);
    if (d == Decoded::Incomplete) {
      if (chunk_at + chunk.size() >= size) {
        bad = true;  // a torn tail
        break;
      }
      chunk.erase(0, pos);
      chunk_at += pos;
      pos = 0;
      size_t have = chunk.size();
      size_t want = std::max<size_t>(kReadChunk, have + kRecordHeader + kMaxBody / 16);
      chunk.resize(want);
      ssize_t got = pread_full(fd, chunk.data() + have, want - have, chunk_at + have);
      chunk.resize(have + static_cast<size_t>(std::max<ssize_t>(got, 0)));
      if (got <= 0) {
        bad = true;
        break;
      }
      continue;
    }
    if (d == Decoded::Corrupt || r.seq < s.first_seq || (!s.empty() && r.seq != s.last_seq + 1)) {
      bad = true;
      break;
    }
    if (s.empty() || r.seq % 64 == 0) times_.emplace_back(r.seq, r.event_ns);
    // A copy was in librdkafka's memory when it was appended: it may have
    // reached the broker (those handed over are counted by the caller).
    if (r.copy && r.seq > std::max(watermark_, handed_hi_)) ++open_copies_;
    s.last_seq = r.seq;
    pos += used;
    off += used;
  }
  ::close(fd);
  s.end = off;
  if (bad) {
    stats_.corrupt_records += 1;
    stats_.corrupt_bytes += size - off;
    note("spool segment " + s.path + ": corrupt or torn record at byte " + std::to_string(off) +
         " (" + std::to_string(size - off) + " bytes skipped; the records before it are kept)");
  }
}

void Spool::read_ack() {
  ack_fd_ = ::openat(dir_fd_, "ack", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (ack_fd_ < 0) fail("spool " + opt_.dir + "/ack");
  AckFile a{};
  ssize_t n = pread_full(ack_fd_, reinterpret_cast<char*>(&a), sizeof(a), 0);
  if (n == 0) return;  // a new spool
  if (n != sizeof(a) || a.magic != kAckMagic ||
      a.crc != checksum(a.watermark, reinterpret_cast<const char*>(&a.handed), sizeof(a.handed))) {
    stats_.corrupt_records += 1;
    note("spool " + opt_.dir +
         "/ack is unreadable: every record in the spool is replayed (some may arrive twice)");
    return;
  }
  watermark_ = a.watermark;
  handed_hi_ = std::max(a.handed, a.watermark);
}

void Spool::write_ack() {
  if (ack_written_[0] == watermark_ && ack_written_[1] == handed_hi_) return;
  AckFile a{kAckMagic, watermark_, handed_hi_, 0, 0};
  a.crc = checksum(a.watermark, reinterpret_cast<const char*>(&a.handed), sizeof(a.handed));
  if (::pwrite(ack_fd_, &a, sizeof(a), 0) == static_cast<ssize_t>(sizeof(a))) {
    ack_written_[0] = watermark_;
    ack_written_[1] = handed_hi_;
    dirty_ = true;
  }
}

Spool::Segment& Spool::active() { return segments_.back(); }

// Starts a segment whose first record is next_seq_.
void Spool::rotate() {
  if (has_active_) {
    write_out();
    ::fdatasync(active_fd_);  // a finished segment is durable before the next starts
    ::close(active_fd_);
    active_fd_ = -1;
    has_active_ = false;
  }
  Segment s;
  s.first_seq = next_seq_;
  s.last_seq = next_seq_ - 1;
  s.path = seg_path(next_seq_);
  int fd = ::open(s.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return;
  char header[kSegmentHeader];
  segment_header(header);
  if (!write_all(fd, header, sizeof(header))) {
    int e = errno;
    ::close(fd);
    ::unlink(s.path.c_str());
    errno = e;
    return;
  }
  s.end = kSegmentHeader;
  total_bytes_ += kSegmentHeader;
  active_fd_ = fd;
  has_active_ = true;
  dir_dirty_ = true;
  segments_.push_back(std::move(s));
}

Spool::Result Spool::append(const RecordView& r) { return append_record(r, true); }

uint64_t Spool::append_copy(const RecordView& r) {
  RecordView c = r;
  c.copy = true;
  uint64_t seq = next_seq_;
  if (append_record(c, false) != Result::Ok) return 0;
  copies_.emplace_back(seq, Copy::Held);
  stats_.copied += 1;
  return seq;
}

uint64_t Spool::commit_copies() {
  lost_from_ = 0;
  write_out();
  uint64_t lost = lost_from_;
  lost_from_ = 0;
  return lost;
}

bool Spool::reclaim(uint64_t seq) {
  auto it = std::lower_bound(copies_.begin(), copies_.end(), std::make_pair(seq, Copy::Held));
  if (it == copies_.end() || it->first != seq || it->second != Copy::Held) return false;
  it->second = Copy::Reclaimed;
  return true;
}

Spool::Result Spool::append_record(const RecordView& r, bool count_drops) {
  size_t size = r.encoded_size();
  uint64_t events = count_drops ? r.events : 0;
  if (size - kRecordHeader > kMaxBody || r.key_size > 0xffff) {
    stats_.dropped_write_error += events;
    return Result::Error;
  }
  bool new_segment = !has_active_ ||
                     (active().end + wbuf_.size() + size > opt_.segment_bytes && !active().empty());
  uint64_t need = size + (new_segment ? kSegmentHeader : 0);
  if (total_bytes_ + need > opt_.max_bytes) {
    if (opt_.drop_oldest) make_room(need);
    if (total_bytes_ + need > opt_.max_bytes) {
      stats_.dropped_full += events;
      return Result::Full;
    }
  }
  if (new_segment) rotate();
  if (!has_active_) {
    int e = errno;
    bool no_space = e == ENOSPC || e == EDQUOT;
    (no_space ? stats_.dropped_no_space : stats_.dropped_write_error) += events;
    note("spool " + opt_.dir + ": cannot start a segment: " + errno_text(e));
    return no_space ? Result::NoSpace : Result::Error;
  }
  size_t at = wbuf_.size();
  wbuf_.resize(at + size);
  encode(r, next_seq_, wbuf_.data() + at);
  if (wbuf_records_ == 0 && active().empty())
    times_.emplace_back(next_seq_, r.event_ns);
  else if (next_seq_ % 64 == 0)
    times_.emplace_back(next_seq_, r.event_ns);
  active().last_seq = next_seq_++;
  ++wbuf_records_;
  total_bytes_ += size;
  stats_.appended += 1;
  if (wbuf_.size() >= kWriteBuffer && !write_out()) {
    return errno == ENOSPC || errno == EDQUOT ? Result::NoSpace : Result::Error;
  }
  return Result::Ok;
}

// Writes the buffer to the active segment. On failure (a full disk) the
// buffered records are dropped (counted) and the segment is cut back to
// what was written before them.
bool Spool::write_out() {
  if (wbuf_.empty() || !has_active_) return true;
  Segment& s = active();
  if (write_all(active_fd_, wbuf_.data(), wbuf_.size())) {
    s.end += wbuf_.size();
    wbuf_.clear();
    wbuf_records_ = 0;
    dirty_ = true;
    if (wbuf_.capacity() > 4 * kWriteBuffer) wbuf_.shrink_to_fit();
    return true;
  }
  int e = errno;
  if (::ftruncate(active_fd_, static_cast<off_t>(s.end)) != 0) {
    // The segment keeps a torn tail: later appends go to a new segment.
    ::close(active_fd_);
    active_fd_ = -1;
    has_active_ = false;
  }
  uint64_t lost_events = 0;
  for (size_t p = 0; p < wbuf_.size();) {
    Record r;
    size_t used = 0;
    if (decode(wbuf_.data() + p, wbuf_.size() - p, &r, &used) != Decoded::Ok) break;
    if (!r.copy) lost_events += r.events;  // a copy's message is still in memory
    p += used;
  }
  (e == ENOSPC || e == EDQUOT ? stats_.dropped_no_space : stats_.dropped_write_error) +=
      lost_events;
  total_bytes_ -= wbuf_.size();
  next_seq_ -= wbuf_records_;
  s.last_seq = next_seq_ - 1;
  if (!lost_from_ || next_seq_ < lost_from_) lost_from_ = next_seq_;
  while (!copies_.empty() && copies_.back().first >= next_seq_) copies_.pop_back();
  while (!times_.empty() && times_.back().first >= next_seq_) times_.pop_back();
  if (has_peeked_ && peeked_.seq >= next_seq_) has_peeked_ = false;
  wbuf_.clear();
  wbuf_records_ = 0;
  note("spool " + opt_.dir + ": write failed (" + errno_text(e) +
       "): " + std::to_string(lost_events) + " events dropped");
  errno = e;
  return false;
}

// drop_oldest: deletes the oldest segments (not the active one) until `need`
// more bytes fit; the records in them that were not handed over are counted.
void Spool::make_room(uint64_t need) {
  while (total_bytes_ + need > opt_.max_bytes && segments_.size() > 1) drop_segment_front(true);
}

void Spool::drop_segment_front(bool count) {
  Segment& s = segments_.front();
  if (count && !s.empty()) {
    uint64_t from = std::max({s.first_seq, watermark_ + 1, handed_hi_ + 1});
    uint64_t n = s.last_seq >= from ? s.last_seq - from + 1 : 0;
    // A copy whose message librdkafka holds (or delivered) is not lost.
    for (const auto& [seq, state] : copies_)
      if (seq >= from && seq <= s.last_seq && state != Copy::Reclaimed && n > 0) --n;
    stats_.dropped_oldest += n;
    // The reader and the hand-over mark move past it.
    handed_hi_ = std::max(handed_hi_, s.last_seq);
    if (in_flight_.empty()) watermark_ = std::max(watermark_, s.last_seq);
  }
  if (!s.path.empty()) ::unlink(s.path.c_str());
  total_bytes_ -= s.end;
  uint64_t gone = s.first_seq;
  while (!copies_.empty() && copies_.front().first <= s.last_seq) copies_.pop_front();
  segments_.pop_front();
  dir_dirty_ = true;
  if (r_seg_ == gone) {
    r_seg_ = segments_.empty() ? next_seq_ : segments_.front().first_seq;
    r_off_ = kSegmentHeader;
    rbuf_.clear();
    rbuf_pos_ = 0;
    if (has_peeked_ && peeked_.seq < r_seg_) has_peeked_ = false;
  }
  uint64_t keep = segments_.empty() ? next_seq_ : segments_.front().first_seq;
  while (times_.size() > 1 && times_[1].first <= keep) times_.pop_front();
}

Spool::Segment* Spool::reader_segment() {
  for (Segment& s : segments_)
    if (s.first_seq >= r_seg_) {
      if (s.first_seq != r_seg_) {
        r_seg_ = s.first_seq;
        r_off_ = kSegmentHeader;
        rbuf_.clear();
        rbuf_pos_ = 0;
      }
      return &s;
    }
  return nullptr;
}

const Record* Spool::peek() {
  if (has_peeked_) return &peeked_;
  blocked_ = false;
  for (;;) {
    Segment* s = reader_segment();
    if (!s) return nullptr;
    bool is_active = has_active_ && s == &active();
    if (is_active && r_off_ >= s->end && !wbuf_.empty() && !write_out()) return nullptr;
    if (r_off_ >= s->end) {
      if (is_active || s == &segments_.back()) return nullptr;  // caught up
      r_seg_ = s->first_seq + 1;                                // the next segment
      continue;
    }
    // Records of this segment from r_off_ up to its valid end.
    size_t used = 0;
    Decoded d = decode(rbuf_.data() + rbuf_pos_, rbuf_.size() - rbuf_pos_, &peeked_, &used);
    if (d == Decoded::Incomplete) {
      // Read from r_off_: at least the whole next record (its size is its first word).
      int fd = ::open(s->path.c_str(), O_RDONLY | O_CLOEXEC);
      uint32_t body = 0;
      if (fd >= 0 && pread_full(fd, reinterpret_cast<char*>(&body), sizeof(body), r_off_) !=
                         static_cast<ssize_t>(sizeof(body)))
        body = 0;
      uint64_t want = std::min<uint64_t>(
          std::max<uint64_t>(kReadChunk, kRecordHeader + std::min(body, kMaxBody)),
          s->end - r_off_);
      rbuf_.resize(want);
      ssize_t got = fd < 0 ? -1 : pread_full(fd, rbuf_.data(), want, r_off_);
      if (fd >= 0) ::close(fd);
      rbuf_pos_ = 0;
      rbuf_at_ = r_off_;
      if (got <= 0 || static_cast<uint64_t>(got) < want ||
          decode(rbuf_.data(), rbuf_.size(), &peeked_, &used) != Decoded::Ok) {
        // Unreadable now (changed under us, an I/O error): the rest of the
        // segment is skipped, counted.
        stats_.corrupt_records += 1;
        stats_.corrupt_bytes += s->end - r_off_;
        note("spool segment " + s->path + ": unreadable at byte " + std::to_string(r_off_) +
             "; the rest of it is skipped");
        rbuf_.clear();
        r_off_ = s->end;
        continue;
      }
      d = Decoded::Ok;
    }
    if (d == Decoded::Corrupt) {
      stats_.corrupt_records += 1;
      stats_.corrupt_bytes += s->end - r_off_;
      note("spool segment " + s->path + ": corrupt record at byte " + std::to_string(r_off_) +
           "; the rest of it is skipped");
      rbuf_.clear();
      rbuf_pos_ = 0;
      r_off_ = s->end;
      continue;
    }
    while (!copies_.empty() && copies_.front().first < peeked_.seq) copies_.pop_front();
    if (!copies_.empty() && copies_.front().first == peeked_.seq) {
      Copy state = copies_.front().second;
      if (state == Copy::Held) {
        blocked_ = true;  // librdkafka has it: the reader waits here (not advanced)
        return nullptr;
      }
      copies_.pop_front();
      if (state == Copy::Acked) {
        rbuf_pos_ += used;
        r_off_ += used;
        handed_hi_ = peeked_.seq;
        in_flight_.emplace_back(peeked_.seq, true);
        advance_watermark();
        continue;
      }
      // Reclaimed: handed over as any record.
    }
    rbuf_pos_ += used;
    r_off_ += used;
    if (peeked_.seq <= handed_hi_) continue;  // acknowledged before a restart
    has_peeked_ = true;
    return &peeked_;
  }
}

void Spool::handed() {
  if (!has_peeked_) return;
  has_peeked_ = false;
  handed_hi_ = peeked_.seq;
  in_flight_.emplace_back(peeked_.seq, false);
  stats_.replayed += 1;
}

void Spool::acked(uint64_t seq) {
  auto it = std::lower_bound(in_flight_.begin(), in_flight_.end(), std::make_pair(seq, false));
  if (it == in_flight_.end() || it->first != seq) {
    auto c = std::lower_bound(copies_.begin(), copies_.end(), std::make_pair(seq, Copy::Held));
    if (c != copies_.end() && c->first == seq) c->second = Copy::Acked;
    return;
  }
  it->second = true;
  advance_watermark();
}

void Spool::advance_watermark() {
  while (!in_flight_.empty() && in_flight_.front().second) {
    watermark_ = std::max(watermark_, in_flight_.front().first);
    in_flight_.pop_front();
  }
}

bool Spool::caught_up() {
  if (peek()) return false;
  // Waiting at a copy: caught up when every record from it on is a copy.
  return !blocked_ || next_seq_ - copies_.front().first == copies_.size();
}

void Spool::delete_acked() {
  if (in_flight_.empty()) watermark_ = std::max(watermark_, handed_hi_);
  while (!segments_.empty()) {
    Segment& s = segments_.front();
    bool is_active = has_active_ && segments_.size() == 1;
    if (s.last_seq > watermark_ && !s.empty()) break;
    if (is_active) {
      if (!wbuf_.empty()) break;
      ::close(active_fd_);
      active_fd_ = -1;
      has_active_ = false;
    }
    drop_segment_front(false);
  }
}

void Spool::update_gauges() {
  uint64_t unacked = 0;
  for (const Segment& s : segments_) {
    uint64_t from = std::max(s.first_seq, watermark_ + 1);
    if (!s.empty() && s.last_seq >= from) unacked += s.last_seq - from + 1;
  }
  while (times_.size() > 1 && times_[1].first <= watermark_ + 1) times_.pop_front();
  stats_.records = unacked;
  stats_.bytes = total_bytes_;
  stats_.oldest_event_ns = unacked && !times_.empty() ? times_.front().second : 0;
}

void Spool::tick(int64_t now_ns) {
  write_out();
  delete_acked();
  write_ack();
  update_gauges();
  if ((dirty_ || dir_dirty_) && now_ns - last_sync_ns_ >= opt_.fsync_interval_ns) {
    if (has_active_) ::fdatasync(active_fd_);
    ::fdatasync(ack_fd_);
    if (dir_dirty_) ::fsync(dir_fd_);
    dirty_ = dir_dirty_ = false;
    last_sync_ns_ = now_ns;
    stats_.syncs += 1;
  }
}

void Spool::sync_all() { tick(INT64_MAX); }

}  // namespace leaf::kafka::spool
