// json-batch replay from the disk spool: spooled events are regrouped into
// batch messages per category and partition (as write() batches them), so
// that a replay does not pay librdkafka's per-message cost for every event.
// A batch message carries a group tag (kGroupBit set) instead of one record's
// sequence number; its records are acknowledged together.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace leaf::kafka {

class ReplayGroups {
 public:
  // Spool sequence numbers stay far below this bit (2^59 records).
  static constexpr uint64_t kGroupBit = uint64_t{1} << 59;

  struct Open {
    std::string value;  // newline-terminated events
    uint32_t events = 0;
    uint64_t first_ns = 0;
    std::vector<uint64_t> seqs;
  };

  static bool is_group(uint64_t tag) { return (tag & kGroupBit) != 0; }

  Open& at(int category, int32_t partition) {
    return open_[(uint64_t(uint32_t(category)) << 32) | uint32_t(partition)];
  }
  void add(Open& g, const std::string& json, uint64_t event_ns, uint64_t seq) {
    if (g.events++ == 0) g.first_ns = event_ns;
    g.value += json;
    g.value += '\n';
    g.seqs.push_back(seq);
  }

  // Calls fn(category, partition, group) for every group holding events.
  template <class Fn>
  void for_each_open(Fn&& fn) {
    for (auto& [k, g] : open_)
      if (g.events) fn(static_cast<int>(k >> 32), static_cast<int32_t>(uint32_t(k)), g);
  }

  // The group is produced under the returned tag: its records wait for it
  // (its value stays in `g` until reset()).
  uint64_t sent(Open& g) {
    uint64_t tag = kGroupBit | next_++;
    in_flight_.emplace(tag, std::move(g.seqs));
    g.seqs.clear();
    return tag;
  }
  // The records of a group sent under `tag` (acknowledged, or failed).
  std::vector<uint64_t> take(uint64_t tag) {
    auto it = in_flight_.find(tag);
    if (it == in_flight_.end()) return {};
    std::vector<uint64_t> seqs = std::move(it->second);
    in_flight_.erase(it);
    return seqs;
  }
  static void reset(Open& g) {
    g.value.clear();
    g.events = 0;
    g.seqs.clear();
  }

 private:
  std::map<uint64_t, Open> open_;
  std::unordered_map<uint64_t, std::vector<uint64_t>> in_flight_;
  uint64_t next_ = 1;
};

}  // namespace leaf::kafka
