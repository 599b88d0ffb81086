// relay/shm/frag_ring.hpp — single-producer fragment ring in shared memory, after
// Firedancer's tango (mcache + dcache + fseq): a ring of 32-byte descriptors and a
// payload arena addressed by position, never by pointer, so the two processes may map
// the region at different addresses (ARCHITECTURE.md §2).
//
// Protocol. The producer writes the payload into the arena, fills the descriptor of
// slot seq % depth, and publishes it by storing its seq last (release). A consumer
// waiting for seq s reads the slot's seq (acquire): equal → the fragment is there
// (copy what you need, then call still_valid() to re-check nothing was overwritten
// meanwhile); smaller → not yet published; larger → the producer lapped the consumer
// (overrun: fragments were lost, the consumer jumps ahead and counts them).
//
// Lossless rings add credit-based flow control: the consumer publishes `fseq` (every
// seq below it is done, its payload free) and the producer never runs more than
// `depth` fragments or `arena_sz` payload bytes ahead of it. Lossy rings never wait.
//
// Trust. The other process is trusted for liveness, never for memory safety: join()
// validates the header against the mapping size, and every descriptor a consumer reads
// is bounds-checked (size ≤ mtu, payload inside the arena) before it is used; a bad one
// is skipped and counted (kCorrupt). The producer validates the consumer's fseq.
//
// Lifecycle (STYLE.md §5): align / footprint / format / join / leave (destructor) /
// unformat. Hot path: publish/poll never allocate or make syscalls.
#pragma once

#include <atomic>
#include <optional>
#include <cstddef>
#include <cstdint>
#include <span>

#include "relay/base/bytes.hpp"
#include "relay/base/result.hpp"

namespace relay::shm {

inline constexpr std::uint64_t kRingMagic = 0x53524c5952494e47ull;  // "SRLYRING"
inline constexpr std::uint32_t kRingAbiVersion = 1;
inline constexpr std::size_t kRingAlign = 128;  // producer/consumer lines never share

// FragMeta: one 32-byte descriptor. `seq` is written last by the producer.
struct FragMeta {
  std::atomic<std::uint64_t> seq;
  std::uint64_t pos;      // monotonic payload start; arena offset = pos % arena_sz
  std::uint32_t sz;       // payload bytes
  std::uint32_t session;  // session id the fragment concerns
  std::uint16_t kind;     // message kind (ring-specific)
  std::uint16_t flags;
  std::uint32_t ts;       // producer timestamp (ns, low 32 bits)
};
static_assert(sizeof(FragMeta) == 32);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

struct RingParams {
  std::uint64_t depth = 0;     // descriptors; power of two ≥ 2
  std::uint64_t arena_sz = 0;  // payload bytes; ≥ mtu
  std::uint32_t mtu = 0;       // largest payload
  bool lossless = true;        // credit-based flow control
};

// ring_footprint: bytes a ring with these params needs (0 if the params are invalid).
std::size_t ring_footprint(const RingParams& p) noexcept;

// ring_format: lay out a new ring in `mem` (aligned to kRingAlign, ring_footprint bytes).
// The magic is written last, so a concurrent join never sees a half-made ring.
Status ring_format(void* mem, std::size_t mem_sz, const RingParams& p) noexcept;

// ring_unformat: clear the magic (nobody may be joined).
void ring_unformat(void* mem) noexcept;

// RingOccupancy: how full a lossless ring is right now (read by a third party, e.g. the
// metrics endpoint; a snapshot of two counters that move on their own).
struct RingOccupancy {
  std::uint64_t frags = 0, depth = 0;     // descriptors published and not yet released
  std::uint64_t bytes = 0, arena_sz = 0;  // payload bytes they hold (with wrap padding)
};
// ring_occupancy: nullopt if [mem, mem + mem_sz) holds no valid ring (every header field
// is checked against the mapping, as a join does).
std::optional<RingOccupancy> ring_occupancy(const void* mem, std::size_t mem_sz) noexcept;

// A consumer's view of one fragment. `payload` points into the shared arena.
struct Frag {
  std::uint64_t seq = 0;
  std::uint64_t pos = 0;
  std::uint32_t session = 0;
  std::uint16_t kind = 0;
  std::uint16_t flags = 0;
  std::uint32_t ts = 0;
  ByteSpan payload;
};

namespace detail {
struct RingHeader;
// RingGeometry: the ring's shape, copied from its header once, when a process joins
// (after every field was checked against the mapping). Nothing about the shape is read
// from shared memory after that: another process scribbling on the header can make the
// ring's contents wrong, never make this one read or write outside it.
struct RingGeometry {
  std::uint64_t depth = 0;     // descriptors (a power of two)
  std::uint64_t arena_sz = 0;  // payload bytes
  std::uint32_t mtu = 0;
  bool lossless = false;
  FragMeta* meta = nullptr;
  std::uint8_t* arena = nullptr;
};
}  // namespace detail

class RingProducer {
 public:
  // join: validate the ring in [mem, mem + mem_sz) and attach as its (only) producer.
  // The producer resumes from the published state, so a restarted process continues.
  static Result<RingProducer> join(void* mem, std::size_t mem_sz) noexcept;

  // prepare: payload space for a fragment of `sz` bytes, or an empty span when the
  // consumer has not left enough credit (lossless) or sz > mtu. Write into it, then
  // publish(sz, …). Only one prepared fragment at a time.
  std::span<std::uint8_t> prepare(std::uint32_t sz) noexcept;
  // publish: make the prepared fragment visible. Returns its seq.
  std::uint64_t publish(std::uint32_t sz, std::uint16_t kind, std::uint32_t session,
                        std::uint16_t flags = 0, std::uint32_t ts = 0) noexcept;
  // try_send: prepare + copy + publish; false when there is no credit (retry later).
  bool try_send(ByteSpan payload, std::uint16_t kind, std::uint32_t session, std::uint16_t flags = 0,
                std::uint32_t ts = 0) noexcept;

  std::uint64_t next_seq() const noexcept { return seq_; }
  // credits: fragments that may be published before the consumer must catch up.
  std::uint64_t credits() noexcept;
  // bad_fseq: times the consumer published an impossible fseq (ignored).
  std::uint64_t bad_fseq() const noexcept { return bad_fseq_; }

 private:
  detail::RingHeader* hdr_ = nullptr;  // only its live counters are read after join
  detail::RingGeometry g_;
  std::uint64_t seq_ = 0;  // next seq to publish
  std::uint64_t pos_ = 0;  // next monotonic payload position
  std::uint64_t prepared_pos_ = 0;
  std::uint64_t bad_fseq_ = 0;
};

class RingConsumer {
 public:
  enum class Poll : std::uint8_t {
    kEmpty,    // nothing new
    kFrag,     // `out` holds the next fragment
    kOverrun,  // the producer lapped us; we skipped ahead (see lost())
    kCorrupt,  // the descriptor failed its bounds checks; skipped (see corrupt())
  };

  // join: validate and attach as the (only) consumer; resumes from the published fseq.
  static Result<RingConsumer> join(void* mem, std::size_t mem_sz) noexcept;

  // poll: look at the next fragment without consuming it.
  Poll poll(Frag& out) noexcept;
  // still_valid: after using a polled fragment's payload, whether it was intact the
  // whole time (always true on lossless rings while it is not released).
  bool still_valid(const Frag& f) const noexcept;
  // release: done with the fragment poll() returned; on lossless rings this returns
  // its descriptor and payload to the producer (publishes fseq).
  void release() noexcept;

  std::uint64_t next_seq() const noexcept { return seq_; }
  std::uint64_t lost() const noexcept { return lost_; }
  std::uint64_t corrupt() const noexcept { return corrupt_; }

 private:
  detail::RingHeader* hdr_ = nullptr;  // only its live counters are read after join
  detail::RingGeometry g_;
  std::uint64_t seq_ = 0;
  std::uint64_t lost_ = 0;
  std::uint64_t corrupt_ = 0;
};

}  // namespace relay::shm
