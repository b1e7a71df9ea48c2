// The Kafka sink's disk spool: a write-ahead log of the messages the broker
// has not acknowledged, in segment files of checksummed records (record.hpp)
// under one directory.
//
// - append() adds a record at the end (buffered; written out by tick(), when
//   64 KiB are buffered, or before the reader needs it); the spool is bounded
//   by max_bytes: when full, drop_newest refuses the record, drop_oldest
//   deletes the oldest segment; both counted.
// - peek()/handed() give the records in order, each once; acked() is called
//   when the broker acknowledged one (or it failed for good). The ack
//   watermark (every record up to it acknowledged) and the hand-over mark are
//   kept in the file `ack`, so a restart replays only what was not
//   acknowledged, and counts the records handed over before but not
//   acknowledged as possible duplicates.
// - append_copy() adds a copy of a message librdkafka still holds (the
//   broker went away, or spooling began): the reader does not hand it over
//   while librdkafka has it; acked() deletes it as usual; reclaim() (its
//   delivery failed) lets the reader hand it over in its place. Across a
//   restart it is replayed like any record and counted as a possible
//   duplicate.
// - tick() writes the buffer and the ack file, deletes acknowledged segments
//   and fdatasync()s segment, ack file and directory every fsync_interval.
// - A torn or corrupt record (crash, disk error) ends what is read of its
//   segment: counted (records and bytes), never an abort.
//
// One thread uses a Spool (the sink's dispatcher thread); stats() may be read
// from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "record.hpp"

namespace leaf::kafka::spool {

struct Options {
  std::string dir;
  uint64_t max_bytes = 1ull << 30;
  uint64_t segment_bytes = 64ull << 20;
  int64_t fsync_interval_ns = 1'000'000'000;
  bool drop_oldest = false;  // full: delete the oldest segment instead of refusing
};

struct Stats {
  std::atomic<uint64_t> bytes{0};            // segment files, buffered bytes included
  std::atomic<uint64_t> records{0};          // not acknowledged yet
  std::atomic<uint64_t> oldest_event_ns{0};  // of the oldest unacknowledged record (0: none)
  std::atomic<uint64_t> appended{0};
  std::atomic<uint64_t> copied{0};    // append_copy()
  std::atomic<uint64_t> replayed{0};  // records handed to the producer
  std::atomic<uint64_t> dropped_full{0};
  std::atomic<uint64_t> dropped_oldest{0};
  std::atomic<uint64_t> dropped_no_space{0};
  std::atomic<uint64_t> dropped_write_error{0};
  std::atomic<uint64_t> corrupt_records{0};
  std::atomic<uint64_t> corrupt_bytes{0};
  std::atomic<uint64_t> possible_duplicates{0};  // replayed again after a restart
  std::atomic<uint64_t> syncs{0};
};

class Spool {
 public:
  // Opens (creates) the directory, locks it, reads the ack file and checks
  // every segment. Throws std::runtime_error naming the path and the reason.
  explicit Spool(Options options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  enum class Result { Ok, Full, NoSpace, Error };
  // Appends one record; anything but Ok was counted as dropped.
  Result append(const RecordView& r);

  // Appends a copy of a message librdkafka holds; its sequence number, or 0
  // when it does not fit (not counted as dropped: the message is in memory).
  uint64_t append_copy(const RecordView& r);
  // Writes out what is buffered. 0 when done; otherwise the records from the
  // returned sequence number on are lost (copies included: append them again).
  uint64_t commit_copies();
  // A copy's message failed in librdkafka: the reader hands the record over
  // in its turn. False when the record is not in the spool any more.
  bool reclaim(uint64_t seq);

  // The next record to hand over, in order; nullptr when there is none (or
  // the next is a copy whose message librdkafka still holds).
  const Record* peek();
  // The record peek() returned was handed to the producer.
  void handed();
  // The record `seq` (handed over) was acknowledged, or failed for good.
  void acked(uint64_t seq);
  // True when every record was handed over (or is a copy librdkafka holds).
  bool caught_up();
  // Records handed over and not acknowledged yet.
  size_t in_flight() const { return in_flight_.size(); }

  void tick(int64_t now_ns);  // CLOCK_MONOTONIC
  // Writes everything and syncs it (at close).
  void sync_all();

  const Stats& stats() const { return stats_; }
  // Messages for the log (what open() found, write errors); taken once.
  std::vector<std::string> take_notes();
  const std::string& dir() const { return opt_.dir; }

 private:
  struct Segment {
    uint64_t first_seq = 0;  // from the file name
    uint64_t last_seq = 0;   // of the last valid record; first_seq - 1 when none
    uint64_t end = 0;        // bytes of valid content (header included), written out
    std::string path;
    bool empty() const { return last_seq < first_seq; }
  };

  enum class Copy : uint8_t { Held, Acked, Reclaimed };
  Result append_record(const RecordView& r, bool count_drops);
  void advance_watermark();
  void scan(Segment& s);
  void read_ack();
  void write_ack();
  Segment& active();
  void rotate();
  bool write_out();
  void make_room(uint64_t need);
  void drop_segment_front(bool count);
  void delete_acked();
  void update_gauges();
  void note(std::string line);
  std::string seg_path(uint64_t first_seq) const;
  Segment* reader_segment();

  Options opt_;
  Stats stats_;
  int dir_fd_ = -1, lock_fd_ = -1, ack_fd_ = -1, active_fd_ = -1;
  bool has_active_ = false;
  std::deque<Segment> segments_;
  uint64_t next_seq_ = 1;
  uint64_t total_bytes_ = 0;  // files + buffer
  std::string wbuf_;          // records of the active segment not written out
  uint64_t wbuf_records_ = 0;
  // Reader: the segment (by first seq) and offset of the next record.
  uint64_t r_seg_ = 0, r_off_ = 0;
  std::string rbuf_;
  size_t rbuf_pos_ = 0;
  uint64_t rbuf_at_ = 0;  // file offset of rbuf_[0]
  Record peeked_;
  bool has_peeked_ = false;
  // Acknowledgements.
  uint64_t watermark_ = 0;                           // every seq <= watermark_ is acknowledged
  uint64_t handed_hi_ = 0;                           // the highest seq handed over
  std::deque<std::pair<uint64_t, bool>> in_flight_;  // seq, acknowledged
  // Copies the reader has not reached yet, by seq; it waits at a Held one.
  std::deque<std::pair<uint64_t, Copy>> copies_;
  bool blocked_ = false;      // peek() stopped at a Held copy
  uint64_t lost_from_ = 0;    // the first seq a failed write_out() dropped (0: none)
  uint64_t open_copies_ = 0;  // scan(): copies above the marks (possible duplicates)
  uint64_t ack_written_[2] = {~0ull, ~0ull};
  // Oldest age: (seq, event time) of every 64th record and of segment starts.
  std::deque<std::pair<uint64_t, uint64_t>> times_;
  bool dirty_ = false, dir_dirty_ = false;
  int64_t last_sync_ns_ = 0;
  std::vector<std::string> notes_;
};

}  // namespace leaf::kafka::spool
