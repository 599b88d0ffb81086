// BlockStore (LMDB): blocks kept by id and served from the map; bounded by count and
// bytes with the oldest evicted; snapshots stable while writes go on; everything that
// put() reported survives a reopen and a kill -9 in the middle of writing.
#include "control/store/block_store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <lmdb.h>

#include "relay/crypto/hash.hpp"

namespace relay::store {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/stacks-relay-store-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { (void)std::system(("rm -rf " + path).c_str()); }
};

Hash32 id_of(std::uint32_t i) {
  Hash32 h{};
  store_be32(h.data(), i);
  h[31] = 0x5a;
  return h;
}

Bytes block_bytes(std::uint32_t i, std::size_t n) {
  Bytes b(n);
  for (std::size_t k = 0; k < n; ++k) b[k] = static_cast<std::uint8_t>(i * 31 + k);
  return b;
}

BlockMeta meta_of(std::uint32_t i) {
  BlockMeta m;
  m.kind = BlockKind::kNakamoto;
  m.height = 1000 + i;
  m.consensus_hash.fill(static_cast<std::uint8_t>(i / 10));
  m.parent = id_of(i - 1);
  return m;
}

TEST(BlockStore, StoresByIdOnceAndServesTheBytesWithTheirMetadata) {
  TempDir d;
  auto s = BlockStore::open(d.path + "/blocks", {}).value();
  EXPECT_TRUE(s->put(id_of(1), meta_of(1), block_bytes(1, 5000)).value());
  EXPECT_FALSE(s->put(id_of(1), meta_of(1), block_bytes(1, 5000)).value());  // already there
  EXPECT_TRUE(s->put(id_of(2), meta_of(2), block_bytes(2, 70000)).value());
  auto snap = s->snapshot().value();
  auto b = snap.get(id_of(2));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(Bytes(b->bytes.begin(), b->bytes.end()), block_bytes(2, 70000));
  EXPECT_EQ(b->meta.height, 1002u);
  EXPECT_EQ(b->meta.parent, id_of(1));
  EXPECT_EQ(b->meta.consensus_hash, meta_of(2).consensus_hash);
  EXPECT_EQ(b->meta.size, 70000u);
  EXPECT_LT(snap.get(id_of(1))->meta.seq, b->meta.seq);
  EXPECT_FALSE(snap.get(id_of(3)).has_value());
  EXPECT_EQ(s->totals().blocks, 2u);
  EXPECT_EQ(s->totals().bytes, 75000u);
}

// 2.x microblocks: found by stream position under their anchor and by index hash; the
// first at a position keeps it; evicted microblocks take their index entries with them.
TEST(BlockStore, MicroblocksAreIndexedByStreamPositionAndIndexHash) {
  TempDir d;
  auto s = BlockStore::open(d.path, StoreLimits{1 << 20, 4}).value();
  Hash32 anchor{};
  anchor.fill(0xa7);
  Hash20 ch{};
  ch.fill(0xc1);
  auto mb = [&](std::uint32_t i, std::uint16_t seq, bool known_ch = true) {
    BlockMeta m;
    m.kind = BlockKind::kMicroblock;
    m.height = seq;
    m.parent = id_of(i - 1);
    m.anchor = anchor;
    if (known_ch) m.consensus_hash = ch;
    return m;
  };
  ASSERT_TRUE(s->put(id_of(10), mb(10, 0), block_bytes(10, 300)).value());
  ASSERT_TRUE(s->put(id_of(11), mb(11, 1), block_bytes(11, 300)).value());
  ASSERT_TRUE(s->put(id_of(12), mb(12, 1), block_bytes(12, 300)).value());  // a sibling at seq 1
  ASSERT_TRUE(s->put(id_of(13), mb(13, 2, false), block_bytes(13, 300)).value());  // anchor's consensus hash unknown
  {
    auto snap = s->snapshot().value();
    EXPECT_EQ(snap.microblock_at(anchor, 0)->meta.seq, snap.get(id_of(10))->meta.seq);
    EXPECT_EQ(Bytes(snap.microblock_at(anchor, 1)->bytes.begin(), snap.microblock_at(anchor, 1)->bytes.end()),
              block_bytes(11, 300));  // the first kept its place
    EXPECT_TRUE(snap.microblock_at(anchor, 2));
    EXPECT_FALSE(snap.microblock_at(anchor, 3));
    Hash32 other = anchor;
    other[0] ^= 1;
    EXPECT_FALSE(snap.microblock_at(other, 0));
    auto by = snap.by_alias(microblock_index_hash(id_of(11), ch));
    ASSERT_TRUE(by);
    EXPECT_EQ(by->meta.height, 1u);
    EXPECT_TRUE(snap.by_alias(microblock_index_hash(id_of(12), ch)));  // the sibling by its own name
    EXPECT_FALSE(snap.by_alias(microblock_index_hash(id_of(13), ch)));
    EXPECT_FALSE(snap.by_alias(id_of(11)));
  }
  // Two more blocks: the two oldest microblocks are evicted, and their index entries.
  ASSERT_TRUE(s->put(id_of(20), meta_of(20), block_bytes(20, 100)).value());
  ASSERT_TRUE(s->put(id_of(21), meta_of(21), block_bytes(21, 100)).value());
  auto snap = s->snapshot().value();
  EXPECT_FALSE(snap.microblock_at(anchor, 0));
  EXPECT_FALSE(snap.microblock_at(anchor, 1));  // evicted 11 held it; the sibling never did
  EXPECT_FALSE(snap.by_alias(microblock_index_hash(id_of(10), ch)));
  EXPECT_FALSE(snap.by_alias(microblock_index_hash(id_of(11), ch)));
  EXPECT_TRUE(snap.get(id_of(12)));
  EXPECT_TRUE(snap.by_alias(microblock_index_hash(id_of(12), ch)));
  EXPECT_TRUE(snap.microblock_at(anchor, 2));
  // The index hash is H(microblock hash ‖ consensus hash), as a node computes it.
  const Hash32 eleven = id_of(11);
  Bytes pre(eleven.begin(), eleven.end());
  pre.insert(pre.end(), ch.begin(), ch.end());
  EXPECT_EQ(microblock_index_hash(eleven, ch), crypto::sha512_256(pre));
}

TEST(BlockStore, EvictsTheOldestBeyondItsLimits) {
  TempDir d;
  auto s = BlockStore::open(d.path, StoreLimits{100'000, 5}).value();
  for (std::uint32_t i = 1; i <= 8; ++i) ASSERT_TRUE(s->put(id_of(i), meta_of(i), block_bytes(i, 1000)).value());
  EXPECT_EQ(s->totals().blocks, 5u);  // the count limit
  EXPECT_EQ(s->totals().evicted, 3u);
  {
    auto snap = s->snapshot().value();
    for (std::uint32_t i = 1; i <= 3; ++i) EXPECT_FALSE(snap.get(id_of(i))) << i;
    for (std::uint32_t i = 4; i <= 8; ++i) EXPECT_TRUE(snap.get(id_of(i))) << i;
  }
  // The byte limit: a 60 kB block pushes out as many old ones as it needs.
  ASSERT_TRUE(s->put(id_of(9), meta_of(9), block_bytes(9, 60'000)).value());
  ASSERT_TRUE(s->put(id_of(10), meta_of(10), block_bytes(10, 45'000)).value());
  EXPECT_LE(s->totals().bytes, 100'000u);
  auto snap = s->snapshot().value();
  EXPECT_FALSE(snap.get(id_of(9)));  // 60 000 + 45 000 > 100 000: the older one went
  EXPECT_TRUE(snap.get(id_of(10)));
  // Larger than the whole store: refused, nothing evicted for it.
  const auto before = s->totals();
  EXPECT_FALSE(s->put(id_of(11), meta_of(11), block_bytes(11, 100'001)).ok());
  EXPECT_EQ(s->totals().blocks, before.blocks);
}

// The log a partner catches up from: every block in the order it was stored, from any
// point on, in pages; a block stored twice is one entry; evicted blocks leave it; seqs
// carry on across a reopen.
TEST(BlockStore, ItsLogListsWhatWasStoredInOrderFromAnyPoint) {
  TempDir d;
  StoreLimits lim;
  lim.max_blocks = 5;
  {
    auto s = BlockStore::open(d.path + "/blocks", lim).value();
    EXPECT_EQ(s->totals().next_seq, 1u);  // seqs count from 1
    for (std::uint32_t i = 1; i <= 3; ++i) ASSERT_TRUE(s->put(id_of(i), meta_of(i), block_bytes(i, 100)).value());
    EXPECT_FALSE(s->put(id_of(2), meta_of(2), block_bytes(2, 100)).value());
    auto snap = s->snapshot().value();
    auto all = snap.log_from(0, 100);
    ASSERT_EQ(all.size(), 3u);
    for (std::uint32_t i = 0; i < 3; ++i) {
      EXPECT_EQ(all[i].seq, i + 1);
      EXPECT_EQ(all[i].id, id_of(i + 1));
    }
    auto page = snap.log_from(2, 1);
    ASSERT_EQ(page.size(), 1u);
    EXPECT_EQ(page[0].id, id_of(2));
    EXPECT_TRUE(snap.log_from(4, 10).empty());
    EXPECT_EQ(s->totals().next_seq, 4u);
  }
  auto s = BlockStore::open(d.path + "/blocks", lim).value();
  for (std::uint32_t i = 4; i <= 7; ++i) ASSERT_TRUE(s->put(id_of(i), meta_of(i), block_bytes(i, 100)).value());
  auto snap = s->snapshot().value();
  auto all = snap.log_from(0, 100);  // 1 and 2 evicted (five kept)
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all.front().seq, 3u);
  EXPECT_EQ(all.front().id, id_of(3));
  EXPECT_EQ(all.back().seq, 7u);
  EXPECT_EQ(all.back().id, id_of(7));
  EXPECT_EQ(s->totals().next_seq, 8u);
}

TEST(BlockStore, SnapshotsStayValidWhileTheStoreMovesOn) {
  TempDir d;
  auto s = BlockStore::open(d.path, StoreLimits{1 << 20, 3}).value();
  ASSERT_TRUE(s->put(id_of(1), meta_of(1), block_bytes(1, 20000)).value());
  auto snap = s->snapshot().value();
  auto b = snap.get(id_of(1));
  ASSERT_TRUE(b);
  for (std::uint32_t i = 2; i <= 10; ++i) ASSERT_TRUE(s->put(id_of(i), meta_of(i), block_bytes(i, 20000)).value());
  EXPECT_FALSE(s->snapshot().value().get(id_of(1)));  // evicted for new readers…
  EXPECT_EQ(Bytes(b->bytes.begin(), b->bytes.end()), block_bytes(1, 20000));  // …intact for this one
  EXPECT_TRUE(snap.get(id_of(1)));
}

TEST(BlockStore, KeepsEverythingAcrossAReopen) {
  TempDir d;
  {
    auto s = BlockStore::open(d.path, {}).value();
    for (std::uint32_t i = 1; i <= 20; ++i) ASSERT_TRUE(s->put(id_of(i), meta_of(i), block_bytes(i, 3000 + i)).value());
  }
  {
    auto s = BlockStore::open(d.path, {}).value();
    EXPECT_EQ(s->totals().blocks, 20u);
    auto snap = s->snapshot().value();
    for (std::uint32_t i = 1; i <= 20; ++i) {
      auto b = snap.get(id_of(i));
      ASSERT_TRUE(b) << i;
      EXPECT_EQ(Bytes(b->bytes.begin(), b->bytes.end()), block_bytes(i, 3000 + i));
    }
  }
  // Reopened with smaller limits: trimmed to them by the next put, oldest first.
  auto s = BlockStore::open(d.path, StoreLimits{1 << 20, 4}).value();
  ASSERT_TRUE(s->put(id_of(21), meta_of(21), block_bytes(21, 100)).value());
  EXPECT_EQ(s->totals().blocks, 4u);
  EXPECT_EQ(s->totals().evicted, 17u);
  auto snap = s->snapshot().value();
  EXPECT_FALSE(snap.get(id_of(17)));
  EXPECT_TRUE(snap.get(id_of(18)));
}

// A child stores blocks as fast as it can and reports each stored one on a pipe; it is
// killed with SIGKILL mid-stream. Every reported block is there after reopening, and
// the totals match what is there.
TEST(BlockStore, NothingReportedStoredIsLostToKill9) {
  TempDir d;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto s = BlockStore::open(d.path, {}).value();
    for (std::uint32_t i = 1; i < 100000; ++i) {
      if (!s->put(id_of(i), meta_of(i), block_bytes(i, 4096)).ok()) ::_exit(3);
      if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(4);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::uint32_t last = 0, v = 0;
  while (last < 60 && ::read(fds[0], &v, sizeof v) == sizeof v) last = v;
  ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
  while (::read(fds[0], &v, sizeof v) == sizeof v) last = v;  // reported before it died
  ::close(fds[0]);
  ASSERT_GE(last, 60u);
  auto s = BlockStore::open(d.path, {}).value();
  auto snap = s->snapshot().value();
  std::uint64_t present = 0;
  for (std::uint32_t i = 1; i <= last + 1; ++i) {
    auto b = snap.get(id_of(i));
    if (i <= last) {
      ASSERT_TRUE(b) << "block " << i << " was reported stored";
      ASSERT_EQ(Bytes(b->bytes.begin(), b->bytes.end()), block_bytes(i, 4096));
    }
    present += b.has_value();
  }
  EXPECT_EQ(s->totals().blocks, present);
  EXPECT_EQ(s->totals().bytes, present * 4096);
}

// Entries written by the first release (80-byte header, no anchor) are still served.
TEST(BlockStore, ReadsEntriesOfTheFirstFormat) {
  TempDir d;
  { auto s = BlockStore::open(d.path, {}).value(); }  // create the environment
  {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    ASSERT_EQ(mdb_env_open(env, d.path.c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, "blocks", 0, &dbi), 0);
    Bytes e(80 + 5, 0);
    e[0] = 1;  // version 1
    e[1] = static_cast<std::uint8_t>(BlockKind::kNakamoto);
    store_be32(e.data() + 4, 5);
    e[23] = 77;  // height 77
    std::fill(e.begin() + 24, e.begin() + 44, 0x3c);
    for (int i = 0; i < 5; ++i) e[80 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(0xe0 + i);
    const Hash32 id = id_of(99);
    MDB_val k{id.size(), const_cast<std::uint8_t*>(id.data())}, v{e.size(), e.data()};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto s = BlockStore::open(d.path, {}).value();
  auto snap = s->snapshot().value();
  auto b = snap.get(id_of(99));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->meta.height, 77u);
  EXPECT_EQ(b->meta.consensus_hash[0], 0x3c);
  EXPECT_EQ(b->meta.anchor, Hash32{});
  EXPECT_EQ(Bytes(b->bytes.begin(), b->bytes.end()), (Bytes{0xe0, 0xe1, 0xe2, 0xe3, 0xe4}));
}

}  // namespace
}  // namespace relay::store
