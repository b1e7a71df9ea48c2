/* Kernel-side helpers shared by every Leaf BPF program.
 *
 *  - LEAF_RINGBUF / LEAF_COUNTERS declare a plugin's ring buffer and its
 *    per-CPU, per-event-type counters (struct leaf_type_counters);
 *  - leaf_reserve / leaf_submit / leaf_output fill the common header and
 *    count every record emitted and every record lost to a full ring;
 *  - LEAF_TP_BTF_RAW_TP / LEAF_HOOK_* declare one handler under several hooks
 *    so user space can pick the best one that loads and attaches here
 *    (sdk/include/leaf/sdk/hooks.hpp).
 *
 * Program naming rule, read by the hook selector: <probe>__<hook>[__<part>].
 * Every program of one probe with the same hook kind forms one candidate;
 * the selector tries candidates in order fentry, kprobe, tp_btf, raw_tp, tp.
 *
 * Include after vmlinux.h and <bpf/bpf_helpers.h>. */
#ifndef LEAF_BPF_H
#define LEAF_BPF_H

#include <bpf/bpf_helpers.h>

#include "leaf_event.h"

#define LEAF_RINGBUF(name)                          \
	struct {                                    \
		__uint(type, BPF_MAP_TYPE_RINGBUF); \
		__uint(max_entries, 256 * 1024);    \
	} name SEC(".maps")

#define LEAF_COUNTERS(name)                                \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);   \
		__uint(max_entries, LEAF_MAX_EVENT_TYPES); \
		__type(key, __u32);                        \
		__type(value, struct leaf_type_counters);  \
	} name SEC(".maps")

/* Ring-buffer wakeups. By default (leaf_wakeup_delay_ns == 0) the kernel
 * wakes the consumer whenever it has caught up: one wakeup per record at
 * moderate rates, which costs more than the record. With a delay set (the
 * host's dispatcher.wakeup_delay, written by the plugin before load), a
 * record forces a wakeup only when the last one is at least that old;
 * others are submitted without one, and the host's drain tick, which runs
 * while records flow, picks them up. Latency is bounded by the delay.
 * The timestamp is shared by all CPUs without atomics: a lost update only
 * costs one extra wakeup. */
const volatile __u64 leaf_wakeup_delay_ns = 0;
__u64 leaf_last_wakeup_ns = 0;

/* `now`: the record's own timestamp (taken at reserve, a few instructions
 * earlier), which spares a second clock read per record: the clock is not
 * cheap everywhere (kvm-clock in a VM). */
static __always_inline __u64 leaf_wakeup_flags(__u64 now)
{
	if (!leaf_wakeup_delay_ns)
		return 0;
	/* signed: a record stamped just before another CPU woke counts as recent */
	if ((__s64)(now - leaf_last_wakeup_ns) < (__s64)leaf_wakeup_delay_ns)
		return BPF_RB_NO_WAKEUP;
	leaf_last_wakeup_ns = now;
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline void leaf_count(void *counters, __u32 type, int lost)
{
	struct leaf_type_counters *c = bpf_map_lookup_elem(counters, &type);

	if (!c)
		return;
	/* per-CPU value: no atomics needed */
	if (lost)
		c->lost++;
	else
		c->emitted++;
}

static __always_inline void leaf_fill_header(struct leaf_event_header *h, __u16 type)
{
	h->timestamp_ns = bpf_ktime_get_ns();
	h->type = type;
	h->flags = 0;
	h->reserved = 0;
}

/* Reserves a record of `size` bytes whose header is filled in. Returns NULL
 * (and counts the loss) when the ring is full. */
static __always_inline void *leaf_reserve(void *ringbuf, void *counters, __u64 size, __u16 type)
{
	struct leaf_event_header *h = bpf_ringbuf_reserve(ringbuf, size, 0);

	if (!h) {
		leaf_count(counters, type, 1);
		return NULL;
	}
	leaf_fill_header(h, type);
	return h;
}

static __always_inline void leaf_submit(void *counters, void *record)
{
	struct leaf_event_header *h = record;
	__u16 type = h->type;

	bpf_ringbuf_submit(record, leaf_wakeup_flags(h->timestamp_ns));
	leaf_count(counters, type, 0);
}

static __always_inline void leaf_discard(void *record)
{
	bpf_ringbuf_discard(record, 0);
}

/* Copies a record built elsewhere (a per-CPU scratch buffer, for records of
 * variable length) into the ring. The header must be filled already. */
static __always_inline long leaf_output(void *ringbuf, void *counters, void *record, __u64 size)
{
	struct leaf_event_header *h = record;
	__u16 type = h->type;
	long err = bpf_ringbuf_output(ringbuf, record, size, leaf_wakeup_flags(h->timestamp_ns));

	leaf_count(counters, type, err != 0);
	return err;
}

/* One handler, reachable from tp_btf (preferred: typed, cheapest) and
 * raw_tp (no BTF-typed arguments: read pointers with BPF_CORE_READ). The
 * handler has the signature `int handler(__u64 *ctx)` and reads the
 * tracepoint's arguments as ctx[0], ctx[1], ... */
#define LEAF_TP_BTF_RAW_TP(probe, tracepoint, handler) \
	SEC("tp_btf/" #tracepoint)                     \
	int probe##__tp_btf(__u64 *ctx)                \
	{                                              \
		return handler(ctx);                   \
	}                                              \
	SEC("raw_tp/" #tracepoint)                     \
	int probe##__raw_tp(__u64 *ctx)                \
	{                                              \
		return handler(ctx);                   \
	}

/* Per-CPU token bucket (the seed's rate_limit): at most `rate` events per
 * second with bursts of `burst`. Returns 1 when the event may pass. The
 * state lives in a per-CPU array value owned by the caller. */
struct leaf_token_bucket {
	__u64 last_ns;
	__u64 tokens_milli; /* tokens * 1000 */
};

static __always_inline int leaf_bucket_take(struct leaf_token_bucket *b, __u64 now_ns, __u64 rate,
					    __u64 burst)
{
	__u64 cap = burst * 1000;

	if (b->last_ns == 0) {
		b->last_ns = now_ns;
		b->tokens_milli = cap;
	} else if (now_ns > b->last_ns) {
		__u64 add = (now_ns - b->last_ns) * rate / 1000000; /* ns * ev/s -> milli-tokens */

		b->last_ns = now_ns;
		b->tokens_milli = b->tokens_milli + add > cap ? cap : b->tokens_milli + add;
	}
	if (b->tokens_milli < 1000)
		return 0;
	b->tokens_milli -= 1000;
	return 1;
}

#endif /* LEAF_BPF_H */
