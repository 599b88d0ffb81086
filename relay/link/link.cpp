#include "relay/link/link.hpp"

#include <cmath>

#include <cstring>
#include <new>

#include "relay/codec/limits.hpp"

namespace relay::link {

namespace {

struct alignas(shm::kRingAlign) LinkHeader {
  std::atomic<std::uint64_t> magic;
  std::uint32_t abi;
  std::uint32_t reserved;
  std::uint64_t footprint;
  std::uint64_t dp_cnc_off, ctl_cnc_off, counters_off;
  std::uint64_t d2c_off, d2c_sz, c2d_off, c2d_sz;
};

std::size_t round_up(std::size_t x) { return (x + shm::kRingAlign - 1) / shm::kRingAlign * shm::kRingAlign; }

struct Layout {
  std::size_t dp_cnc, ctl_cnc, counters, d2c, d2c_sz, c2d, c2d_sz, total;
};

std::optional<Layout> layout(const LinkParams& p) {
  Layout l{};
  l.d2c_sz = shm::ring_footprint(p.dp_to_ctl);
  l.c2d_sz = shm::ring_footprint(p.ctl_to_dp);
  if (l.d2c_sz == 0 || l.c2d_sz == 0) return std::nullopt;
  l.dp_cnc = round_up(sizeof(LinkHeader));
  l.ctl_cnc = l.dp_cnc + round_up(sizeof(shm::Cnc));
  l.counters = l.ctl_cnc + round_up(sizeof(shm::Cnc));
  l.d2c = l.counters + round_up(sizeof(DpCounters));
  l.c2d = l.d2c + l.d2c_sz;
  l.total = l.c2d + l.c2d_sz;
  return l;
}

}  // namespace

LinkParams default_params() noexcept {
  LinkParams p;
  // A message handed over whole: 32-byte digest + flags + the largest message a node sends.
  const auto mtu = static_cast<std::uint32_t>(codec::kMaxMessageLen + codec::kPreambleSize + 64);
  p.dp_to_ctl.mtu = mtu;
  p.ctl_to_dp.mtu = mtu;
  return p;
}

std::size_t link_footprint(const LinkParams& p) noexcept {
  auto l = layout(p);
  return l ? l->total : 0;
}

Status link_format(void* mem, std::size_t mem_sz, const LinkParams& p) noexcept {
  auto l = layout(p);
  if (!l) return make_error(Errc::kBadValue, "link ring parameters invalid");
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % shm::kRingAlign != 0 || mem_sz < l->total)
    return make_error(Errc::kLimit, "link region too small or misaligned");
  auto* base = static_cast<std::uint8_t*>(mem);
  auto* h = new (mem) LinkHeader;
  h->magic.store(0, std::memory_order_relaxed);
  h->abi = kLinkAbiVersion;
  h->footprint = l->total;
  h->dp_cnc_off = l->dp_cnc;
  h->ctl_cnc_off = l->ctl_cnc;
  h->counters_off = l->counters;
  h->d2c_off = l->d2c;
  h->d2c_sz = l->d2c_sz;
  h->c2d_off = l->c2d;
  h->c2d_sz = l->c2d_sz;
  if (auto s = shm::cnc_format(base + l->dp_cnc, sizeof(shm::Cnc)); !s.ok()) return s;
  if (auto s = shm::cnc_format(base + l->ctl_cnc, sizeof(shm::Cnc)); !s.ok()) return s;
  auto* c = new (base + l->counters) DpCounters;
#define RELAY_X(name, help) c->name.store(0, std::memory_order_relaxed);
  RELAY_DP_COUNTERS(RELAY_X)
#undef RELAY_X
  c->sessions_live.store(0, std::memory_order_relaxed);
  c->sessions_auth_live.store(0, std::memory_order_relaxed);
  c->p2p_port.store(0, std::memory_order_relaxed);
  if (auto s = shm::ring_format(base + l->d2c, l->d2c_sz, p.dp_to_ctl); !s.ok()) return s;
  if (auto s = shm::ring_format(base + l->c2d, l->c2d_sz, p.ctl_to_dp); !s.ok()) return s;
  h->magic.store(kLinkMagic, std::memory_order_release);  // last: a joiner never sees half a region
  return Ok{};
}

Result<Link> link_join(void* mem, std::size_t mem_sz) noexcept {
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % shm::kRingAlign != 0 || mem_sz < sizeof(LinkHeader))
    return make_error(Errc::kBadValue, "link region too small or misaligned");
  auto* base = static_cast<std::uint8_t*>(mem);
  const auto* h = static_cast<const LinkHeader*>(mem);
  if (h->magic.load(std::memory_order_acquire) != kLinkMagic) return make_error(Errc::kBadValue, "not a relay link region");
  if (h->abi != kLinkAbiVersion) return make_error(Errc::kBadValue, "link ABI version mismatch (rebuild both processes)");
  if (h->footprint > mem_sz) return make_error(Errc::kLimit, "link region larger than its mapping");
  auto inside = [&](std::uint64_t off, std::uint64_t sz) {
    return off % shm::kRingAlign == 0 && off >= sizeof(LinkHeader) && sz <= mem_sz && off <= mem_sz - sz;
  };
  if (!inside(h->dp_cnc_off, sizeof(shm::Cnc)) || !inside(h->ctl_cnc_off, sizeof(shm::Cnc)) ||
      !inside(h->counters_off, sizeof(DpCounters)) || !inside(h->d2c_off, h->d2c_sz) || !inside(h->c2d_off, h->c2d_sz))
    return make_error(Errc::kBadValue, "link layout outside its mapping");
  Link l;
  auto dp = shm::cnc_join(base + h->dp_cnc_off, sizeof(shm::Cnc));
  auto ctl = shm::cnc_join(base + h->ctl_cnc_off, sizeof(shm::Cnc));
  if (!dp.ok()) return dp.error();
  if (!ctl.ok()) return ctl.error();
  l.dp_cnc = *dp;
  l.ctl_cnc = *ctl;
  l.counters = reinterpret_cast<DpCounters*>(base + h->counters_off);
  l.dp_to_ctl = base + h->d2c_off;
  l.dp_to_ctl_sz = h->d2c_sz;
  l.ctl_to_dp = base + h->c2d_off;
  l.ctl_to_dp_sz = h->c2d_sz;
  return l;
}

Result<Ends> join_ends(const Link& l, Side side) noexcept {
  const bool dp = side == Side::kDataplane;
  auto out = dp ? shm::RingProducer::join(l.dp_to_ctl, l.dp_to_ctl_sz) : shm::RingProducer::join(l.ctl_to_dp, l.ctl_to_dp_sz);
  if (!out.ok()) return out.error();
  auto in = dp ? shm::RingConsumer::join(l.ctl_to_dp, l.ctl_to_dp_sz) : shm::RingConsumer::join(l.dp_to_ctl, l.dp_to_ctl_sz);
  if (!in.ok()) return in.error();
  return Ends{*out, *in, dp ? l.dp_cnc : l.ctl_cnc, dp ? l.ctl_cnc : l.dp_cnc, l.counters};
}

void put_session_info(Writer& w, const SessionInfo& s) {
  w.u8(s.outbound ? 1 : 0);
  w.u64(s.dial_token);
  w.array(s.addr);
  w.u16(s.port);
  w.u8(s.key ? 1 : 0);
  if (s.key) w.array(s.key->compressed());
  w.u8(static_cast<std::uint8_t>(s.via));
}

std::optional<SessionInfo> get_session_info(Reader& r) {
  SessionInfo s;
  std::uint8_t ob = r.u8();
  s.outbound = ob == 1;
  s.dial_token = r.u64();
  r.array(s.addr);
  s.port = r.u16();
  std::uint8_t has_key = r.u8();
  if (has_key == 1) {
    auto k = r.array<33>();
    if (!r.ok()) return std::nullopt;
    s.key = crypto::parse_public_key(ByteSpan(k.data(), k.size()));
    if (!s.key) return std::nullopt;
  }
  const std::uint8_t via = r.u8();
  if (!r.ok() || ob > 1 || has_key > 1 || via > kMaxVia) return std::nullopt;
  s.via = static_cast<Via>(via);
  return s;
}

void put_view(Writer& w, const policy::BurnView& v) {
  w.u64(v.height);
  w.array(v.hash);
  w.u64(v.stable_height);
  w.array(v.stable_hash);
}

std::optional<policy::BurnView> get_view(Reader& r) {
  policy::BurnView v;
  v.height = r.u64();
  r.array(v.hash);
  v.stable_height = r.u64();
  r.array(v.stable_hash);
  if (!r.ok()) return std::nullopt;
  return v;
}

void put_reward_set(Writer& w, const std::vector<validate::RewardSetSigner>& s) {
  w.count(s.size());
  for (const auto& x : s) {
    w.array(x.signing_key);
    w.u32(x.weight);
  }
}

namespace {
std::optional<std::vector<validate::RewardSetSigner>> read_one_set(Reader& r) {
  // Nakamoto reward sets have at most 4000 slots; allow generous headroom.
  std::uint32_t n = r.count(65536, 37, "reward set too large");
  std::vector<validate::RewardSetSigner> out;
  if (!r.ok()) return std::nullopt;
  out.resize(n);
  for (auto& x : out) {
    r.array(x.signing_key);
    x.weight = r.u32();
  }
  if (!r.ok()) return std::nullopt;
  return out;
}
}  // namespace

std::optional<std::vector<validate::RewardSetSigner>> get_reward_set(Reader& r) {
  auto s = read_one_set(r);
  if (!s || !r.at_end()) return std::nullopt;
  return s;
}

void put_reward_sets(Writer& w, const RewardSets& s) {
  put_reward_set(w, s.current);
  put_reward_set(w, s.previous);
  w.u64(s.cycle);
  put_reward_set(w, s.next);
}

std::optional<RewardSets> get_reward_sets(Reader& r) {
  RewardSets out;
  auto cur = read_one_set(r);
  if (!cur) return std::nullopt;
  out.current = std::move(*cur);
  if (!r.at_end()) {  // the previous cycle's set (absent: none)
    auto prev = read_one_set(r);
    if (!prev) return std::nullopt;
    out.previous = std::move(*prev);
  }
  if (!r.at_end()) {  // the cycle and the next cycle's set (absent: not known)
    out.cycle = r.u64();
    auto next = read_one_set(r);
    if (!r.ok() || !next || !r.at_end()) return std::nullopt;
    out.next = std::move(*next);
  }
  return out;
}

std::uint64_t latency_quantile_us(const DpCounters& c, double q) noexcept {
  std::uint64_t counts[kLatencyBuckets];
  for (std::size_t b = 0; b < kLatencyBuckets; ++b) counts[b] = c.relay_latency_buckets[b].load(std::memory_order_relaxed);
  return latency_quantile_us(counts, q);
}

std::uint64_t latency_quantile_us(const std::uint64_t (&counts)[kLatencyBuckets], double q) noexcept {
  std::uint64_t total = 0;
  for (std::uint64_t n : counts) total += n;
  if (total == 0) return 0;
  // Nearest rank: the ceil(q·n)-th smallest observation (at least the first).
  const double want = std::ceil(q * static_cast<double>(total));
  const std::uint64_t rank = want < 1 ? 1 : static_cast<std::uint64_t>(want);
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b + 1 < kLatencyBuckets; ++b)
    if ((seen += counts[b]) >= rank) return latency_bucket_le_us(b);
  return UINT64_MAX;
}

}  // namespace relay::link
