// The memory of Held blocks (held_arena.hpp, held.hpp): blocks never overlap
// and keep their bytes whatever the order they are released in, a chunk is
// reused once its blocks are gone (memory stays bounded however long the
// stream), a block still held keeps its chunk out of reuse, and what the
// arena cannot give (too large, every chunk pinned) comes from malloc().
#include "../held_arena.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../held.hpp"

namespace {

using leaf::kafka::Held;
using leaf::kafka::HeldArena;

// A block with its payload and key filled from `seed`.
struct Block {
  Held* h;
  std::string payload, key;
};

Block make(HeldArena& arena, size_t size, size_t key_size, uint32_t seed) {
  Block b;
  for (size_t i = 0; i < size; ++i) b.payload.push_back(static_cast<char>('a' + (seed + i) % 26));
  for (size_t i = 0; i < key_size; ++i) b.key.push_back(static_cast<char>('0' + (seed + i) % 10));
  b.h = Held::make(arena, b.payload.data(), size, key_size ? b.key.data() : nullptr, key_size);
  REQUIRE(b.h != nullptr);
  return b;
}

void check(const Block& b) {
  REQUIRE(b.h->size == b.payload.size());
  REQUIRE(b.h->key_size == b.key.size());
  CHECK((b.h->flags & Held::kHasKey) == (b.key.empty() ? 0 : Held::kHasKey));
  CHECK(reinterpret_cast<uintptr_t>(b.h) % 16 == 0);
  CHECK(std::string(b.h->payload(), b.h->size) == b.payload);
  CHECK(std::string(b.h->key(), b.h->key_size) == b.key);
}

bool from_arena(const Block& b) { return (b.h->flags & Held::kArena) != 0; }

// The bytes of a's block and b's block share an address.
bool overlap(const Block& a, const Block& b) {
  auto span = [](const Block& x) {
    const char* p = reinterpret_cast<const char*>(x.h);
    return std::pair(p, p + sizeof(Held) + x.payload.size() + x.key.size());
  };
  auto [a0, a1] = span(a);
  auto [b0, b1] = span(b);
  return a0 < b1 && b0 < a1;
}

}  // namespace

TEST_CASE("held blocks: bytes intact in any release order; chunks reused, count bounded") {
  HeldArena arena;
  std::mt19937 rng(16);
  std::vector<Block> live;
  uint32_t seed = 0;
  size_t peak_chunks = 0;
  // 200 rounds of a "tick": 150 events of 100..1500 bytes made, then a random
  // part of what is live released (delivery reports come in any order).
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 150; ++i)
      live.push_back(make(arena, 100 + rng() % 1400, rng() % 40, seed++));
    for (const auto& b : live) CHECK(from_arena(b));
    std::shuffle(live.begin(), live.end(), rng);
    size_t keep = live.size() > 300 ? 300 : live.size() / 2;
    for (size_t i = keep; i < live.size(); ++i) {
      check(live[i]);
      Held::release(live[i].h);
    }
    live.resize(keep);
    for (const auto& b : live) check(b);
    peak_chunks = std::max(peak_chunks, arena.chunks());
  }
  // 30,000 blocks of ~850 bytes on average: ~390 chunks without reuse; at
  // most 300 live at a time, spread over chunks by the shuffled releases,
  // every one of them from the arena, under its bound.
  MESSAGE("peak chunks: ", peak_chunks);
  CHECK(peak_chunks < HeldArena::kDefaultMaxChunks);
  for (const auto& b : live) Held::release(b.h);
  CHECK(arena.spares() <= HeldArena::kSpareChunks);
  CHECK(arena.chunks() <= HeldArena::kSpareChunks + 1);
}

TEST_CASE("held blocks: a block still held keeps its chunk; the others are reused") {
  HeldArena arena(4);
  Block pinned = make(arena, 600, 8, 7);
  // 100 rounds through far more than 4 chunks' worth, every block released
  // except the first one.
  for (int round = 0; round < 100; ++round) {
    std::vector<Block> tick;
    for (int i = 0; i < 200; ++i) tick.push_back(make(arena, 700, 4, round * 1000 + i));
    for (const auto& b : tick) {
      CHECK(from_arena(b));
      CHECK_FALSE(overlap(b, pinned));
    }
    for (const auto& b : tick) check(b);
    for (const auto& b : tick) Held::release(b.h);
    CHECK(arena.chunks() <= 4);
  }
  check(pinned);
  Held::release(pinned.h);
}

TEST_CASE("held blocks: too large, or every chunk pinned: malloc(), released the same way") {
  HeldArena arena(2);
  Block large = make(arena, HeldArena::kMaxBlock, 0, 1);  // header + payload > kMaxBlock
  CHECK_FALSE(from_arena(large));
  check(large);
  // 2 chunks of 64 KiB take 2 x 63 blocks of ~1 KB; then malloc().
  std::vector<Block> blocks;
  for (int i = 0; i < 200; ++i) blocks.push_back(make(arena, 1000, 10, i));
  auto in_arena = std::count_if(blocks.begin(), blocks.end(), from_arena);
  CHECK(in_arena == 2 * ((HeldArena::kChunkSize - 64) / 1072));
  CHECK(arena.chunks() == 2);
  for (const auto& b : blocks) check(b);
  // Once the blocks are released, both chunks are spares, and the arena
  // gives blocks again (from a spare: the current chunk stays).
  for (const auto& b : blocks) Held::release(b.h);
  CHECK(arena.spares() == 2);
  Block again = make(arena, 1000, 10, 500);
  CHECK(from_arena(again));
  check(again);
  Held::release(again.h);
  Held::release(large.h);
  CHECK(arena.chunks() == 2);
  CHECK(arena.spares() == 1);
}

TEST_CASE("held blocks: a chunk whose blocks are all released is cut again from its start") {
  HeldArena arena(1);
  Block a = make(arena, 500, 0, 1);
  Block b = make(arena, 500, 0, 2);
  CHECK(from_arena(a));
  CHECK(reinterpret_cast<char*>(b.h) - reinterpret_cast<char*>(a.h) == 560);  // 48 + 500, to 16
  Held::release(a.h);
  Held::release(b.h);
  Block c = make(arena, 300, 3, 3);
  CHECK(c.h == a.h);
  check(c);
  Held::release(c.h);
}

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
TEST_CASE("held blocks under AddressSanitizer: a released block is poisoned until cut again") {
  HeldArena arena(1);
  Block a = make(arena, 500, 4, 1);
  Block b = make(arena, 500, 4, 2);
  CHECK(__asan_address_is_poisoned(a.h->payload()) == 0);
  CHECK(__asan_address_is_poisoned(reinterpret_cast<char*>(b.h) + 1000) == 1);  // not cut yet
  Held::release(a.h);
  CHECK(__asan_address_is_poisoned(a.h) == 1);
  CHECK(__asan_address_is_poisoned(reinterpret_cast<char*>(a.h) + 551) == 1);
  CHECK(__asan_address_is_poisoned(b.h->payload()) == 0);
  Held::release(b.h);
  Block c = make(arena, 100, 0, 3);  // the emptied chunk, cut again from its start
  CHECK(c.h == a.h);
  CHECK(__asan_address_is_poisoned(c.h->payload() + 99) == 0);
  CHECK(__asan_address_is_poisoned(c.h->payload() + 200) == 1);
  Held::release(c.h);
}
#endif
