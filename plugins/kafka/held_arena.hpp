// Memory for the Held blocks of the json format with the disk spool on
// (held.hpp): one block per event, made on the dispatcher thread at write()
// and released there by its delivery report, a few milliseconds later,
// nearly in the order they were made.
//
// glibc's malloc() and free() of these ~700-byte blocks cost ~0.5-0.9 % of a
// core at 100K events/s in leaf-host's profile (issue 16): past the 7 blocks
// of a tcache bin every free() goes through the arena lock, the unsorted bin
// and coalescing, and every malloc() reads the header of a cold chunk. Here a
// block is cut from a 64 KiB chunk by moving a pointer (writes to memory that
// follows the previous block, no read of cold memory), and released by one
// decrement of its chunk's count of live blocks; a chunk whose blocks are all
// released is reused from its start. std::pmr's pool resources keep a free
// list per size, as malloc does, and the monotonic one never reuses memory,
// hence this class.
//
// Bounded: at most max_chunks chunks (4 MiB by default); a block larger than
// kMaxBlock, or one asked for while every chunk holds live blocks, comes from
// malloc() instead (flagged in the block, held.hpp). One thread only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace leaf::kafka {

class HeldArena {
 public:
  static constexpr size_t kChunkSize = 64 * 1024;
  static constexpr size_t kMaxBlock = 8 * 1024;
  static constexpr size_t kDefaultMaxChunks = 64;
  // Chunks kept for reuse once all their blocks are released; more are freed.
  static constexpr size_t kSpareChunks = 4;

  explicit HeldArena(size_t max_chunks = kDefaultMaxChunks) : max_chunks_(max_chunks) {}
  ~HeldArena();
  HeldArena(const HeldArena&) = delete;
  HeldArena& operator=(const HeldArena&) = delete;

  // `size` bytes, 16-byte aligned; nullptr when the block must come from
  // malloc() (too large, or no chunk free).
  void* allocate(size_t size);
  // A block allocate() returned, of the size asked for (any arena: the
  // chunk knows its own).
  static void release(void* block, size_t size);

  // Chunks allocated (in use or spare), and the spare ones.
  size_t chunks() const { return chunks_; }
  size_t spares() const { return spare_count_; }

 private:
  struct Chunk;
  bool next_chunk();
  void retire(Chunk* c);

  size_t max_chunks_;
  size_t chunks_ = 0;
  Chunk* current_ = nullptr;
  Chunk* spares_ = nullptr;
  size_t spare_count_ = 0;
};

}  // namespace leaf::kafka
