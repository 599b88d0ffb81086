#include "control/store/block_store.hpp"

#include <lmdb.h>
#include <sys/stat.h>

#include <cerrno>
#include <array>
#include <cstring>

#include "control/store/lmdb_support.hpp"
#include "relay/crypto/hash.hpp"

namespace relay::store {

namespace {

// Entry headers: version 1 (80 bytes) as the first release wrote them; version 2 adds the
// microblock anchor. Both are read.
constexpr std::size_t kEntryHeaderV1 = 80;
constexpr std::size_t kEntryHeaderSize = 112;
constexpr std::uint8_t kEntryVersion = 2;
constexpr char kTotalsKey[] = "totals";

Error lmdb_error(int rc, const char*) { return lmdb::error(rc); }
using lmdb::get_u64;
using lmdb::put_u64;
using lmdb::TxnGuard;
using lmdb::val;

// Entry header: version, kind, 2 reserved, size (u32 BE), seq, height (u64 BE),
// consensus hash, parent, 4 reserved; version 2: anchor, 4 reserved.
void encode_header(std::uint8_t* p, const BlockMeta& m) {
  std::memset(p, 0, kEntryHeaderSize);
  p[0] = kEntryVersion;
  p[1] = static_cast<std::uint8_t>(m.kind);
  store_be32(p + 4, m.size);
  put_u64(p + 8, m.seq);
  put_u64(p + 16, m.height);
  std::memcpy(p + 24, m.consensus_hash.data(), 20);
  std::memcpy(p + 44, m.parent.data(), 32);
  std::memcpy(p + 80, m.anchor.data(), 32);
}

// decode_header: the entry's metadata and where its block bytes start.
std::optional<std::pair<BlockMeta, std::size_t>> decode_header(const std::uint8_t* p, std::size_t n) {
  if (n < kEntryHeaderV1 || (p[0] != 1 && p[0] != kEntryVersion)) return std::nullopt;
  const std::size_t hdr = p[0] == 1 ? kEntryHeaderV1 : kEntryHeaderSize;
  if (n < hdr) return std::nullopt;
  BlockMeta m;
  m.kind = static_cast<BlockKind>(p[1]);
  m.size = load_be32(p + 4);
  m.seq = get_u64(p + 8);
  m.height = get_u64(p + 16);
  std::memcpy(m.consensus_hash.data(), p + 24, 20);
  std::memcpy(m.parent.data(), p + 44, 32);
  if (hdr == kEntryHeaderSize) std::memcpy(m.anchor.data(), p + 80, 32);
  if (hdr + m.size != n) return std::nullopt;
  return std::make_pair(m, hdr);
}

// Index keys of a microblock: its place in its stream, and its index hash.
std::array<std::uint8_t, 35> stream_key(const Hash32& anchor, std::uint64_t seq) {
  std::array<std::uint8_t, 35> k{};
  k[0] = 'S';
  std::memcpy(k.data() + 1, anchor.data(), 32);
  k[33] = static_cast<std::uint8_t>(seq >> 8);
  k[34] = static_cast<std::uint8_t>(seq);
  return k;
}
std::array<std::uint8_t, 33> alias_key(const Hash32& alias) {
  std::array<std::uint8_t, 33> k{};
  k[0] = 'A';
  std::memcpy(k.data() + 1, alias.data(), 32);
  return k;
}
bool indexed(const BlockMeta& m) { return m.kind == BlockKind::kMicroblock && m.height <= 0xffff; }

struct Totals {
  std::uint64_t blocks = 0, bytes = 0, evicted = 0, next_seq = 1;
};

Totals read_totals(MDB_txn* txn, MDB_dbi meta) {
  Totals t;
  MDB_val k = val(kTotalsKey, sizeof kTotalsKey - 1), v;
  if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 32) {
    const auto* p = static_cast<const std::uint8_t*>(v.mv_data);
    t.blocks = get_u64(p);
    t.bytes = get_u64(p + 8);
    t.evicted = get_u64(p + 16);
    t.next_seq = get_u64(p + 24);
  }
  return t;
}

int write_totals(MDB_txn* txn, MDB_dbi meta, const Totals& t) {
  std::uint8_t b[32];
  put_u64(b, t.blocks);
  put_u64(b + 8, t.bytes);
  put_u64(b + 16, t.evicted);
  put_u64(b + 24, t.next_seq);
  MDB_val k = val(kTotalsKey, sizeof kTotalsKey - 1), v = val(b, sizeof b);
  return mdb_put(txn, meta, &k, &v, 0);
}

}  // namespace

Hash32 microblock_index_hash(const Hash32& microblock_hash, const Hash20& anchor_consensus_hash) {
  std::uint8_t buf[52];
  std::memcpy(buf, microblock_hash.data(), 32);
  std::memcpy(buf + 32, anchor_consensus_hash.data(), 20);
  return crypto::sha512_256(ByteSpan(buf, sizeof buf));
}

const char* kind_name(BlockKind k) noexcept {
  switch (k) {
    case BlockKind::kNakamoto: return "nakamoto";
    case BlockKind::kStacks: return "stacks";
    case BlockKind::kMicroblock: return "microblock";
  }
  return "unknown";
}

Result<std::unique_ptr<BlockStore>> BlockStore::open(const std::string& dir, const StoreLimits& limits) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(Errc::kIo, "cannot create the block store directory", static_cast<std::uint32_t>(errno));
  std::unique_ptr<BlockStore> s(new BlockStore());
  s->dir_ = dir;
  s->limits_ = limits;
  int rc = mdb_env_create(&s->env_);
  if (rc != 0) return lmdb_error(rc, "mdb_env_create");
  mdb_env_set_maxdbs(s->env_, 8);
  // A reader slot per open snapshot: every HTTP client may be streaming a block
  // (http.max_clients ≤ 4096), plus the control thread.
  mdb_env_set_maxreaders(s->env_, 4096 + 64);
  // Room for the bytes kept plus LMDB's overhead (page rounding of large values, the
  // B-trees, free pages awaiting reuse by old readers), never below 64 MiB.
  const std::uint64_t map = std::max<std::uint64_t>(limits.max_bytes * 2 + (std::uint64_t{64} << 20), std::uint64_t{64} << 20);
  if ((rc = mdb_env_set_mapsize(s->env_, static_cast<std::size_t>(map))) != 0) return lmdb_error(rc, "mapsize");
  // MDB_NOTLS: read snapshots are not tied to a thread (the HTTP server's workers).
  if ((rc = mdb_env_open(s->env_, dir.c_str(), MDB_NOTLS, 0600)) != 0) return lmdb_error(rc, "mdb_env_open");
  TxnGuard g;
  if ((rc = mdb_txn_begin(s->env_, nullptr, 0, &g.txn)) != 0) return lmdb_error(rc, "txn");
  MDB_dbi dbi;
  if ((rc = mdb_dbi_open(g.txn, "blocks", MDB_CREATE, &dbi)) != 0) return lmdb_error(rc, "blocks");
  s->blocks_ = dbi;
  if ((rc = mdb_dbi_open(g.txn, "order", MDB_CREATE, &dbi)) != 0) return lmdb_error(rc, "order");
  s->order_ = dbi;
  if ((rc = mdb_dbi_open(g.txn, "meta", MDB_CREATE, &dbi)) != 0) return lmdb_error(rc, "meta");
  s->meta_ = dbi;
  if ((rc = mdb_dbi_open(g.txn, "index", MDB_CREATE, &dbi)) != 0) return lmdb_error(rc, "index");
  s->index_ = dbi;
  if ((rc = g.commit()) != 0) return lmdb_error(rc, "commit");
  return s;
}

BlockStore::~BlockStore() {
  if (env_ != nullptr) mdb_env_close(env_);
}

// unindex: drop a microblock's index entries, where they still point at it.
void BlockStore::unindex(void* txnp, const Hash32& id, const BlockMeta& m) {
  auto* txn = static_cast<MDB_txn*>(txnp);
  auto drop_if_ours = [&](ByteSpan key) {
    MDB_val kv = val(key.data(), key.size()), v;
    if (mdb_get(txn, index_, &kv, &v) == 0 && v.mv_size == 32 && std::memcmp(v.mv_data, id.data(), 32) == 0)
      mdb_del(txn, index_, &kv, nullptr);
  };
  auto sk = stream_key(m.anchor, m.height);
  drop_if_ours(ByteSpan(sk.data(), sk.size()));
  if (m.consensus_hash != Hash20{}) {
    auto ak = alias_key(microblock_index_hash(id, m.consensus_hash));
    drop_if_ours(ByteSpan(ak.data(), ak.size()));
  }
}

// Evicts the oldest blocks until one of `incoming_bytes` more fits both limits.
Status BlockStore::evict_until_within(void* txnp, std::uint64_t incoming_bytes) {
  auto* txn = static_cast<MDB_txn*>(txnp);
  Totals t = read_totals(txn, meta_);
  MDB_cursor* cur = nullptr;
  int rc = mdb_cursor_open(txn, order_, &cur);
  if (rc != 0) return lmdb_error(rc, "cursor");
  while (t.blocks > 0 && (t.blocks + 1 > limits_.max_blocks || t.bytes + incoming_bytes > limits_.max_bytes)) {
    MDB_val k, v;
    if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) != 0) break;  // MDB_NOTFOUND: nothing left
    if (v.mv_size == 32) {
      Hash32 id;  // copied: values in the map are valid only until the next write
      std::memcpy(id.data(), v.mv_data, 32);
      MDB_val bk = val(id.data(), id.size()), bv;
      if (mdb_get(txn, blocks_, &bk, &bv) == 0) {
        auto hm = decode_header(static_cast<const std::uint8_t*>(bv.mv_data), bv.mv_size);
        const std::uint64_t n = hm ? hm->first.size : 0;
        if (hm && indexed(hm->first)) unindex(txn, id, hm->first);  // its index entries go with it
        if ((rc = mdb_del(txn, blocks_, &bk, nullptr)) != 0) break;
        t.bytes -= std::min(t.bytes, n);
        t.blocks -= 1;
        t.evicted += 1;
      }
    }
    if ((rc = mdb_cursor_del(cur, 0)) != 0) break;
  }
  mdb_cursor_close(cur);
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error(rc, "evict");
  if ((rc = write_totals(txn, meta_, t)) != 0) return lmdb_error(rc, "totals");
  return Ok{};
}

Result<bool> BlockStore::put(const Hash32& id, const BlockMeta& meta_in, ByteSpan bytes) {
  if (bytes.size() > limits_.max_bytes || bytes.size() > UINT32_MAX)
    return make_error(Errc::kLimit, "block larger than the store's byte limit");
  TxnGuard g;
  int rc = mdb_txn_begin(env_, nullptr, 0, &g.txn);
  if (rc != 0) return lmdb_error(rc, "txn");
  MDB_val k = val(id.data(), id.size()), v;
  if ((rc = mdb_get(g.txn, blocks_, &k, &v)) == 0) return false;  // already stored
  if (rc != MDB_NOTFOUND) return lmdb_error(rc, "get");
  RELAY_TRY(evict_until_within(g.txn, bytes.size()));
  Totals t = read_totals(g.txn, meta_);
  BlockMeta m = meta_in;
  m.size = static_cast<std::uint32_t>(bytes.size());
  m.seq = t.next_seq++;
  // MDB_RESERVE: LMDB hands back the space; the entry is written once, in place.
  v.mv_size = kEntryHeaderSize + bytes.size();
  if ((rc = mdb_put(g.txn, blocks_, &k, &v, MDB_RESERVE)) != 0) return lmdb_error(rc, "put");
  auto* dst = static_cast<std::uint8_t*>(v.mv_data);
  encode_header(dst, m);
  if (!bytes.empty()) std::memcpy(dst + kEntryHeaderSize, bytes.data(), bytes.size());
  std::uint8_t seqk[8];
  put_u64(seqk, m.seq);
  MDB_val ok = val(seqk, sizeof seqk), ov = val(id.data(), id.size());
  if ((rc = mdb_put(g.txn, order_, &ok, &ov, MDB_APPEND)) != 0) return lmdb_error(rc, "order");
  if (indexed(m)) {
    // The first microblock at a stream position keeps it (a fork's sibling does not
    // displace it); the index hash is known only with the anchor's consensus hash.
    // (With MDB_NOOVERWRITE a taken key hands back the incumbent in the data argument:
    // each put gets its own.)
    auto sk = stream_key(m.anchor, m.height);
    MDB_val skv = val(sk.data(), sk.size()), sdv = val(id.data(), id.size());
    if ((rc = mdb_put(g.txn, index_, &skv, &sdv, MDB_NOOVERWRITE)) != 0 && rc != MDB_KEYEXIST) return lmdb_error(rc, "index");
    if (m.consensus_hash != Hash20{}) {
      auto ak = alias_key(microblock_index_hash(id, m.consensus_hash));
      MDB_val akv = val(ak.data(), ak.size()), adv = val(id.data(), id.size());
      if ((rc = mdb_put(g.txn, index_, &akv, &adv, MDB_NOOVERWRITE)) != 0 && rc != MDB_KEYEXIST) return lmdb_error(rc, "index");
    }
  }
  t.blocks += 1;
  t.bytes += bytes.size();
  if ((rc = write_totals(g.txn, meta_, t)) != 0) return lmdb_error(rc, "totals");
  if ((rc = g.commit()) != 0) return lmdb_error(rc, "commit");
  return true;
}

Result<BlockStore::Snapshot> BlockStore::snapshot() const {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return lmdb_error(rc, "read txn");
  return Snapshot(this, txn);
}

BlockStore::Snapshot::Snapshot(Snapshot&& o) noexcept : store_(o.store_), txn_(o.txn_) { o.txn_ = nullptr; }

BlockStore::Snapshot::~Snapshot() {
  if (txn_ != nullptr) mdb_txn_abort(static_cast<MDB_txn*>(txn_));
}

std::optional<BlockStore::Snapshot::Block> BlockStore::Snapshot::get(const Hash32& id) const {
  MDB_val k = val(id.data(), id.size()), v;
  if (mdb_get(static_cast<MDB_txn*>(txn_), store_->blocks_, &k, &v) != 0) return std::nullopt;
  const auto* p = static_cast<const std::uint8_t*>(v.mv_data);
  auto m = decode_header(p, v.mv_size);
  if (!m) return std::nullopt;  // not an entry this version wrote
  return Block{m->first, ByteSpan(p + m->second, m->first.size)};
}

std::optional<BlockStore::Snapshot::Block> BlockStore::Snapshot::by_alias(const Hash32& alias) const {
  auto k = alias_key(alias);
  MDB_val kv = val(k.data(), k.size()), v;
  if (mdb_get(static_cast<MDB_txn*>(txn_), store_->index_, &kv, &v) != 0 || v.mv_size != 32) return std::nullopt;
  Hash32 id;
  std::memcpy(id.data(), v.mv_data, 32);
  return get(id);
}

std::optional<BlockStore::Snapshot::Block> BlockStore::Snapshot::microblock_at(const Hash32& anchor, std::uint16_t seq) const {
  auto k = stream_key(anchor, seq);
  MDB_val kv = val(k.data(), k.size()), v;
  if (mdb_get(static_cast<MDB_txn*>(txn_), store_->index_, &kv, &v) != 0 || v.mv_size != 32) return std::nullopt;
  Hash32 id;
  std::memcpy(id.data(), v.mv_data, 32);
  return get(id);
}

std::vector<LogEntry> BlockStore::Snapshot::log_from(std::uint64_t seq, std::size_t max) const {
  std::vector<LogEntry> out;
  MDB_cursor* cur = nullptr;
  if (max == 0 || mdb_cursor_open(static_cast<MDB_txn*>(txn_), store_->order_, &cur) != 0) return out;
  std::uint8_t from[8];
  put_u64(from, seq);
  MDB_val k = val(from, sizeof from), v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && out.size() < max;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size != 8 || v.mv_size != 32) continue;
    LogEntry e;
    e.seq = get_u64(static_cast<const std::uint8_t*>(k.mv_data));
    std::memcpy(e.id.data(), v.mv_data, 32);
    out.push_back(e);
  }
  mdb_cursor_close(cur);
  return out;
}

StoreTotals BlockStore::totals() const {
  StoreTotals out;
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) != 0) return out;
  Totals t = read_totals(txn, meta_);
  mdb_txn_abort(txn);
  out.blocks = t.blocks;
  out.bytes = t.bytes;
  out.evicted = t.evicted;
  out.next_seq = t.next_seq;
  return out;
}

}  // namespace relay::store
