// Messages librdkafka holds whose payload the sink keeps (with the disk spool
// on, and every json-batch batch). librdkafka gets the payload without a
// copy (neither RD_KAFKA_MSG_F_COPY nor RD_KAFKA_MSG_F_FREE): one block (from
// the producer's HeldArena, held_arena.hpp, or malloc()) holds the list links,
// what the spool needs to keep the message, the payload and then the key; the
// delivery report unlinks and frees it. When
// the broker goes away, or spooling begins, the sink copies every message not
// copied yet to the disk spool (Spool::append_copy), so that a kill -9 loses
// none of them; librdkafka keeps sending them meanwhile. librdkafka has no
// call that lists what it holds without taking it back (rd_kafka_purge), and
// taking back messages that may have reached the broker would duplicate them
// under idempotence: hence our own list.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "held_arena.hpp"

namespace leaf::kafka {

struct Held {
  Held* prev = nullptr;
  Held* next = nullptr;
  uint64_t seq = 0;  // its copy in the disk spool (0: none)
  uint64_t event_ns = 0;
  int32_t partition = -1;  // json-batch: where it was placed (-1: by its key)
  uint32_t events = 1;
  uint32_t size = 0;  // payload bytes
  uint16_t key_size = 0;
  uint8_t category = 0;
  uint8_t flags = 0;  // kHasKey, kBatch, kArena

  static constexpr uint8_t kHasKey = 1, kBatch = 2, kArena = 4;

  char* payload() { return reinterpret_cast<char*>(this + 1); }
  const char* key() const { return reinterpret_cast<const char*>(this + 1) + size; }
  // The block of a payload handed to librdkafka.
  static Held* of(void* payload) { return static_cast<Held*>(payload) - 1; }
  // A block for `size` payload bytes (copied from `payload` when not null)
  // and the key, from `arena` or else malloc(); nullptr when out of memory.
  static Held* make(HeldArena& arena, const char* payload, size_t size, const char* key,
                    size_t key_size) {
    size_t n = sizeof(Held) + size + key_size;
    void* p = arena.allocate(n);
    uint8_t from = p ? kArena : 0;
    if (!p && !(p = std::malloc(n))) return nullptr;
    Held* h = new (p) Held;
    h->size = static_cast<uint32_t>(size);
    h->key_size = static_cast<uint16_t>(key_size);
    h->flags = static_cast<uint8_t>((key ? kHasKey : 0) | from);
    if (payload) std::memcpy(h->payload(), payload, size);
    if (key_size) std::memcpy(h->payload() + size, key, key_size);
    return h;
  }
  // Frees a block of make(), or a Batch's buffer taken over (held.hpp's
  // users: the delivery report, HeldList).
  static void release(Held* h) {
    if (h->flags & kArena)
      HeldArena::release(h, sizeof(Held) + h->size + h->key_size);
    else
      std::free(h);
  }
};
static_assert(sizeof(Held) % 16 == 0, "payloads stay aligned as malloc() aligns");

// Every held message, oldest first; frees what is left when destroyed (after
// the producer that referenced the payloads).
class HeldList {
 public:
  HeldList() = default;
  HeldList(const HeldList&) = delete;
  HeldList& operator=(const HeldList&) = delete;
  ~HeldList() {
    while (head_) {
      Held* h = head_;
      head_ = h->next;
      Held::release(h);
    }
  }

  void push(Held* h) {
    h->prev = tail_;
    h->next = nullptr;
    (tail_ ? tail_->next : head_) = h;
    tail_ = h;
    if (!h->seq) ++uncopied_;
  }
  void remove(Held* h) {
    (h->prev ? h->prev->next : head_) = h->next;
    (h->next ? h->next->prev : tail_) = h->prev;
    if (!h->seq) --uncopied_;
  }
  // Held messages without a copy in the spool.
  uint64_t uncopied() const { return uncopied_; }

  // Calls copy(held) for each message without a copy, oldest first; copy()
  // returns the copy's sequence number, 0 when it could not be made (a full
  // spool or disk: the rest are not tried, the next call starts again).
  template <class Copy>
  void copy_each(Copy&& copy) {
    for (Held* h = head_; h && uncopied_ > 0; h = h->next) {
      if (h->seq) continue;
      h->seq = copy(*h);
      if (!h->seq) return;
      --uncopied_;
    }
  }
  // The copies from `seq` on were lost (a failed write): none any more.
  void uncopy_from(uint64_t seq) {
    for (Held* h = head_; h; h = h->next)
      if (h->seq >= seq) {
        h->seq = 0;
        ++uncopied_;
      }
  }

 private:
  Held* head_ = nullptr;
  Held* tail_ = nullptr;
  uint64_t uncopied_ = 0;
};

}  // namespace leaf::kafka
