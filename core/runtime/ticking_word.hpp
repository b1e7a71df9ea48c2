// The word through which the dispatcher tells a BPF object until when it
// drains the object's ring on its tick (leaf_consumer_ticking_until_ns in
// bpf/leaf.bpf.h): records stamped before that time are submitted without a
// forced wakeup, whose irq_work would otherwise run in the context of the
// process that made the event (a self-IPI; a VM exit under a hypervisor).
//
// The word lives in the object's .bss, a BPF_F_MMAPABLE array map; it is
// mapped here (shared, writable) so a write is one store, no system call,
// and the mapping outlives whatever the plugin does with its skeleton.
// Times are CLOCK_MONOTONIC nanoseconds, bpf_ktime_get_ns()'s clock (and
// std::chrono::steady_clock's on Linux).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace leaf::core {

class TickingWord {
 public:
  TickingWord() = default;
  ~TickingWord();
  TickingWord(const TickingWord&) = delete;
  TickingWord& operator=(const TickingWord&) = delete;

  // Maps the 64-bit word at `offset` in the first value of `map_fd`.
  // Returns why not (then store() does nothing), or an empty string.
  std::string open(int map_fd, uint32_t offset);
  bool ok() const { return word_ != nullptr; }

  void store(uint64_t until_ns) {
    if (word_) __atomic_store_n(word_, until_ns, __ATOMIC_RELEASE);
  }
  uint64_t load() const { return word_ ? __atomic_load_n(word_, __ATOMIC_ACQUIRE) : 0; }

 private:
  void* base_ = nullptr;
  size_t mapped_ = 0;
  uint64_t* word_ = nullptr;
};

}  // namespace leaf::core
