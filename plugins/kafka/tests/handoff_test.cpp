// The ring between the dispatcher and the Kafka sink's thread (handoff.hpp):
// order, the wrap at the end of the ring, messages larger than half of it,
// a full ring refusing, and two threads passing a million messages.
#include "../handoff.hpp"

#include <doctest/doctest.h>

#include <string>
#include <thread>

using leaf::kafka::Handoff;

namespace {

std::string json_of(uint64_t seq, size_t size) {
  std::string s = "{\"seq\":" + std::to_string(seq) + ",\"pad\":\"";
  s.append(size > s.size() + 2 ? size - s.size() - 2 : 0, 'x');
  return s + "\"}";
}

// Pops one message and checks it is the one pushed as `seq`.
void check_next(Handoff& h, uint64_t seq, size_t size) {
  const Handoff::Entry* e = h.front();
  REQUIRE(e != nullptr);
  std::string key = std::to_string(seq);
  CHECK(e->category == static_cast<int8_t>(seq % 4));
  CHECK(e->timestamp_ns == seq * 1000);
  REQUIRE(e->has_key == 1);
  CHECK(std::string(e->key(), e->key_size) == key);
  CHECK(e->json() == json_of(seq, size));
  h.pop();
}

bool push(Handoff& h, uint64_t seq, size_t size) {
  std::string key = std::to_string(seq), json = json_of(seq, size);
  return h.push(static_cast<int>(seq % 4), key.data(), key.size(), json, seq * 1000);
}

}  // namespace

TEST_CASE("messages come out in order, across the ring's end, with their key and time") {
  Handoff h(4096);
  REQUIRE(h.capacity() == 4096);
  CHECK(h.front() == nullptr);
  // 300-byte messages: the ring's end falls inside one again and again.
  for (uint64_t seq = 0; seq < 1000; ++seq) {
    REQUIRE(push(h, seq, 300));
    if (seq % 3 == 2) {  // the consumer a few behind
      check_next(h, seq - 2, 300);
      check_next(h, seq - 1, 300);
      check_next(h, seq, 300);
    }
  }
  check_next(h, 999, 300);
  CHECK(h.front() == nullptr);
  CHECK(h.empty());
}

TEST_CASE("no key: has_key 0 and an empty key") {
  Handoff h(4096);
  REQUIRE(h.push(2, nullptr, 5, "{}", 7));
  const Handoff::Entry* e = h.front();
  REQUIRE(e);
  CHECK(e->has_key == 0);
  CHECK(e->key_size == 0);
  CHECK(e->json() == "{}");
  h.pop();
}

TEST_CASE("a full ring refuses, and takes again once the consumer made room") {
  Handoff h(4096);
  uint64_t pushed = 0;
  while (push(h, pushed, 200)) ++pushed;
  // 200-byte JSON + key + the 24-byte header, 8-aligned: 232 bytes each.
  CHECK(pushed == 4096 / 232);
  check_next(h, 0, 200);
  CHECK(push(h, pushed, 200));
  for (uint64_t seq = 1; seq <= pushed; ++seq) check_next(h, seq, 200);
  CHECK(h.front() == nullptr);
}

TEST_CASE("a message larger than half the ring travels as a heap copy, in its place") {
  Handoff h(4096);
  REQUIRE(push(h, 0, 100));
  REQUIRE(push(h, 1, 100000));  // 24x the ring
  REQUIRE(push(h, 2, 100));
  check_next(h, 0, 100);
  const Handoff::Entry* e = h.front();
  REQUIRE(e);
  CHECK(e->big == 1);
  check_next(h, 1, 100000);
  check_next(h, 2, 100);
  // Left in the ring at destruction: freed there (ASan/valgrind would say).
  REQUIRE(push(h, 3, 50000));
}

TEST_CASE("two threads: a million messages of varying size, none lost, none reordered") {
  Handoff h(64 << 10);
  constexpr uint64_t kCount = 1'000'000;
  std::thread producer([&] {
    for (uint64_t seq = 0; seq < kCount; ++seq)
      while (!push(h, seq, 20 + seq % 700)) std::this_thread::yield();
  });
  uint64_t bad = 0;
  for (uint64_t seq = 0; seq < kCount; ++seq) {
    const Handoff::Entry* e;
    while (!(e = h.front())) std::this_thread::yield();
    std::string key = std::to_string(seq);
    if (std::string(e->key(), e->key_size) != key || e->json() != json_of(seq, 20 + seq % 700) ||
        e->timestamp_ns != seq * 1000)
      ++bad;
    h.pop();
  }
  producer.join();
  CHECK(bad == 0);
  CHECK(h.empty());
}
