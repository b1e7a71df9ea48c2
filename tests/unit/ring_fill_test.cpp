// RingFill (core/runtime/ring_fill.hpp) on a real BPF ring buffer: a
// four-instruction socket-filter program written here writes one 8-byte
// record per run (bpf_ringbuf_output), BPF_PROG_TEST_RUN runs it an exact
// number of times, and the fill must be exactly the bytes written (records
// and their 8-byte headers) over the ring's size.
#include "runtime/ring_fill.hpp"

#include <bpf/bpf.h>
#include <doctest/doctest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace {

constexpr uint32_t kRingSize = 64 * 1024;

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst;
  i.src_reg = src;
  i.off = off;
  i.imm = imm;
  return i;
}

// bpf_ringbuf_output(ring, r10 - 8, 8, 0); return 0;
int load_writer(int ring_fd) {
  std::vector<bpf_insn> prog = {
      insn(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, -8, 42),  // *(u64*)(r10-8) = 42
      insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, ring_fd),
      insn(0, 0, 0, 0, 0),                                             // second half of ld_imm64
      insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),  // r2 = r10
      insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -8),          // r2 -= 8
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, 8),           // r3 = 8
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, 0),           // r4 = 0
      insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ringbuf_output),
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
      insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  return bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "leaf_ringfill", "GPL", prog.data(),
                       prog.size(), nullptr);
}

void run_writer(int prog_fd, uint32_t times) {
  char packet[64] = {};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof(packet),
              .repeat = times);
  REQUIRE(bpf_prog_test_run_opts(prog_fd, &opts) == 0);
}

}  // namespace

TEST_CASE("ring fill: exactly the bytes written and not consumed, over the ring's size") {
  int ring = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "leaf_fill_test", 0, 0, kRingSize, nullptr);
  REQUIRE_MESSAGE(ring >= 0, "bpf_map_create: ", std::strerror(errno));
  int prog = load_writer(ring);
  REQUIRE_MESSAGE(prog >= 0, "bpf_prog_load: ", std::strerror(errno));

  leaf::core::RingFill fill;
  REQUIRE(fill.open(ring) == "");
  CHECK(fill.name() == "leaf_fill_test");
  CHECK(fill.sample() == 0.0);

  run_writer(prog, 1000);  // 1000 records of 8 bytes + 8-byte headers
  CHECK(fill.sample() == doctest::Approx(16000.0 / kRingSize).epsilon(1e-12));
  run_writer(prog, 1000);
  CHECK(fill.take_peak() == doctest::Approx(32000.0 / kRingSize).epsilon(1e-12));
  // Nothing consumed: the peak reported next is the fill still there.
  CHECK(fill.take_peak() == doctest::Approx(32000.0 / kRingSize).epsilon(1e-12));

  // A full ring: the writes that do not fit are dropped by the kernel; the fill is 1 at most.
  run_writer(prog, 5000);
  double full = fill.sample();
  CHECK(full > 0.99);
  CHECK(full <= 1.0);
  close(prog);
  close(ring);
}

TEST_CASE("ring fill: a map that is not a ring buffer is refused with the reason") {
  int array = bpf_map_create(BPF_MAP_TYPE_ARRAY, "leaf_not_ring", 4, 8, 1, nullptr);
  REQUIRE(array >= 0);
  leaf::core::RingFill fill;
  CHECK_FALSE(fill.open(array).empty());
  CHECK_FALSE(fill.ok());
  CHECK(fill.sample() == 0.0);
  close(array);
}
