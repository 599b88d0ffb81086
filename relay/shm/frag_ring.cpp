#include "relay/shm/frag_ring.hpp"

#include <cstring>
#include <new>

namespace relay::shm {

namespace detail {

// Immutable after format, then one 128-byte line per writer.
struct alignas(kRingAlign) RingHeader {
  std::atomic<std::uint64_t> magic;
  std::uint32_t abi;
  std::uint32_t lossless;
  std::uint64_t depth;
  std::uint64_t arena_sz;
  std::uint64_t mtu;
  std::uint64_t meta_off;   // from the header start
  std::uint64_t arena_off;
  std::uint64_t footprint;

  alignas(kRingAlign) std::atomic<std::uint64_t> pub_seq;  // producer: next seq to publish
  std::atomic<std::uint64_t> pub_pos;                      // producer: next payload position
  std::atomic<std::uint64_t> claim_pos;                    // producer: end of the payload being written

  alignas(kRingAlign) std::atomic<std::uint64_t> fseq;     // consumer: every seq below is done

  FragMeta* meta() noexcept { return reinterpret_cast<FragMeta*>(reinterpret_cast<std::uint8_t*>(this) + meta_off); }
  const FragMeta* meta() const noexcept {
    return reinterpret_cast<const FragMeta*>(reinterpret_cast<const std::uint8_t*>(this) + meta_off);
  }
  std::uint8_t* arena() noexcept { return reinterpret_cast<std::uint8_t*>(this) + arena_off; }
};
static_assert(sizeof(RingHeader) == 3 * kRingAlign);
static_assert(offsetof(RingHeader, pub_seq) == kRingAlign);
static_assert(offsetof(RingHeader, fseq) == 2 * kRingAlign);

}  // namespace detail

using detail::RingHeader;

namespace {

bool valid_params(const RingParams& p) noexcept {
  return p.depth >= 2 && (p.depth & (p.depth - 1)) == 0 && p.depth <= (1ull << 30) && p.mtu > 0 &&
         p.arena_sz >= p.mtu && p.arena_sz <= (1ull << 40);
}

std::size_t round_up(std::size_t x, std::size_t a) { return (x + a - 1) / a * a; }

// Checks every header field a joiner relies on, against the mapping size.
Status validate_header(const void* mem, std::size_t mem_sz) noexcept {
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % kRingAlign != 0)
    return make_error(Errc::kBadValue, "ring memory not aligned");
  if (mem_sz < sizeof(RingHeader)) return make_error(Errc::kTruncated, "ring memory smaller than its header");
  const auto* h = static_cast<const RingHeader*>(mem);
  if (h->magic.load(std::memory_order_acquire) != kRingMagic) return make_error(Errc::kBadValue, "not a ring (bad magic)");
  if (h->abi != kRingAbiVersion) return make_error(Errc::kBadValue, "ring ABI version mismatch");
  RingParams p{h->depth, h->arena_sz, static_cast<std::uint32_t>(h->mtu), h->lossless != 0};
  if (h->mtu > UINT32_MAX || !valid_params(p)) return make_error(Errc::kBadValue, "ring parameters invalid");
  std::size_t fp = ring_footprint(p);
  if (fp == 0 || h->footprint != fp || fp > mem_sz) return make_error(Errc::kLimit, "ring larger than its mapping");
  if (h->meta_off != sizeof(RingHeader) || h->arena_off != round_up(sizeof(RingHeader) + p.depth * sizeof(FragMeta), kRingAlign))
    return make_error(Errc::kBadValue, "ring layout invalid");
  return Ok{};
}

// geometry_of: the shape of a ring whose header validate_header() accepted.
detail::RingGeometry geometry_of(RingHeader* h) noexcept {
  return {h->depth, h->arena_sz, static_cast<std::uint32_t>(h->mtu), h->lossless != 0, h->meta(), h->arena()};
}

}  // namespace

std::size_t ring_footprint(const RingParams& p) noexcept {
  if (!valid_params(p)) return 0;
  std::size_t meta_end = sizeof(RingHeader) + p.depth * sizeof(FragMeta);
  return round_up(round_up(meta_end, kRingAlign) + p.arena_sz, kRingAlign);
}

Status ring_format(void* mem, std::size_t mem_sz, const RingParams& p) noexcept {
  std::size_t fp = ring_footprint(p);
  if (fp == 0) return make_error(Errc::kBadValue, "ring parameters invalid");
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % kRingAlign != 0)
    return make_error(Errc::kBadValue, "ring memory not aligned");
  if (mem_sz < fp) return make_error(Errc::kLimit, "ring memory smaller than its footprint");
  std::memset(mem, 0, sizeof(RingHeader));
  auto* h = new (mem) RingHeader;
  h->abi = kRingAbiVersion;
  h->lossless = p.lossless ? 1 : 0;
  h->depth = p.depth;
  h->arena_sz = p.arena_sz;
  h->mtu = p.mtu;
  h->meta_off = sizeof(RingHeader);
  h->arena_off = round_up(sizeof(RingHeader) + p.depth * sizeof(FragMeta), kRingAlign);
  h->footprint = fp;
  h->pub_seq.store(1, std::memory_order_relaxed);  // seq 0 is never published
  h->pub_pos.store(0, std::memory_order_relaxed);
  h->claim_pos.store(0, std::memory_order_relaxed);
  h->fseq.store(1, std::memory_order_relaxed);
  FragMeta* m = h->meta();
  for (std::uint64_t i = 0; i < p.depth; ++i) {
    new (&m[i]) FragMeta{};
    m[i].seq.store(0, std::memory_order_relaxed);  // "older than anything": not yet published
  }
  h->magic.store(kRingMagic, std::memory_order_release);
  return Ok{};
}

void ring_unformat(void* mem) noexcept {
  if (mem != nullptr) static_cast<RingHeader*>(mem)->magic.store(0, std::memory_order_release);
}

std::optional<RingOccupancy> ring_occupancy(const void* mem, std::size_t mem_sz) noexcept {
  if (!validate_header(mem, mem_sz).ok()) return std::nullopt;
  const auto* h = static_cast<const RingHeader*>(mem);
  const detail::RingGeometry g = geometry_of(const_cast<RingHeader*>(h));
  RingOccupancy o;
  o.depth = g.depth;
  o.arena_sz = g.arena_sz;
  const std::uint64_t fseq = h->fseq.load(std::memory_order_acquire);
  const std::uint64_t seq = h->pub_seq.load(std::memory_order_acquire);
  const std::uint64_t pos = h->pub_pos.load(std::memory_order_acquire);
  if (seq <= fseq || seq - fseq > g.depth) return o;  // empty (or a torn read: report empty)
  o.frags = seq - fseq;
  // The oldest unreleased fragment's payload start bounds the bytes in use.
  const std::uint64_t start = g.meta[fseq & (g.depth - 1)].pos;
  if (start <= pos && pos - start <= g.arena_sz) o.bytes = pos - start;
  return o;
}

// ---- producer -------------------------------------------------------------------------

Result<RingProducer> RingProducer::join(void* mem, std::size_t mem_sz) noexcept {
  RELAY_TRY(validate_header(mem, mem_sz));
  RingProducer p;
  p.hdr_ = static_cast<RingHeader*>(mem);
  p.g_ = geometry_of(p.hdr_);
  p.seq_ = p.hdr_->pub_seq.load(std::memory_order_acquire);
  p.pos_ = p.hdr_->pub_pos.load(std::memory_order_acquire);
  return p;
}

std::uint64_t RingProducer::credits() noexcept {
  if (!g_.lossless) return g_.depth;
  std::uint64_t fseq = hdr_->fseq.load(std::memory_order_acquire);
  if (fseq > seq_ || seq_ - fseq > g_.depth) [[unlikely]] {  // impossible: ignore it
    ++bad_fseq_;
    return 0;
  }
  return g_.depth - (seq_ - fseq);
}

std::span<std::uint8_t> RingProducer::prepare(std::uint32_t sz) noexcept {
  RingHeader* h = hdr_;
  if (sz > g_.mtu || credits() == 0) return {};
  // Payloads are contiguous: skip the arena's tail when the fragment would wrap.
  std::uint64_t start = pos_;
  std::uint64_t off = start % g_.arena_sz;
  if (off + sz > g_.arena_sz) start += g_.arena_sz - off;
  if (g_.lossless) {
    // Bytes still in use: from the payload of the oldest unreleased fragment. That
    // fragment's descriptor is still in the ring (credits > 0), and descriptors are
    // not trusted for safety here: a bogus pos only costs credit, never memory.
    std::uint64_t fseq = h->fseq.load(std::memory_order_acquire);
    if (fseq < seq_) {
      const FragMeta& oldest = g_.meta[fseq & (g_.depth - 1)];
      std::uint64_t used_from = oldest.pos;
      if (used_from > start || start + sz - used_from > g_.arena_sz) return {};
    }
  }
  prepared_pos_ = start;
  // Announce the bytes about to be written before writing them (seqlock order), so a
  // lossy reader that copied from them sees the claim in still_valid().
  h->claim_pos.store(start + sz, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  return {g_.arena + (start % g_.arena_sz), sz};
}

std::uint64_t RingProducer::publish(std::uint32_t sz, std::uint16_t kind, std::uint32_t session,
                                    std::uint16_t flags, std::uint32_t ts) noexcept {
  RingHeader* h = hdr_;
  FragMeta& m = g_.meta[seq_ & (g_.depth - 1)];
  // Mark the slot as in flux (an older seq) so a racing reader never accepts a
  // half-written descriptor, then fill it and publish the seq last.
  m.seq.store(seq_ - 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  m.pos = prepared_pos_;
  m.sz = sz;
  m.session = session;
  m.kind = kind;
  m.flags = flags;
  m.ts = ts;
  m.seq.store(seq_, std::memory_order_release);
  std::uint64_t published = seq_++;
  pos_ = prepared_pos_ + sz;
  h->pub_pos.store(pos_, std::memory_order_release);
  h->pub_seq.store(seq_, std::memory_order_release);
  return published;
}

bool RingProducer::try_send(ByteSpan payload, std::uint16_t kind, std::uint32_t session, std::uint16_t flags,
                            std::uint32_t ts) noexcept {
  if (payload.size() > UINT32_MAX) return false;
  auto sz = static_cast<std::uint32_t>(payload.size());
  auto dst = prepare(sz);
  if (dst.size() != sz || (sz > 0 && dst.data() == nullptr)) return false;
  if (sz > 0) std::memcpy(dst.data(), payload.data(), sz);
  publish(sz, kind, session, flags, ts);
  return true;
}

// ---- consumer -------------------------------------------------------------------------

Result<RingConsumer> RingConsumer::join(void* mem, std::size_t mem_sz) noexcept {
  RELAY_TRY(validate_header(mem, mem_sz));
  RingConsumer c;
  c.hdr_ = static_cast<RingHeader*>(mem);
  c.g_ = geometry_of(c.hdr_);
  c.seq_ = c.hdr_->fseq.load(std::memory_order_acquire);
  if (c.seq_ == 0) c.seq_ = 1;
  return c;
}

RingConsumer::Poll RingConsumer::poll(Frag& out) noexcept {
  RingHeader* h = hdr_;
  const FragMeta& m = g_.meta[seq_ & (g_.depth - 1)];
  std::uint64_t found = m.seq.load(std::memory_order_acquire);
  if (found < seq_) return Poll::kEmpty;
  if (found > seq_) {
    // Lapped: everything from seq_ up to the producer's oldest live fragment is gone.
    std::uint64_t pub = h->pub_seq.load(std::memory_order_acquire);
    std::uint64_t resume = pub > g_.depth ? pub - g_.depth : 1;
    if (resume <= seq_) resume = seq_ + 1;  // the descriptor lied; step past it
    lost_ += resume - seq_;
    seq_ = resume;
    if (g_.lossless) h->fseq.store(seq_, std::memory_order_release);
    return Poll::kOverrun;
  }
  out.seq = found;
  out.pos = m.pos;
  std::uint32_t sz = m.sz;
  out.session = m.session;
  out.kind = m.kind;
  out.flags = m.flags;
  out.ts = m.ts;
  std::atomic_thread_fence(std::memory_order_acquire);
  if (m.seq.load(std::memory_order_relaxed) != found) {  // overwritten while copying
    ++lost_;
    ++seq_;
    return Poll::kOverrun;
  }
  std::uint64_t off = out.pos % g_.arena_sz;
  if (sz > g_.mtu || off + sz > g_.arena_sz) [[unlikely]] {
    ++corrupt_;
    release();
    return Poll::kCorrupt;
  }
  out.payload = ByteSpan(g_.arena + off, sz);
  return Poll::kFrag;
}

bool RingConsumer::still_valid(const Frag& f) const noexcept {
  std::atomic_thread_fence(std::memory_order_acquire);
  const RingHeader* h = hdr_;
  if (g_.meta[f.seq & (g_.depth - 1)].seq.load(std::memory_order_relaxed) != f.seq) return false;
  // No byte the producer has claimed (published or being written) may have come round
  // over the payload.
  std::uint64_t claim = h->claim_pos.load(std::memory_order_relaxed);
  return claim >= f.pos && claim - f.pos <= g_.arena_sz;
}

void RingConsumer::release() noexcept {
  ++seq_;
  if (g_.lossless) hdr_->fseq.store(seq_, std::memory_order_release);
}

}  // namespace relay::shm
