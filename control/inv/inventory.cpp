#include "control/inv/inventory.hpp"

#include "relay/base/hex.hpp"

namespace relay::inv {

namespace {

// tenure_whole: the store holds every block of tenure `ch` from its start block `start`
// up to the block before `end` (the next tenure's start), and `end` itself: what a node
// fetches to download the tenure.
bool tenure_whole(const store::BlockStore::Snapshot& snap, const Hash20& ch, const Hash32& start, const Hash32& end) {
  auto e = snap.get(end);
  if (!e || e->meta.kind != store::BlockKind::kNakamoto) return false;
  Hash32 at = e->meta.parent;
  for (int steps = 0; steps < 100'000; ++steps) {
    auto b = snap.get(at);
    if (!b || b->meta.kind != store::BlockKind::kNakamoto || b->meta.consensus_hash != ch) return false;
    if (at == start) return true;
    at = b->meta.parent;
  }
  return false;
}

}  // namespace

InvTable build(const ChainView& v, const store::BlockStore::Snapshot& snap, std::uint64_t evicted, ServableCache& cache) {
  InvTable t;
  if (v.cycle_length == 0 || v.cycle_length > 2100 || v.tip_height < v.first_height) {
    t.stopped = "no chain view from a trusted node yet";
    return t;
  }
  const std::uint64_t L = v.cycle_length;
  std::map<Hash20, const Sortition*> by_ch;
  for (const auto& [h, s] : v.sortitions) by_ch[s.consensus_hash] = &s;
  // The canonical tenure chain, newest first, within the window.
  std::vector<const Sortition*> chain;
  for (auto it = by_ch.find(v.tip_tenure); it != by_ch.end() && chain.size() < 20'000; it = by_ch.find(chain.back()->parent_tenure)) {
    if (!it->second->winner) break;
    chain.push_back(it->second);
  }
  t.canonical = chain.size();
  // Each tenure's start block: its child's committed block (the tip's: from tenures/info).
  auto start_of = [&](std::size_t i) { return i == 0 ? v.tip_tenure_start : chain[i - 1]->committed; };
  auto servable = [&](std::size_t i) {
    if (i < 2) return snap.get(start_of(i)).has_value();  // no download can target them yet
    const auto key = std::make_tuple(chain[i]->consensus_hash, start_of(i), start_of(i - 1));
    if (auto w = cache.whole_at.find(key); w != cache.whole_at.end() && w->second == evicted) return true;
    const bool whole = tenure_whole(snap, chain[i]->consensus_hash, start_of(i), start_of(i - 1));
    if (whole) cache.whole_at[key] = evicted;
    return whole;
  };
  // The newest run: from the newest servable tenure back while each is servable.
  std::size_t a = 0;
  while (a < chain.size() && !servable(a)) ++a;
  std::size_t b = a;
  while (b < chain.size() && servable(b)) ++b;
  if (a > 0) t.stopped = "the newest " + std::to_string(a) + " tenures are not held whole";
  if (b < chain.size())
    t.stopped += std::string(t.stopped.empty() ? "" : "; ") + "tenure " + to_hex(chain[b]->consensus_hash) + " (burn height " +
                 std::to_string(chain[b]->height) + ") is not held whole";
  // Bits by cycle.
  const std::uint64_t tip_cycle = (v.tip_height - v.first_height) / L;
  auto cycle_bits = [&](std::uint64_t rc) -> codec::BitVec& {
    auto [it, fresh] = t.bits.try_emplace(rc);
    if (fresh) {
      const std::uint64_t mod0 = v.first_height + rc * L;
      it->second.len = static_cast<std::uint16_t>(rc < tip_cycle ? L : v.tip_height - mod0 + 1);
      it->second.data.assign((std::size_t{it->second.len} + 7) / 8, 0);
    }
    return it->second;
  };
  for (const auto& [h, s] : v.sortitions) {
    if (h < v.first_height || h > v.tip_height) continue;
    const std::uint64_t rc = (h - v.first_height) / L;
    (void)cycle_bits(rc);
    if ((h - v.first_height) % L == 1) t.request_cycle[s.consensus_hash] = rc;
  }
  for (std::size_t i = a; i < b; ++i) {
    const std::uint64_t h = chain[i]->height;
    auto& bits = cycle_bits((h - v.first_height) / L);
    const std::uint64_t k = (h - v.first_height) % L;
    if (k < bits.len) {
      bits.data[k / 8] = static_cast<std::uint8_t>(bits.data[k / 8] | (1u << (k % 8)));
      ++t.claimed;
    }
  }
  return t;
}

std::optional<codec::BitVec> answer(const InvTable& t, const Hash20& ch) {
  auto rc = t.request_cycle.find(ch);
  if (rc == t.request_cycle.end()) return std::nullopt;
  auto b = t.bits.find(rc->second);
  if (b == t.bits.end() || b->second.len == 0) return std::nullopt;
  return b->second;
}

}  // namespace relay::inv
