// The hand-off from the dispatcher thread to the Kafka sink's own thread
// (option `thread`, sink_thread.hpp): a single-producer single-consumer ring
// of message copies, one memcpy per message, no allocation.
//
// Written here rather than taken from Boost.Lockfree: its spsc_queue holds
// elements of one fixed type, and a message is a few hundred bytes of JSON
// and a key of varying size; a queue of std::string would allocate twice per
// event on the dispatcher's hot path. One contiguous ring of variable-size
// entries is the classic answer (the kernel's BPF ring buffer is one).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace leaf::kafka {

class Handoff {
 public:
  // One message in the ring: this header, the key, then the JSON. A message
  // larger than half the ring travels as a heap copy (`big`).
  struct Entry {
    uint32_t size;    // of the whole entry, header included, a multiple of 8
    int8_t category;  // the sink's category index; -1: padding up to the ring's end
    uint8_t has_key;
    uint8_t big;  // the key and JSON are in a std::string the entry points to
    uint8_t pad;
    uint32_t key_size;
    uint32_t json_size;
    uint64_t timestamp_ns;

    const char* key() const { return bytes(); }
    std::string_view json() const { return {bytes() + key_size, json_size}; }

   private:
    const char* bytes() const {
      if (!big) return reinterpret_cast<const char*>(this + 1);
      std::string* s;
      std::memcpy(&s, this + 1, sizeof(s));
      return s->data();
    }
  };
  static_assert(sizeof(Entry) == 24);

  // capacity: bytes, rounded up to a power of two (at least 4 KiB).
  explicit Handoff(size_t capacity) {
    cap_ = 4096;
    while (cap_ < capacity) cap_ <<= 1;
    buf_ = std::make_unique<uint64_t[]>(cap_ / 8);  // 8-byte aligned entries
  }
  ~Handoff() {
    while (front()) pop();  // frees the heap copies of big entries
  }
  Handoff(const Handoff&) = delete;
  Handoff& operator=(const Handoff&) = delete;

  // Producer side. Copies the message; false when the ring has no room.
  bool push(int category, const char* key, size_t key_size, std::string_view json,
            uint64_t timestamp_ns) {
    size_t payload = (key ? key_size : 0) + json.size();
    bool big = sizeof(Entry) + payload > cap_ / 2;
    size_t need = align(sizeof(Entry) + (big ? sizeof(std::string*) : payload));
    uint64_t head = head_.load(std::memory_order_relaxed);
    size_t off = head & (cap_ - 1);
    size_t pad = off + need > cap_ ? cap_ - off : 0;
    if (head + pad + need - tail_seen_ > cap_) {
      tail_seen_ = tail_.load(std::memory_order_acquire);
      if (head + pad + need - tail_seen_ > cap_) return false;
    }
    if (pad) {
      Entry* p = at(off);  // 8 bytes at least: size and category fit
      p->size = static_cast<uint32_t>(pad);
      p->category = -1;
      head += pad;
      off = 0;
    }
    Entry* e = at(off);
    e->size = static_cast<uint32_t>(need);
    e->category = static_cast<int8_t>(category);
    e->has_key = key != nullptr;
    e->big = big;
    e->pad = 0;
    e->key_size = static_cast<uint32_t>(key ? key_size : 0);
    e->json_size = static_cast<uint32_t>(json.size());
    e->timestamp_ns = timestamp_ns;
    char* dst = reinterpret_cast<char*>(e + 1);
    if (big) {
      auto* s = new std::string();
      s->reserve(payload);
      if (key) s->append(key, key_size);
      s->append(json);
      std::memcpy(dst, &s, sizeof(s));
    } else {
      if (key) std::memcpy(dst, key, key_size);
      std::memcpy(dst + e->key_size, json.data(), json.size());
    }
    head_.store(head + need, std::memory_order_release);
    return true;
  }

  // Consumer side: the oldest message, or nullptr when there is none.
  const Entry* front() {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (!readable(tail)) return nullptr;
    Entry* e = at(tail & (cap_ - 1));
    if (e->category < 0) {  // padding: a message follows it (pushed together)
      tail += e->size;
      tail_.store(tail, std::memory_order_release);
      e = at(tail & (cap_ - 1));
    }
    return e;
  }
  // Releases the message front() returned.
  void pop() {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    Entry* e = at(tail & (cap_ - 1));
    if (e->big) {
      std::string* s;
      std::memcpy(&s, e + 1, sizeof(s));
      delete s;
    }
    tail_.store(tail + e->size, std::memory_order_release);
  }

  // Either side: whether a message waits (exact on the consumer side).
  bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
  }
  size_t used() const {
    return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire);
  }
  size_t capacity() const { return cap_; }
  // Bytes the consumer has released so far: it moves while the consumer works.
  uint64_t consumed() const { return tail_.load(std::memory_order_acquire); }

 private:
  static size_t align(size_t n) { return (n + 7) & ~size_t{7}; }
  Entry* at(size_t off) {
    return reinterpret_cast<Entry*>(reinterpret_cast<char*>(buf_.get()) + off);
  }
  bool readable(uint64_t tail) {
    if (tail != head_seen_) return true;
    head_seen_ = head_.load(std::memory_order_acquire);
    return tail != head_seen_;
  }

  size_t cap_;
  std::unique_ptr<uint64_t[]> buf_;
  // Each side's position on a cache line of its own, with its cached copy
  // of the other's (read again only when the ring looks full or empty).
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t tail_seen_ = 0;  // producer's
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t head_seen_ = 0;  // consumer's
};

}  // namespace leaf::kafka
