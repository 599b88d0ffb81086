// control/frontier/frontier.hpp — the relay's view of the network (PROTOCOL.md §6, §4.7):
// a bounded table of peers it has heard of or talked to, the bans it has handed out,
// and the operator's address policy. Persisted in LMDB, so a restarted relay dials the
// peers it knew instead of only its bootstrap list, and a banned peer stays banned.
//
// The table has `max_peers` slots. A peer may live in one of 8 slots chosen by a keyed
// hash of (address, port, network) with a secret nonce of this relay (as a node's
// PeerDB does), so whoever controls many addresses cannot choose which incumbents they
// displace; and an incumbent is displaced only if it is stale (not heard from within
// `max_neighbor_age`, or never reached and failing), never a fresh or bootstrap peer.
//
// Time is wall-clock seconds (rows outlive the process). Single-threaded: the control
// loop owns it; changes are written by flush() in one transaction.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "relay/net/address.hpp"
#include "relay/base/result.hpp"
#include "relay/codec/message.hpp"

namespace relay::frontier {

using codec::Addr16;

// A peer's identity in the table: (network, address, port), as a node keys its PeerDB.
struct PeerKey {
  std::uint32_t network_id = 0;
  Addr16 addr{};
  std::uint16_t port = 0;
  auto operator<=>(const PeerKey&) const = default;
};

struct PeerRow {
  PeerKey key;
  codec::Hash20 pkh{};                       // hash160 of its key (known from Neighbors or a handshake)
  std::optional<codec::PubKey33> public_key;  // once we handshook it
  std::uint32_t peer_version = 0;            // from its last preamble we accepted (0: never talked)
  std::uint16_t services = 0;
  std::uint64_t expire_block_height = 0;
  std::int64_t first_seen_s = 0;
  std::int64_t last_contact_s = 0;  // last successful handshake we made with it (0: never)
  std::int64_t next_dial_s = 0;     // not before (back-off after failures)
  std::uint32_t failures = 0;       // dials or handshakes failed in a row
  bool initial = false;             // a bootstrap peer: never evicted, never banned
  std::uint32_t slot = 0;
};

struct BanRecord {
  double score = 0;               // misbehaviour points, halving every hour
  std::int64_t score_at_s = 0;    // when `score` was last brought up to date
  std::int64_t denied_until_s = 0;
  std::uint32_t last_ban_s = 0;   // duration of the last ban (doubles on repeat offences)
  std::uint32_t bans = 0;         // bans handed to this address, all time
};

struct FrontierOptions {
  std::string path;  // LMDB directory; empty: kept in memory only
  std::uint32_t network_id = 1;
  std::uint32_t max_peers = 8192;
  std::int64_t max_neighbor_age_s = 3 * 86400;  // a node's max_neighbor_age
  bool private_neighbors = false;
  std::vector<net::Cidr> allow;  // never refused, never banned, exempt from per-address limits
  std::vector<net::Cidr> deny;   // never admitted, dialed or advertised
  std::uint32_t ban_base_s = 600;
  std::uint32_t ban_max_s = 86400;
};

// Misbehaviour points: an address is banned when its score (halving every hour) reaches
// kBanThreshold. Each session closed for something a node would drop a peer for (bad
// signature or preamble, undecodable bytes, relayers with a cycle, a handshake signed
// with another key) costs kPointsMisbehaviour: two such closes within about 35 minutes
// ban it (60 + 60·2^(-t/1h) ≥ 100 while t ≤ 35 min).
inline constexpr std::uint32_t kBanThreshold = 100;
inline constexpr std::uint32_t kPointsMisbehaviour = 60;

#define RELAY_FRONTIER_COUNTERS(X)                                                       \
  X(learned, "peers added to the table")                                                 \
  X(evicted, "stale peers displaced by new ones")                                        \
  X(table_full, "peers not added: every candidate slot held a live peer")                \
  X(bans, "bans handed out")                                                             \
  X(ban_exempt, "misbehaviour by allowed or bootstrap peers (never banned)")             \
  X(flush_errors, "peer table writes that failed")

struct FrontierStats {
#define RELAY_X(name, help) std::uint64_t name = 0;
  RELAY_FRONTIER_COUNTERS(RELAY_X)
#undef RELAY_X
};

class Frontier {
 public:
  // open: load (or create) the table at opts.path.
  static Result<std::unique_ptr<Frontier>> open(FrontierOptions opts);
  ~Frontier();
  Frontier(const Frontier&) = delete;
  Frontier& operator=(const Frontier&) = delete;

  const FrontierOptions& options() const noexcept { return opts_; }

  // ---- address policy
  enum class Verdict : std::uint8_t { kOk, kDenied, kBanned, kPrivate, kUnroutable };
  static const char* verdict_name(Verdict v) noexcept;
  bool allowed(const Addr16& a) const noexcept { return net::any_contains(opts_.allow, a); }
  // judge: may we talk to `a` (inbound or dial)? `configured`: the operator named this
  // peer ([p2p] peers / bootstrap), which lifts the private-address and unroutable rules
  // (as the allow list does).
  Verdict judge(const Addr16& a, std::int64_t now_s, bool configured = false) const;

  // ---- the table
  enum class Learn : std::uint8_t { kAdded, kKnown, kFull, kRefused };
  // learn: a peer we heard of (a Neighbors entry, a handshake's advertised address, a
  // bootstrap entry). Does not mark it contacted.
  Learn learn(const PeerKey& k, const codec::Hash20& pkh, std::int64_t now_s, bool initial = false);
  // contacted: our handshake with it succeeded (inserted if absent).
  void contacted(const PeerKey& k, const codec::PubKey33& key, std::uint32_t peer_version, std::uint16_t services,
                 std::uint64_t expire_block_height, std::int64_t now_s);
  // dial_failed: a dial or handshake to it failed; it is retried later, and forgotten
  // after many failures (unless a bootstrap peer).
  void dial_failed(const PeerKey& k, std::int64_t now_s);
  const PeerRow* find(const PeerKey& k) const;
  std::size_t size() const noexcept { return index_.size(); }
  // rows: every row (for status pages).
  std::vector<PeerRow> rows() const;

  // dial_candidates: up to n peers to dial now: judged ok, not backing off, not `busy`
  // (connected or being dialed), not `self`. Fresh peers first, then bootstrap, then the
  // rest, each group shuffled.
  template <typename Busy>
  std::vector<PeerRow> dial_candidates(std::size_t n, std::int64_t now_s, const codec::Hash20& self, Busy&& busy);
  // sample: what we answer GetNeighbors with (PROTOCOL.md §6): up to n random peers on
  // our network, contacted within max_neighbor_age, key unexpired at `burn_height`,
  // epoch byte ≥ `min_epoch`, not denied or banned, public unless private_neighbors.
  std::vector<codec::NeighborAddress> sample(std::size_t n, std::int64_t now_s, std::uint64_t burn_height,
                                             std::uint8_t min_epoch);

  // ---- bans (by address: an inbound peer's port is ephemeral)
  // misbehaved: add `points`; true if this bans the address now.
  bool misbehaved(const Addr16& a, std::uint32_t points, std::int64_t now_s);
  // banned_until: the deadline of a ban in force, else nullopt.
  std::optional<std::int64_t> banned_until(const Addr16& a, std::int64_t now_s) const;
  std::size_t bans_in_force(std::int64_t now_s) const;

  // flush: write what changed since the last flush (one transaction).
  Status flush();

  const FrontierStats& stats() const noexcept { return stats_; }

 private:
  explicit Frontier(FrontierOptions opts);
  Status load();
  std::uint32_t candidate_slot(const PeerKey& k, unsigned i) const;
  bool evictable(const PeerRow& r, std::int64_t now_s) const;
  bool fresh(const PeerRow& r, std::int64_t now_s) const {
    return r.last_contact_s != 0 && now_s - r.last_contact_s <= opts_.max_neighbor_age_s;
  }
  PeerRow* place(PeerRow row, std::int64_t now_s);
  void remove(const PeerKey& k);
  void touch(const PeerKey& k) { dirty_.insert(k); }
  double decayed(const BanRecord& b, std::int64_t now_s) const;

  struct Db;
  FrontierOptions opts_;
  std::unique_ptr<Db> db_;
  codec::Hash32 nonce_{};
  std::vector<std::optional<PeerRow>> slots_;
  std::map<PeerKey, std::uint32_t> index_;
  std::map<Addr16, BanRecord> bans_;
  std::set<PeerKey> dirty_, removed_;
  std::set<Addr16> bans_dirty_, bans_removed_;
  std::mt19937_64 rng_;
  FrontierStats stats_;
};

template <typename Busy>
std::vector<PeerRow> Frontier::dial_candidates(std::size_t n, std::int64_t now_s, const codec::Hash20& self, Busy&& busy) {
  std::vector<PeerRow> fresh_rows, boot, rest;
  for (const auto& [k, slot] : index_) {
    const PeerRow& r = *slots_[slot];
    if (k.network_id != opts_.network_id || r.next_dial_s > now_s || r.pkh == self) continue;
    if (judge(k.addr, now_s, r.initial) != Verdict::kOk || busy(r)) continue;
    (fresh(r, now_s) ? fresh_rows : r.initial ? boot : rest).push_back(r);
  }
  std::vector<PeerRow> out;
  for (auto* group : {&fresh_rows, &boot, &rest}) {
    std::shuffle(group->begin(), group->end(), rng_);
    for (auto& r : *group) {
      if (out.size() == n) return out;
      out.push_back(std::move(r));
    }
  }
  return out;
}

// network_epoch_at: the epoch byte (PROTOCOL.md §9) a network is in at a burn height:
// mainnet's schedule; other networks 0 (no epoch filter).
std::uint8_t network_epoch_at(std::uint32_t network_id, std::uint64_t burn_height) noexcept;

}  // namespace relay::frontier
