#include "control/gaia/outbox.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "control/store/lmdb_support.hpp"
#include "control/store/routes.hpp"
#include "relay/base/hex.hpp"

namespace relay::gaia {

namespace lmdb = store::lmdb;

namespace {

constexpr char kStateKey[] = "state";

// The outbox's state, one record in `meta`: the counters of OutboxTotals and the next
// file seq (u64 BE each).
struct State {
  OutboxTotals t;
  std::uint64_t next_seq = 1;
};

State read_state(MDB_txn* txn, MDB_dbi meta) {
  State s;
  MDB_val k = lmdb::val(kStateKey, sizeof kStateKey - 1), v;
  if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 56) {
    const auto* p = static_cast<const std::uint8_t*>(v.mv_data);
    s.t.files = lmdb::get_u64(p);
    s.t.bytes = lmdb::get_u64(p + 8);
    s.t.store_cursor = lmdb::get_u64(p + 16);
    s.t.queued = lmdb::get_u64(p + 24);
    s.t.missed = lmdb::get_u64(p + 32);
    s.t.skipped = lmdb::get_u64(p + 40);
    s.next_seq = lmdb::get_u64(p + 48);
  }
  return s;
}

int write_state(MDB_txn* txn, MDB_dbi meta, const State& s) {
  std::uint8_t b[56];
  lmdb::put_u64(b, s.t.files);
  lmdb::put_u64(b + 8, s.t.bytes);
  lmdb::put_u64(b + 16, s.t.store_cursor);
  lmdb::put_u64(b + 24, s.t.queued);
  lmdb::put_u64(b + 32, s.t.missed);
  lmdb::put_u64(b + 40, s.t.skipped);
  lmdb::put_u64(b + 48, s.next_seq);
  MDB_val k = lmdb::val(kStateKey, sizeof kStateKey - 1), v = lmdb::val(b, sizeof b);
  return mdb_put(txn, meta, &k, &v, 0);
}

// A file's record: path length (u16 BE), path, bytes.
struct Pending {
  std::string path;
  std::string text;  // bytes built here (a stream) ...
  ByteSpan view;     // ... or a view into the store's snapshot
  ByteSpan bytes() const {
    return text.empty() ? view : ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  }
};

// files_for: what the node's routes serve for the stored block `b` (id `id`).
std::vector<Pending> files_for(const store::BlockStore::Snapshot& snap, const store::Hash32& id,
                               const store::BlockStore::Snapshot::Block& b, const std::string& prefix, bool& skipped) {
  std::vector<Pending> out;
  skipped = false;
  switch (b.meta.kind) {
    case store::BlockKind::kNakamoto:
      out.push_back({prefix + "v3/blocks/" + to_hex(id), {}, b.bytes});
      break;
    case store::BlockKind::kStacks: {
      out.push_back({prefix + "v2/blocks/" + to_hex(id), {}, b.bytes});
      const auto ct = store::confirmed_tail(b.bytes);
      if (ct && ct->microblock != store::Hash32{}) {
        auto tail = snap.get(ct->microblock);
        if (tail && tail->meta.kind == store::BlockKind::kMicroblock && tail->meta.height == ct->seq)
          if (auto s = store::microblock_stream(snap, *tail))
            out.push_back({prefix + "v2/microblocks/confirmed/" + to_hex(id), std::move(*s), {}});
      }
      break;
    }
    case store::BlockKind::kMicroblock: {
      auto s = b.meta.consensus_hash == store::Hash20{} ? std::nullopt : store::microblock_stream(snap, b);
      if (!s) {
        skipped = true;
        break;
      }
      const auto alias = store::microblock_index_hash(id, b.meta.consensus_hash);
      out.push_back({prefix + "v2/microblocks/" + to_hex(alias), std::move(*s), {}});
      break;
    }
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Outbox>> Outbox::open(const std::string& dir, std::uint64_t max_bytes) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(Errc::kIo, "cannot create the outbox directory", static_cast<std::uint32_t>(errno));
  std::unique_ptr<Outbox> o(new Outbox());
  o->max_bytes_ = max_bytes;
  int rc = mdb_env_create(&o->env_);
  if (rc != 0) return lmdb::error(rc);
  mdb_env_set_maxdbs(o->env_, 4);
  // Room for a full outbox, the largest file past the limit, and LMDB's overhead.
  const std::uint64_t map = max_bytes * 2 + (std::uint64_t{64} << 20);
  if ((rc = mdb_env_set_mapsize(o->env_, static_cast<std::size_t>(map))) != 0) return lmdb::error(rc);
  if ((rc = mdb_env_open(o->env_, dir.c_str(), MDB_NOTLS, 0600)) != 0) return lmdb::error(rc);
  lmdb::TxnGuard g;
  if ((rc = mdb_txn_begin(o->env_, nullptr, 0, &g.txn)) != 0) return lmdb::error(rc);
  MDB_dbi dbi;
  if ((rc = mdb_dbi_open(g.txn, "files", MDB_CREATE, &dbi)) != 0) return lmdb::error(rc);
  o->files_ = dbi;
  if ((rc = mdb_dbi_open(g.txn, "meta", MDB_CREATE, &dbi)) != 0) return lmdb::error(rc);
  o->meta_ = dbi;
  if ((rc = g.commit()) != 0) return lmdb::error(rc);
  return o;
}

Outbox::~Outbox() {
  if (env_ != nullptr) mdb_env_close(env_);
}

Result<FillResult> Outbox::fill(const store::BlockStore& st, const std::string& prefix, std::size_t max_blocks) {
  FillResult r;
  auto snap = st.snapshot();
  if (!snap.ok()) return snap.error();
  lmdb::TxnGuard g;
  int rc = mdb_txn_begin(env_, nullptr, 0, &g.txn);
  if (rc != 0) return lmdb::error(rc);
  State s = read_state(g.txn, meta_);
  // A store newer than the outbox (its disk lost and the store made again): its seqs
  // start over, so the cursor does too (what the hub has already is answered 412).
  if (s.t.store_cursor > st.totals().next_seq) {
    s.t.store_cursor = 0;
    r.store_replaced = true;
  }
  if (s.t.store_cursor == 0) {  // a new outbox: from the log's oldest entry on
    const auto first = snap->log_from(0, 1);
    s.t.store_cursor = first.empty() ? st.totals().next_seq : first.front().seq;
    if (s.t.store_cursor == 0) s.t.store_cursor = 1;
  }
  for (const auto& e : snap->log_from(s.t.store_cursor, max_blocks)) {
    auto b = snap->get(e.id);
    bool skipped = false;
    auto files = b ? files_for(*snap, e.id, *b, prefix, skipped) : std::vector<Pending>{};
    std::uint64_t add = 0;
    for (const auto& f : files) add += f.bytes().size();
    // Over the limit: wait (one file always fits an empty outbox, however large).
    if (s.t.files > 0 && s.t.bytes + add > max_bytes_) {
      r.full = true;
      break;
    }
    s.t.missed += e.seq - s.t.store_cursor;  // the log's gap: evicted before we took them
    for (const auto& f : files) {
      const ByteSpan body = f.bytes();
      std::uint8_t key[8];
      lmdb::put_u64(key, s.next_seq);
      MDB_val k = lmdb::val(key, sizeof key), v;
      v.mv_size = 2 + f.path.size() + body.size();
      if ((rc = mdb_put(g.txn, files_, &k, &v, MDB_RESERVE | MDB_APPEND)) != 0) return lmdb::error(rc);
      auto* p = static_cast<std::uint8_t*>(v.mv_data);
      p[0] = static_cast<std::uint8_t>(f.path.size() >> 8);
      p[1] = static_cast<std::uint8_t>(f.path.size());
      std::memcpy(p + 2, f.path.data(), f.path.size());
      if (!body.empty()) std::memcpy(p + 2 + f.path.size(), body.data(), body.size());
      s.next_seq += 1;
      s.t.files += 1;
      s.t.bytes += body.size();
      s.t.queued += 1;
      r.files += 1;
    }
    if (skipped) s.t.skipped += 1;
    s.t.store_cursor = e.seq + 1;
    r.blocks += 1;
  }
  if (r.blocks == 0 && !r.store_replaced) return r;  // nothing new: no write
  if ((rc = write_state(g.txn, meta_, s)) != 0) return lmdb::error(rc);
  if ((rc = g.commit()) != 0) return lmdb::error(rc);
  return r;
}

std::vector<OutboxFile> Outbox::front(std::size_t max) const {
  std::vector<OutboxFile> out;
  MDB_txn* txn = nullptr;
  if (max == 0 || mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) != 0) return out;
  MDB_cursor* cur = nullptr;
  if (mdb_cursor_open(txn, files_, &cur) == 0) {
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && out.size() < max; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      const auto* p = static_cast<const std::uint8_t*>(v.mv_data);
      if (k.mv_size != 8 || v.mv_size < 2) continue;
      const std::size_t plen = std::size_t{p[0]} << 8 | p[1];
      if (v.mv_size < 2 + plen) continue;
      OutboxFile f;
      f.seq = lmdb::get_u64(static_cast<const std::uint8_t*>(k.mv_data));
      f.path.assign(reinterpret_cast<const char*>(p + 2), plen);
      f.bytes.assign(p + 2 + plen, p + v.mv_size);
      out.push_back(std::move(f));
    }
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(txn);
  return out;
}

Status Outbox::remove(std::uint64_t seq) {
  lmdb::TxnGuard g;
  int rc = mdb_txn_begin(env_, nullptr, 0, &g.txn);
  if (rc != 0) return lmdb::error(rc);
  std::uint8_t key[8];
  lmdb::put_u64(key, seq);
  MDB_val k = lmdb::val(key, sizeof key), v;
  if ((rc = mdb_get(g.txn, files_, &k, &v)) == MDB_NOTFOUND) return Ok{};
  if (rc != 0) return lmdb::error(rc);
  const std::size_t plen = v.mv_size >= 2 ? (std::size_t{static_cast<const std::uint8_t*>(v.mv_data)[0]} << 8 |
                                             static_cast<const std::uint8_t*>(v.mv_data)[1])
                                          : 0;
  const std::uint64_t n = v.mv_size >= 2 + plen ? v.mv_size - 2 - plen : 0;
  if ((rc = mdb_del(g.txn, files_, &k, nullptr)) != 0) return lmdb::error(rc);
  State s = read_state(g.txn, meta_);
  s.t.files -= std::min<std::uint64_t>(s.t.files, 1);
  s.t.bytes -= std::min(s.t.bytes, n);
  if ((rc = write_state(g.txn, meta_, s)) != 0) return lmdb::error(rc);
  if ((rc = g.commit()) != 0) return lmdb::error(rc);
  return Ok{};
}

OutboxTotals Outbox::totals() const {
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) != 0) return {};
  const State s = read_state(txn, meta_);
  mdb_txn_abort(txn);
  return s.t;
}

}  // namespace relay::gaia
