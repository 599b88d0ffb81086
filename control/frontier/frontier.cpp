#include "control/frontier/frontier.hpp"

#include <lmdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "relay/base/bytes.hpp"
#include "relay/crypto/hash.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace relay::frontier {

namespace {

constexpr unsigned kCandidateSlots = 8;
constexpr std::uint8_t kRowVersion = 1;
constexpr std::uint8_t kBanVersion = 1;
constexpr std::uint32_t kForgetAfterFailures = 10;
constexpr std::int64_t kRetryBaseS = 30;
constexpr std::int64_t kRetryMaxS = 3600;
constexpr double kScoreHalfLifeS = 3600;
constexpr std::size_t kMaxBanRecords = 1 << 16;
constexpr char kNonceKey[] = "nonce";

MDB_val val(const void* p, std::size_t n) {
  MDB_val v;
  v.mv_size = n;
  v.mv_data = const_cast<void*>(p);
  return v;
}

Error lmdb_error(int rc) { return make_error(Errc::kIo, mdb_strerror(rc), static_cast<std::uint32_t>(rc)); }

// Row key: network_id (BE) ‖ address ‖ port (BE).
std::array<std::uint8_t, 22> row_key(const PeerKey& k) {
  std::array<std::uint8_t, 22> b{};
  store_be32(b.data(), k.network_id);
  std::memcpy(b.data() + 4, k.addr.data(), 16);
  b[20] = static_cast<std::uint8_t>(k.port >> 8);
  b[21] = static_cast<std::uint8_t>(k.port);
  return b;
}

Bytes encode_row(const PeerRow& r) {
  Bytes b;
  {
  Writer w(b);
  w.u8(kRowVersion);
  w.array(r.pkh);
  w.u8(r.public_key ? 1 : 0);
  if (r.public_key) w.array(*r.public_key);
  w.u32(r.peer_version);
  w.u16(r.services);
  w.u64(r.expire_block_height);
  w.u64(static_cast<std::uint64_t>(r.first_seen_s));
  w.u64(static_cast<std::uint64_t>(r.last_contact_s));
  w.u64(static_cast<std::uint64_t>(r.next_dial_s));
  w.u32(r.failures);
  w.u8(r.initial ? 1 : 0);
  }
  return b;
}

std::optional<PeerRow> decode_row(ByteSpan key, ByteSpan v) {
  if (key.size() != 22) return std::nullopt;
  PeerRow r;
  r.key.network_id = load_be32(key.data());
  std::memcpy(r.key.addr.data(), key.data() + 4, 16);
  r.key.port = static_cast<std::uint16_t>(key[20] << 8 | key[21]);
  Reader rd(v);
  if (rd.u8() != kRowVersion) return std::nullopt;
  r.pkh = rd.array<20>();
  if (rd.u8() == 1) r.public_key = rd.array<33>();
  r.peer_version = rd.u32();
  r.services = rd.u16();
  r.expire_block_height = rd.u64();
  r.first_seen_s = static_cast<std::int64_t>(rd.u64());
  r.last_contact_s = static_cast<std::int64_t>(rd.u64());
  r.next_dial_s = static_cast<std::int64_t>(rd.u64());
  r.failures = rd.u32();
  r.initial = rd.u8() == 1;
  if (!rd.ok() || !rd.at_end()) return std::nullopt;
  return r;
}

Bytes encode_ban(const BanRecord& b) {
  Bytes out;
  {
  Writer w(out);
  w.u8(kBanVersion);
  std::uint64_t bits;
  std::memcpy(&bits, &b.score, 8);
  w.u64(bits);
  w.u64(static_cast<std::uint64_t>(b.score_at_s));
  w.u64(static_cast<std::uint64_t>(b.denied_until_s));
  w.u32(b.last_ban_s);
  w.u32(b.bans);
  }
  return out;
}

std::optional<BanRecord> decode_ban(ByteSpan v) {
  Reader rd(v);
  BanRecord b;
  if (rd.u8() != kBanVersion) return std::nullopt;
  std::uint64_t bits = rd.u64();
  std::memcpy(&b.score, &bits, 8);
  b.score_at_s = static_cast<std::int64_t>(rd.u64());
  b.denied_until_s = static_cast<std::int64_t>(rd.u64());
  b.last_ban_s = rd.u32();
  b.bans = rd.u32();
  if (!rd.ok() || !rd.at_end() || !std::isfinite(b.score) || b.score < 0) return std::nullopt;
  return b;
}

}  // namespace

struct Frontier::Db {
  MDB_env* env = nullptr;
  MDB_dbi peers = 0, bans = 0, meta = 0;
  ~Db() {
    if (env != nullptr) mdb_env_close(env);
  }
};

const char* Frontier::verdict_name(Verdict v) noexcept {
  switch (v) {
    case Verdict::kOk: return "ok";
    case Verdict::kDenied: return "denied by the deny list";
    case Verdict::kBanned: return "banned";
    case Verdict::kPrivate: return "private address (frontier.private_neighbors is off)";
    case Verdict::kUnroutable: return "unroutable address (link-local, shared, multicast or reserved)";
  }
  return "?";
}

Frontier::Frontier(FrontierOptions opts) : opts_(std::move(opts)), slots_(std::max<std::uint32_t>(opts_.max_peers, 1)) {
  std::random_device rd;
  rng_.seed((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
}

Frontier::~Frontier() { (void)flush(); }

Result<std::unique_ptr<Frontier>> Frontier::open(FrontierOptions opts) {
  std::unique_ptr<Frontier> f(new Frontier(std::move(opts)));
  if (!crypto::fill_random(f->nonce_.data(), f->nonce_.size())) return make_error(Errc::kIo, "no randomness for the table nonce");
  if (f->opts_.path.empty()) return f;
  if (::mkdir(f->opts_.path.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(Errc::kIo, "cannot create the peer table directory", static_cast<std::uint32_t>(errno));
  f->db_ = std::make_unique<Db>();
  Db& d = *f->db_;
  int rc = mdb_env_create(&d.env);
  if (rc == 0) rc = mdb_env_set_maxdbs(d.env, 4);
  if (rc == 0) rc = mdb_env_set_mapsize(d.env, std::size_t{256} << 20);
  if (rc == 0) rc = mdb_env_open(d.env, f->opts_.path.c_str(), MDB_NOTLS, 0600);
  if (rc != 0) return lmdb_error(rc);
  if (auto s = f->load(); !s.ok()) return s.error();
  return f;
}

Status Frontier::load() {
  Db& d = *db_;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(d.env, nullptr, 0, &txn);
  if (rc != 0) return lmdb_error(rc);
  rc = mdb_dbi_open(txn, "peers", MDB_CREATE, &d.peers);
  if (rc == 0) rc = mdb_dbi_open(txn, "bans", MDB_CREATE, &d.bans);
  if (rc == 0) rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &d.meta);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return lmdb_error(rc);
  }
  // The slot nonce is this relay's for good: rows keep their slots across restarts.
  MDB_val k = val(kNonceKey, sizeof kNonceKey - 1), v;
  if (mdb_get(txn, d.meta, &k, &v) == 0 && v.mv_size == nonce_.size()) {
    std::memcpy(nonce_.data(), v.mv_data, nonce_.size());
  } else {
    MDB_val nv = val(nonce_.data(), nonce_.size());
    if ((rc = mdb_put(txn, d.meta, &k, &nv, 0)) != 0) {
      mdb_txn_abort(txn);
      return lmdb_error(rc);
    }
  }
  std::vector<PeerRow> rows;
  MDB_cursor* cur = nullptr;
  if (mdb_cursor_open(txn, d.peers, &cur) == 0) {
    MDB_val ck, cv;
    for (int op = MDB_FIRST; mdb_cursor_get(cur, &ck, &cv, static_cast<MDB_cursor_op>(op)) == 0; op = MDB_NEXT) {
      auto r = decode_row(ByteSpan(static_cast<const std::uint8_t*>(ck.mv_data), ck.mv_size),
                          ByteSpan(static_cast<const std::uint8_t*>(cv.mv_data), cv.mv_size));
      if (r) rows.push_back(*r);
    }
    mdb_cursor_close(cur);
  }
  if (mdb_cursor_open(txn, d.bans, &cur) == 0) {
    MDB_val ck, cv;
    for (int op = MDB_FIRST; mdb_cursor_get(cur, &ck, &cv, static_cast<MDB_cursor_op>(op)) == 0; op = MDB_NEXT) {
      auto b = decode_ban(ByteSpan(static_cast<const std::uint8_t*>(cv.mv_data), cv.mv_size));
      if (!b || ck.mv_size != 16) continue;
      Addr16 a;
      std::memcpy(a.data(), ck.mv_data, 16);
      if (net::host_block(a) != a) continue;  // a record of one IPv6 address (before bans keyed on /64s)
      bans_[a] = *b;
    }
    mdb_cursor_close(cur);
  }
  if ((rc = mdb_txn_commit(txn)) != 0) return lmdb_error(rc);
  // Rows go back to their slots (recomputed: max_peers may have changed). Bootstrap and
  // freshest rows first, so a smaller table keeps the best.
  std::sort(rows.begin(), rows.end(), [](const PeerRow& a, const PeerRow& b) {
    if (a.initial != b.initial) return a.initial;
    return a.last_contact_s > b.last_contact_s;
  });
  for (auto& r : rows) {
    const PeerKey key = r.key;
    if (place(std::move(r), 0) == nullptr) removed_.insert(key);
  }
  dirty_.clear();
  return Ok{};
}

std::uint32_t Frontier::candidate_slot(const PeerKey& k, unsigned i) const {
  std::uint8_t buf[32 + 1 + 16 + 2 + 4];
  std::memcpy(buf, nonce_.data(), 32);
  buf[32] = static_cast<std::uint8_t>(i);
  std::memcpy(buf + 33, k.addr.data(), 16);
  buf[49] = static_cast<std::uint8_t>(k.port);
  buf[50] = static_cast<std::uint8_t>(k.port >> 8);
  store_be32(buf + 51, k.network_id);
  const codec::Hash32 h = crypto::sha512_256(ByteSpan(buf, sizeof buf));
  return load_be32(h.data()) % static_cast<std::uint32_t>(slots_.size());
}

bool Frontier::evictable(const PeerRow& r, std::int64_t now_s) const {
  if (r.initial) return false;
  if (r.last_contact_s == 0) return r.failures > 0 || now_s - r.first_seen_s > opts_.max_neighbor_age_s;
  return !fresh(r, now_s);
}

// place: put `row` in a free candidate slot, or displace the stalest evictable
// incumbent. nullptr when every candidate holds a live peer.
PeerRow* Frontier::place(PeerRow row, std::int64_t now_s) {
  std::optional<std::uint32_t> free_slot, victim;
  for (unsigned i = 0; i < kCandidateSlots; ++i) {
    const std::uint32_t s = candidate_slot(row.key, i);
    if (!slots_[s]) {
      free_slot = s;
      break;
    }
    if (evictable(*slots_[s], now_s) &&
        (!victim || slots_[s]->last_contact_s < slots_[*victim]->last_contact_s))
      victim = s;
  }
  std::uint32_t s;
  if (free_slot) {
    s = *free_slot;
  } else if (victim) {
    s = *victim;
    remove(slots_[s]->key);
    ++stats_.evicted;
  } else {
    return nullptr;
  }
  row.slot = s;
  index_[row.key] = s;
  removed_.erase(row.key);
  touch(row.key);
  slots_[s] = std::move(row);
  return &*slots_[s];
}

void Frontier::remove(const PeerKey& k) {
  auto it = index_.find(k);
  if (it == index_.end()) return;
  slots_[it->second].reset();
  index_.erase(it);
  dirty_.erase(k);
  removed_.insert(k);
}

const PeerRow* Frontier::find(const PeerKey& k) const {
  auto it = index_.find(k);
  return it == index_.end() ? nullptr : &*slots_[it->second];
}

std::vector<PeerRow> Frontier::rows() const {
  std::vector<PeerRow> out;
  out.reserve(index_.size());
  for (const auto& [k, s] : index_) out.push_back(*slots_[s]);
  return out;
}

Frontier::Verdict Frontier::judge(const Addr16& a, std::int64_t now_s, bool configured) const {
  if (net::any_contains(opts_.deny, a)) return Verdict::kDenied;
  if (allowed(a)) return Verdict::kOk;
  if (banned_until(a, now_s)) return Verdict::kBanned;
  if (!configured && !opts_.private_neighbors && net::is_private(a)) return Verdict::kPrivate;
  if (!configured && net::is_unroutable(a)) return Verdict::kUnroutable;
  return Verdict::kOk;
}

Frontier::Learn Frontier::learn(const PeerKey& k, const codec::Hash20& pkh, std::int64_t now_s, bool initial) {
  if (k.port == 0 || net::is_unspecified(k.addr) || k.network_id != opts_.network_id) return Learn::kRefused;
  if (auto it = index_.find(k); it != index_.end()) {
    PeerRow& r = *slots_[it->second];
    if (initial && !r.initial) {
      r.initial = true;
      touch(k);
    }
    // A row we never reached takes the newest key hash we are told; one we reached keeps
    // the key it proved.
    if (!r.public_key && r.pkh != pkh) {
      r.pkh = pkh;
      touch(k);
    }
    return Learn::kKnown;
  }
  if (judge(k.addr, now_s, initial) != Verdict::kOk) return Learn::kRefused;
  PeerRow r;
  r.key = k;
  r.pkh = pkh;
  r.first_seen_s = now_s;
  r.initial = initial;
  if (place(std::move(r), now_s) == nullptr) {
    ++stats_.table_full;
    return Learn::kFull;
  }
  ++stats_.learned;
  return Learn::kAdded;
}

void Frontier::contacted(const PeerKey& k, const codec::PubKey33& key, std::uint32_t peer_version,
                         std::uint16_t services, std::uint64_t expire_block_height, std::int64_t now_s) {
  const codec::Hash20 pkh = crypto::hash160(ByteSpan(key.data(), key.size()));
  PeerRow* r = nullptr;
  if (auto it = index_.find(k); it != index_.end()) {
    r = &*slots_[it->second];
  } else {
    PeerRow row;
    row.key = k;
    row.first_seen_s = now_s;
    r = place(std::move(row), now_s);
    if (r == nullptr) {
      ++stats_.table_full;
      return;
    }
    ++stats_.learned;
  }
  r->pkh = pkh;
  r->public_key = key;
  r->peer_version = peer_version;
  r->services = services;
  r->expire_block_height = expire_block_height;
  r->last_contact_s = now_s;
  r->failures = 0;
  r->next_dial_s = 0;
  touch(k);
}

void Frontier::dial_failed(const PeerKey& k, std::int64_t now_s) {
  auto it = index_.find(k);
  if (it == index_.end()) return;
  PeerRow& r = *slots_[it->second];
  ++r.failures;
  if (!r.initial && r.failures >= kForgetAfterFailures && !fresh(r, now_s)) return remove(k);
  const std::int64_t wait = std::min<std::int64_t>(kRetryMaxS, kRetryBaseS << std::min<std::uint32_t>(r.failures - 1, 10));
  r.next_dial_s = now_s + wait;
  touch(k);
}

std::vector<codec::NeighborAddress> Frontier::sample(std::size_t n, std::int64_t now_s, std::uint64_t burn_height,
                                                     std::uint8_t min_epoch) {
  std::vector<codec::NeighborAddress> out;
  for (const auto& [k, s] : index_) {
    const PeerRow& r = *slots_[s];
    if (k.network_id != opts_.network_id || !fresh(r, now_s) || !r.public_key) continue;
    if (r.expire_block_height <= burn_height || (r.peer_version & 0xff) < min_epoch) continue;
    if (net::any_contains(opts_.deny, k.addr) || banned_until(k.addr, now_s)) continue;
    if ((!opts_.private_neighbors && net::is_private(k.addr)) || (!r.initial && net::is_unroutable(k.addr))) continue;
    out.push_back(codec::NeighborAddress{k.addr, k.port, r.pkh});
  }
  std::shuffle(out.begin(), out.end(), rng_);
  if (out.size() > n) out.resize(n);
  return out;
}

double Frontier::decayed(const BanRecord& b, std::int64_t now_s) const {
  if (now_s <= b.score_at_s) return b.score;
  return b.score * std::exp2(-static_cast<double>(now_s - b.score_at_s) / kScoreHalfLifeS);
}

bool Frontier::misbehaved(const Addr16& addr, std::uint32_t points, std::int64_t now_s) {
  if (allowed(addr)) {
    ++stats_.ban_exempt;
    return false;
  }
  for (const auto& [k, s] : index_)  // bootstrap peers are never banned (as a node's always-allowed)
    if (k.addr == addr && slots_[s]->initial) {
      ++stats_.ban_exempt;
      return false;
    }
  const Addr16 a = net::host_block(addr);  // bans cover the sender's /64 (IPv6)
  if (bans_.size() >= kMaxBanRecords && bans_.find(a) == bans_.end()) {
    // Make room: forget records that no longer matter (no ban in force, score faded).
    for (auto it = bans_.begin(); it != bans_.end();) {
      if (it->second.denied_until_s <= now_s && decayed(it->second, now_s) < 1.0) {
        bans_removed_.insert(it->first);
        bans_dirty_.erase(it->first);
        it = bans_.erase(it);
      } else {
        ++it;
      }
    }
    if (bans_.size() >= kMaxBanRecords) return false;
  }
  BanRecord& b = bans_[a];
  bans_removed_.erase(a);
  bans_dirty_.insert(a);
  b.score = decayed(b, now_s) + points;
  b.score_at_s = now_s;
  if (b.score < kBanThreshold || b.denied_until_s > now_s) return false;
  // Repeat offenders within a day of their last ban get twice as long, up to the cap.
  const bool repeat = b.last_ban_s != 0 && now_s - b.denied_until_s < static_cast<std::int64_t>(opts_.ban_max_s);
  const std::uint64_t d = repeat ? std::uint64_t{b.last_ban_s} * 2 : opts_.ban_base_s;
  b.last_ban_s = static_cast<std::uint32_t>(std::min<std::uint64_t>(d, opts_.ban_max_s));
  b.denied_until_s = now_s + b.last_ban_s;
  b.score = 0;
  ++b.bans;
  ++stats_.bans;
  return true;
}

std::optional<std::int64_t> Frontier::banned_until(const Addr16& a, std::int64_t now_s) const {
  auto it = bans_.find(net::host_block(a));
  if (it == bans_.end() || it->second.denied_until_s <= now_s) return std::nullopt;
  return it->second.denied_until_s;
}

std::size_t Frontier::bans_in_force(std::int64_t now_s) const {
  std::size_t n = 0;
  for (const auto& [a, b] : bans_) n += b.denied_until_s > now_s;
  return n;
}

Status Frontier::flush() {
  if (!db_ || (dirty_.empty() && removed_.empty() && bans_dirty_.empty() && bans_removed_.empty())) return Ok{};
  Db& d = *db_;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(d.env, nullptr, 0, &txn);
  auto fail = [&](int code) -> Status {
    if (txn != nullptr) mdb_txn_abort(txn);
    ++stats_.flush_errors;
    return lmdb_error(code);
  };
  if (rc != 0) return fail(rc);
  for (const auto& k : removed_) {
    auto kb = row_key(k);
    MDB_val mk = val(kb.data(), kb.size());
    if ((rc = mdb_del(txn, d.peers, &mk, nullptr)) != 0 && rc != MDB_NOTFOUND) return fail(rc);
  }
  for (const auto& k : dirty_) {
    const PeerRow* r = find(k);
    if (r == nullptr) continue;
    auto kb = row_key(k);
    Bytes vb = encode_row(*r);
    MDB_val mk = val(kb.data(), kb.size()), mv = val(vb.data(), vb.size());
    if ((rc = mdb_put(txn, d.peers, &mk, &mv, 0)) != 0) return fail(rc);
  }
  for (const auto& a : bans_removed_) {
    MDB_val mk = val(a.data(), a.size());
    if ((rc = mdb_del(txn, d.bans, &mk, nullptr)) != 0 && rc != MDB_NOTFOUND) return fail(rc);
  }
  for (const auto& a : bans_dirty_) {
    auto it = bans_.find(a);
    if (it == bans_.end()) continue;
    Bytes vb = encode_ban(it->second);
    MDB_val mk = val(a.data(), a.size()), mv = val(vb.data(), vb.size());
    if ((rc = mdb_put(txn, d.bans, &mk, &mv, 0)) != 0) return fail(rc);
  }
  rc = mdb_txn_commit(txn);
  txn = nullptr;
  if (rc != 0) return fail(rc);
  dirty_.clear();
  removed_.clear();
  bans_dirty_.clear();
  bans_removed_.clear();
  return Ok{};
}

std::uint8_t network_epoch_at(std::uint32_t network_id, std::uint64_t burn_height) noexcept {
  if (network_id != 1) return 0;
  struct E {
    std::uint64_t height;
    std::uint8_t epoch;
  };
  static constexpr E kMainnet[] = {{960230, 0x10}, {943333, 0x0f}, {923222, 0x0e}, {907740, 0x0d}, {875000, 0x0c}, {867867, 0x0b}};
  for (const auto& e : kMainnet)
    if (burn_height >= e.height) return e.epoch;
  return 0;
}

}  // namespace relay::frontier
