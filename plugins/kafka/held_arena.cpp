#include "held_arena.hpp"

#include <cstdlib>
#include <new>

// Under AddressSanitizer (scripts/sanitize.sh) a released block, and the part
// of a chunk not cut yet, are poisoned: a use after release is reported as
// with malloc()'s blocks.
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define LEAF_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define LEAF_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define LEAF_POISON(p, n) ((void)(p), (void)(n))
#define LEAF_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace leaf::kafka {

// At the start of every chunk (chunks are aligned to their size, so a
// block's chunk is its address rounded down); blocks start one cache line in.
struct HeldArena::Chunk {
  HeldArena* arena;
  Chunk* next;    // in the spare list
  uint32_t live;  // blocks cut and not released
  uint32_t used;  // bytes cut, header included
};
namespace {
constexpr uint32_t kHeader = 64;
static_assert(HeldArena::kChunkSize % kHeader == 0 && HeldArena::kMaxBlock < HeldArena::kChunkSize);
}  // namespace

HeldArena::~HeldArena() {
  // Every block was released before (the producer's HeldList goes first).
  while (spares_) {
    Chunk* c = spares_;
    spares_ = c->next;
    LEAF_UNPOISON(c, kChunkSize);
    std::free(c);
  }
  if (current_ && current_->live == 0) {
    LEAF_UNPOISON(current_, kChunkSize);
    std::free(current_);
  }
}

void* HeldArena::allocate(size_t size) {
  size = (size + 15) & ~size_t{15};
  if (size > kMaxBlock) return nullptr;
  if ((!current_ || current_->used + size > kChunkSize) && !next_chunk()) return nullptr;
  void* p = reinterpret_cast<char*>(current_) + current_->used;
  current_->used += static_cast<uint32_t>(size);
  ++current_->live;
  LEAF_UNPOISON(p, size);
  return p;
}

void HeldArena::release(void* block, size_t size) {
  LEAF_POISON(block, (size + 15) & ~size_t{15});
  auto* c = reinterpret_cast<Chunk*>(reinterpret_cast<uintptr_t>(block) & ~(kChunkSize - 1));
  if (--c->live > 0) return;
  if (c == c->arena->current_)
    c->used = kHeader;  // cut again from its start (memory still in cache)
  else
    c->arena->retire(c);
}

// The current chunk, full, stays where it is until its last block goes
// (release() retires it then); blocks come from a spare or a new chunk.
bool HeldArena::next_chunk() {
  current_ = nullptr;
  Chunk* c = spares_;
  if (c) {
    spares_ = c->next;
    --spare_count_;
  } else {
    if (chunks_ >= max_chunks_) return false;
    void* p = std::aligned_alloc(kChunkSize, kChunkSize);
    if (!p) return false;
    c = new (p) Chunk{this, nullptr, 0, 0};
    ++chunks_;
  }
  c->used = kHeader;
  LEAF_POISON(reinterpret_cast<char*>(c) + kHeader, kChunkSize - kHeader);
  current_ = c;
  return true;
}

void HeldArena::retire(Chunk* c) {
  if (spare_count_ < kSpareChunks) {
    c->next = spares_;
    spares_ = c;
    ++spare_count_;
    return;
  }
  --chunks_;
  LEAF_UNPOISON(c, kChunkSize);
  std::free(c);
}

}  // namespace leaf::kafka
