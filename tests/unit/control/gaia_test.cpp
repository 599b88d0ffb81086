// The Gaia mirror (control/gaia/): the token and bucket address a hub checks, the durable
// outbox that follows the block store's log, and the writer against the hub stand-in
// (tests/support/gaia_hub.hpp) through outages, slowness, 5xx, 401 (revocation), 412 and
// files the hub refuses: every file arrives exactly once.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "control/gaia/mirror.hpp"
#include "control/gaia/outbox.hpp"
#include "control/gaia/token.hpp"
#include "bench/sim/sim_data.hpp"
#include "control/gaia/read_back.hpp"
#include "control/http/relay_api.hpp"
#include "control/store/block_store.hpp"
#include "relay/codec/message.hpp"
#include "tests/support/loopback.hpp"
#include "relay/base/hex.hpp"
#include "tests/support/gaia_hub.hpp"

namespace relay::gaia {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/stacks-relay-gaia-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { (void)std::system(("rm -rf " + path).c_str()); }
};

crypto::SecretKey key_of(std::uint8_t last) {
  ByteArray<32> b{};
  b[31] = last;
  return *crypto::SecretKey::from_bytes(b);
}

store::Hash32 id_of(std::uint32_t i, std::uint8_t tag = 0x5a) {
  store::Hash32 h{};
  store_be32(h.data(), i);
  h[31] = tag;
  return h;
}

Bytes bytes_of(std::uint32_t i, std::size_t n) {
  Bytes b(n);
  for (std::size_t k = 0; k < n; ++k) b[k] = static_cast<std::uint8_t>(i * 31 + k);
  return b;
}

void put_nakamoto(store::BlockStore& s, std::uint32_t i, std::size_t n = 3000) {
  store::BlockMeta m;
  m.kind = store::BlockKind::kNakamoto;
  m.height = i;
  m.parent = id_of(i - 1);
  ASSERT_TRUE(s.put(id_of(i), m, bytes_of(i, n)).value());
}

bool wait_for(const std::function<bool()>& f, int ms) {
  for (int waited = 0; waited < ms; waited += 20) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

TEST(GaiaToken, Base64UrlAndBase58CheckAddresses) {
  auto b64 = [](std::string_view s) { return base64url(ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())); };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg");
  EXPECT_EQ(b64("fo"), "Zm8");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foob"), "Zm9vYg");
  const Bytes url_chars = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(base64url(url_chars), "-_-_");
  EXPECT_EQ(from_base64url("-_-_").value(), url_chars);
  EXPECT_EQ(from_base64url("Zm9vYg").value(), Bytes({'f', 'o', 'o', 'b'}));
  EXPECT_FALSE(from_base64url("Zm9vYg==").has_value());  // padding
  EXPECT_FALSE(from_base64url("Zm+v").has_value());      // base64, not base64url
  EXPECT_FALSE(from_base64url("Z").has_value());         // no whole byte
  EXPECT_FALSE(from_base64url("Zh").has_value());        // non-zero bits past the last byte
  // The secret key 1: its compressed public key's P2PKH address (well known).
  EXPECT_EQ(bucket_address(key_of(1).public_key()), "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH");
  // Leading zero bytes are leading '1's (Bitcoin's genesis-era all-zero hash160).
  EXPECT_EQ(base58check(0x00, Bytes(20, 0)), "1111111111111111111114oLvT2");
  // The stand-in's own derivation agrees for another key.
  const auto pk = key_of(77).public_key().compressed();
  EXPECT_EQ(bucket_address(key_of(77).public_key()), test::GaiaHubStandIn::address_of(pk));
}

TEST(GaiaToken, TheHubStandInTakesOurTokenAndRefusesAlteredOnes) {
  test::GaiaHubStandIn hub;
  const auto key = key_of(9);
  const std::string bucket = bucket_address(key.public_key());
  netio::HttpClient http({});
  TokenClaims c;
  c.challenge = hub.challenge();
  c.hub_url = hub.url();
  c.iat = static_cast<std::int64_t>(::time(nullptr));
  c.exp = c.iat + 600;
  auto post = [&](const std::string& token, const std::string& path = "a/b.bin") {
    return http.request("POST", hub.url() + "/store/" + bucket + "/" + path,
                        {"Authorization: bearer " + token, "Content-Type: application/octet-stream"}, bytes_of(1, 100));
  };
  const std::string good = make_token(key, c);
  ASSERT_EQ(good.rfind("v1:", 0), 0u);
  auto r = post(good);
  ASSERT_EQ(r.status, 202) << r.body << hub.last_auth_failure();
  EXPECT_NE(r.body.find(hub.read_prefix() + bucket + "/a/b.bin"), std::string::npos) << r.body;
  EXPECT_EQ(hub.files().at(bucket + "/a/b.bin").bytes, bytes_of(1, 100));

  TokenClaims wrong = c;
  wrong.challenge = "[\"gaiahub\",\"0\",\"elsewhere\",\"blockstack_storage_please_sign\"]";
  EXPECT_EQ(post(make_token(key, wrong)).status, 401);
  EXPECT_EQ(hub.last_auth_failure(), "wrong challenge");
  TokenClaims old = c;
  old.exp = c.iat - 10;
  EXPECT_EQ(post(make_token(key, old)).status, 401);
  EXPECT_EQ(hub.last_auth_failure(), "expired");
  EXPECT_EQ(post(make_token(key_of(10), c)).status, 401);  // another key: another bucket
  EXPECT_EQ(hub.last_auth_failure(), "the token's key is not this bucket's");
  std::string tampered = good;  // one character of the payload changed: the signature fails
  const std::size_t mid = tampered.find('.') + 10;
  tampered[mid] = tampered[mid] == 'A' ? 'B' : 'A';
  EXPECT_EQ(post(tampered).status, 401);
  EXPECT_EQ(post(good, "a//b").status, 403);  // a path the hub refuses
  EXPECT_EQ(hub.count("stored"), 1u);
}

TEST(GaiaOutbox, FollowsTheStoreLogDurablyWithinItsLimit) {
  TempDir d;
  auto st = store::BlockStore::open(d.path + "/blocks", {std::uint64_t{1} << 30, 8}).value();
  for (std::uint32_t i = 1; i <= 3; ++i) put_nakamoto(*st, i);
  // A 2.x block, and a whole microblock stream of two with its anchor's consensus hash.
  store::BlockMeta sm;
  sm.kind = store::BlockKind::kStacks;
  ASSERT_TRUE(st->put(id_of(100), sm, bytes_of(100, 400)).value());
  store::BlockMeta mm;
  mm.kind = store::BlockKind::kMicroblock;
  mm.consensus_hash.fill(0x33);
  mm.anchor = id_of(100);
  mm.height = 0;
  ASSERT_TRUE(st->put(id_of(200, 1), mm, bytes_of(200, 150)).value());
  mm.height = 1;
  mm.parent = id_of(200, 1);
  ASSERT_TRUE(st->put(id_of(201, 1), mm, bytes_of(201, 160)).value());
  // A microblock whose stream is not whole here (its parent is missing): no file.
  mm.height = 5;
  mm.parent = id_of(999, 1);
  ASSERT_TRUE(st->put(id_of(205, 1), mm, bytes_of(205, 10)).value());

  {
    auto box = Outbox::open(d.path + "/outbox", 1 << 20).value();
    const auto f = box->fill(*st, "net/", 100).value();
    EXPECT_EQ(f.blocks, 7u);
    EXPECT_EQ(f.files, 6u);
    EXPECT_FALSE(f.full);
  }
  auto box = Outbox::open(d.path + "/outbox", 1 << 20).value();  // reopened: nothing lost, nothing twice
  EXPECT_EQ(box->fill(*st, "net/", 100).value().blocks, 0u);
  const auto files = box->front(100);
  ASSERT_EQ(files.size(), 6u);
  EXPECT_EQ(files[0].path, "net/v3/blocks/" + to_hex(id_of(1)));
  EXPECT_EQ(files[0].bytes, bytes_of(1, 3000));
  EXPECT_EQ(files[3].path, "net/v2/blocks/" + to_hex(id_of(100)));
  const auto alias0 = store::microblock_index_hash(id_of(200, 1), mm.consensus_hash);
  const auto alias1 = store::microblock_index_hash(id_of(201, 1), mm.consensus_hash);
  EXPECT_EQ(files[4].path, "net/v2/microblocks/" + to_hex(alias0));
  EXPECT_EQ(files[5].path, "net/v2/microblocks/" + to_hex(alias1));
  // The stream file: count 2, then the microblocks newest first (what the node serves).
  Bytes stream = {0, 0, 0, 2};
  for (const auto& b : {bytes_of(201, 160), bytes_of(200, 150)}) stream.insert(stream.end(), b.begin(), b.end());
  EXPECT_EQ(files[5].bytes, stream);
  auto t = box->totals();
  EXPECT_EQ(t.files, 6u);
  EXPECT_EQ(t.skipped, 1u);
  EXPECT_EQ(t.missed, 0u);
  ASSERT_TRUE(box->remove(files[0].seq).ok());
  ASSERT_TRUE(box->remove(files[0].seq).ok());  // twice: nothing more happens
  t = box->totals();
  EXPECT_EQ(t.files, 5u);
  EXPECT_EQ(t.bytes, 2 * 3000u + 400 + (4 + 150) + (4 + 160 + 150));
  EXPECT_EQ(box->front(1).front().path, files[1].path);

  // Over the byte limit the cursor waits: blocks stay in the store's log for later.
  auto small = Outbox::open(d.path + "/small", 5000).value();
  auto f = small->fill(*st, "", 100).value();
  EXPECT_TRUE(f.full);
  EXPECT_EQ(f.blocks, 1u);  // one 3000-byte file fits; the next would pass 5000
  for (const auto& x : small->front(10)) ASSERT_TRUE(small->remove(x.seq).ok());
  EXPECT_EQ(small->fill(*st, "", 100).value().blocks, 1u);

  // The store evicts (max 8 blocks) blocks the small outbox has not taken: counted missed.
  for (std::uint32_t i = 4; i <= 9; ++i) put_nakamoto(*st, i);
  for (const auto& x : small->front(10)) ASSERT_TRUE(small->remove(x.seq).ok());
  EXPECT_EQ(small->fill(*st, "", 1).value().blocks, 1u);
  EXPECT_GT(small->totals().missed, 0u);

  // The store lost and made again (its seqs start over): the outbox follows it from its
  // start instead of waiting for seqs it passed long ago.
  auto fresh = store::BlockStore::open(d.path + "/blocks-again", {}).value();
  put_nakamoto(*fresh, 50);
  const auto again = box->fill(*fresh, "net/", 100).value();
  EXPECT_TRUE(again.store_replaced);
  EXPECT_EQ(again.blocks, 1u);
  EXPECT_EQ(box->front(100).back().path, "net/v3/blocks/" + to_hex(id_of(50)));
  EXPECT_FALSE(box->fill(*fresh, "net/", 100).value().store_replaced);
}

struct MirrorRig {
  TempDir d;
  std::unique_ptr<store::BlockStore> st = store::BlockStore::open(d.path + "/blocks", {}).value();
  crypto::SecretKey key = key_of(42);
  std::string bucket = bucket_address(key.public_key());

  std::unique_ptr<GaiaMirror> mirror(const test::GaiaHubStandIn& hub, std::uint32_t timeout_s = 5) {
    MirrorOptions o;
    o.hub_url = hub.url() + "/";
    o.key = key;
    o.prefix = "mainnet/";
    o.store = st.get();
    o.outbox_dir = d.path + "/outbox";
    o.http.timeout_s = timeout_s;
    o.retry_min_ms = 50;
    o.retry_max_ms = 400;
    auto m = GaiaMirror::open(std::move(o)).value();
    m->start();
    return m;
  }
  std::string path_of(std::uint32_t i) const { return bucket + "/mainnet/v3/blocks/" + to_hex(id_of(i)); }
  // every block 1..n is on the hub, with its bytes, written exactly once
  void expect_all_once(const test::GaiaHubStandIn& hub, std::uint32_t n, std::size_t size = 3000) const {
    const auto files = hub.files();
    for (std::uint32_t i = 1; i <= n; ++i) {
      auto it = files.find(path_of(i));
      ASSERT_NE(it, files.end()) << "block " << i << " is not on the hub";
      EXPECT_EQ(it->second.bytes, bytes_of(i, size)) << i;
      EXPECT_EQ(it->second.creates, 1u) << i;
    }
  }
};

TEST(GaiaMirror, WritesEveryBlockOnceThroughOutagesErrorsAndRevocation) {
  MirrorRig rig;
  test::GaiaHubStandIn hub;
  hub.down();  // the hub is away when the relay starts
  for (std::uint32_t i = 1; i <= 20; ++i) put_nakamoto(*rig.st, i);
  auto m = rig.mirror(hub);
  ASSERT_TRUE(wait_for([&] { return m->view().retries >= 2; }, 5000));
  EXPECT_EQ(m->view().state, "down");
  EXPECT_EQ(m->view().outbox_files, 20u);  // all in the outbox, waiting
  hub.up();
  ASSERT_TRUE(wait_for([&] { return m->view().outbox_files == 0; }, 10000)) << m->view().last_error;
  rig.expect_all_once(hub, 20);
  auto v = m->view();
  EXPECT_EQ(v.state, "up");
  EXPECT_EQ(v.written, 20u);
  EXPECT_EQ(v.read_url, hub.read_prefix() + rig.bucket + "/");

  // 5xx for a while: retried, nothing lost.
  hub.fail_writes(3, 503);
  for (std::uint32_t i = 21; i <= 25; ++i) put_nakamoto(*rig.st, i);
  m->wake();
  ASSERT_TRUE(wait_for([&] { return m->view().written == 25; }, 10000)) << m->view().last_error;
  EXPECT_EQ(hub.count("failed_on_purpose"), 3u);

  // A file already on the hub (e.g. the pair's other relay wrote it): 412, taken as done.
  hub.put(rig.bucket, "mainnet/v3/blocks/" + to_hex(id_of(26)), bytes_of(26, 3000));
  put_nakamoto(*rig.st, 26);
  m->wake();
  ASSERT_TRUE(wait_for([&] { return m->view().already == 1 && m->view().outbox_files == 0; }, 5000));

  // The bucket's tokens revoked: 401, a fresh token from hub_info, the file written.
  const auto hub_infos = hub.count("hub_info");
  {
    netio::HttpClient http({});
    TokenClaims c{hub.challenge(), hub.url(), static_cast<std::int64_t>(::time(nullptr)), static_cast<std::int64_t>(::time(nullptr)) + 60, {}};
    const std::string body = "{\"oldestValidTimestamp\":" + std::to_string(::time(nullptr) + 1) + "}";
    ASSERT_EQ(http.request("POST", hub.url() + "/revoke-all/" + rig.bucket, {"Authorization: bearer " + make_token(rig.key, c)},
                           ByteSpan(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()))
                  .status,
              202);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // a token made now is not before the revocation
  put_nakamoto(*rig.st, 27);
  m->wake();
  ASSERT_TRUE(wait_for([&] { return m->view().written == 26; }, 5000)) << m->view().last_error;
  EXPECT_GE(hub.count("auth_failures"), 1u);
  EXPECT_GT(hub.count("hub_info"), hub_infos);

  // A file the hub will never take (larger than its limit): refused, counted, not retried;
  // the files after it still go.
  test::GaiaHubStandIn::Options small;
  small.max_bytes = 10000;
  test::GaiaHubStandIn hub2(small);
  MirrorRig rig2;
  put_nakamoto(*rig2.st, 1);
  put_nakamoto(*rig2.st, 2, 20000);
  put_nakamoto(*rig2.st, 3);
  auto m2 = rig2.mirror(hub2);
  ASSERT_TRUE(wait_for([&] { return m2->view().written + m2->view().refused == 3; }, 5000)) << m2->view().last_error;
  EXPECT_EQ(m2->view().outbox_files, 0u);
  EXPECT_EQ(m2->view().refused, 1u);
  EXPECT_EQ(m2->view().written, 2u);
  EXPECT_EQ(hub2.count("too_large"), 1u);
  EXPECT_NE(m2->view().last_error.find("413"), std::string::npos) << m2->view().last_error;
}

TEST(GaiaMirror, ASlowHubAndARestartedMirrorStillGiveEveryFileOnce) {
  MirrorRig rig;
  test::GaiaHubStandIn hub;
  for (std::uint32_t i = 1; i <= 30; ++i) put_nakamoto(*rig.st, i);
  // Slower than the mirror waits: the hub keeps what it was sent after the mirror gave up;
  // the mirror's next tries of that file get (too late) 412s, and it stays in the outbox.
  hub.set_delay_ms(1500);
  {
    auto m = rig.mirror(hub, 1);
    ASSERT_TRUE(wait_for([&] { return hub.count("stored") == 1 && hub.count("precondition_failed") >= 1; }, 10000))
        << m->view().last_error;
    EXPECT_EQ(m->view().written, 0u);
  }  // stopped with files in flight (as a relay killed mid-write)
  hub.set_delay_ms(20);
  auto m = rig.mirror(hub);
  ASSERT_TRUE(wait_for([&] { return m->view().outbox_files == 0; }, 20000)) << m->view().last_error;
  rig.expect_all_once(hub, 30);
  EXPECT_GE(m->view().already, 1u);
  EXPECT_EQ(hub.count("stored"), 30u);
}

// A full disk under the outbox (a 1 MiB tmpfs; root only): the outbox cannot take the
// store's blocks, the mirror says so, and nothing is lost: once there is room, every block
// reaches the hub, once.
TEST(GaiaMirror, AFullDiskUnderTheOutboxLosesNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  MirrorRig rig;
  const std::string mnt = rig.d.path + "/small";
  ::mkdir(mnt.c_str(), 0700);
  ASSERT_EQ(std::system(("mount -t tmpfs -o size=1m tmpfs " + mnt).c_str()), 0);
  struct Unmount {
    std::string at;
    ~Unmount() { (void)std::system(("umount " + at).c_str()); }
  } unmount{mnt};
  for (std::uint32_t i = 1; i <= 20; ++i) put_nakamoto(*rig.st, i, 100'000);  // 2 MB: more than the disk
  test::GaiaHubStandIn hub;
  hub.set_delay_ms(5);
  MirrorOptions o;
  o.hub_url = hub.url();
  o.key = rig.key;
  o.prefix = "mainnet/";
  o.store = rig.st.get();
  o.outbox_dir = mnt + "/outbox";
  o.retry_min_ms = 50;
  auto m = GaiaMirror::open(std::move(o)).value();
  hub.down();  // nothing leaves: the outbox fills the disk
  m->start();
  ASSERT_TRUE(wait_for([&] { return m->view().outbox_errors > 0; }, 10000)) << m->view().last_error;
  EXPECT_NE(m->view().last_error.find("outbox"), std::string::npos) << m->view().last_error;
  hub.up();  // files leave, the disk frees up, the rest of the store's blocks follow
  ASSERT_TRUE(wait_for([&] { return m->view().written == 20; }, 30000))
      << m->view().written << " written; " << m->view().last_error;
  rig.expect_all_once(hub, 20, 100'000);
  EXPECT_EQ(m->view().missed, 0u);
}

// Read-back: a relay whose store lacks a Nakamoto block fetches it from the bucket, checks
// it as a push (decode, Merkle root, signer signatures, the id asked for), keeps it and
// serves it; a wrong, corrupted or absent file is a 404 (absent ones not asked again at
// once); without a reward set nothing is served.
TEST(GaiaReadBack, AMissIsFetchedCheckedKeptAndServed) {
  test::GaiaHubStandIn hub;
  sim::SignerSet signers(3);
  const auto miner = sim::key_from_byte(9, 1);
  const auto b1 = sim::nakamoto_block(11, signers, miner, 3000), b2 = sim::nakamoto_block(12, signers, miner, 3000);
  const Bytes bytes1 = codec::encode_with(codec::write_nakamoto_block, b1), bytes2 = codec::encode_with(codec::write_nakamoto_block, b2);
  const std::string bucket = "1BucketOfTheRelay";
  auto path = [](const store::Hash32& id) { return "net/v3/blocks/" + to_hex(id); };
  hub.put(bucket, path(b1.block_id), bytes1);
  hub.put(bucket, path(id_of(2)), bytes2);  // a valid block under another block's name
  Bytes broken = bytes1;
  broken[broken.size() / 2] ^= 0x40;  // a transaction byte: the Merkle root no longer matches
  hub.put(bucket, path(id_of(3)), broken);
  hub.put(bucket, path(b2.block_id), Bytes(bytes2.begin(), bytes2.end() - 1));

  TempDir d;
  auto st = store::BlockStore::open(d.path + "/blocks", {}).value();
  ReaderOptions ro;
  ro.read_url_now = [&] { return hub.read_prefix() + bucket + "/"; };
  ro.prefix = "net/";
  ro.store = st.get();
  GaiaReader reader(ro);
  reader.set_reward_sets(signers.reward_set, {});
  reader.start();
  http::StatusBoard board;
  http::ApiContext ctx;
  ctx.store = st.get();
  ctx.board = &board;
  ctx.reader = &reader;
  auto server = http::Server::start({}, http::make_relay_api(&ctx)).value();
  auto get = [&](const store::Hash32& id) {
    return test::http_exchange(server->port(), "GET /v3/blocks/" + to_hex(id) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  };
  const std::string got = get(b1.block_id);
  ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got.substr(0, 300) << reader.view().last_error;
  EXPECT_EQ(got.substr(got.find("\r\n\r\n") + 4), std::string(bytes1.begin(), bytes1.end()));
  EXPECT_NE(got.find("immutable"), std::string::npos);
  {
    auto snap = st->snapshot().value();
    auto kept = snap.get(b1.block_id);
    ASSERT_TRUE(kept.has_value()) << "read back, but not kept";
    EXPECT_EQ(kept->meta.height, 11u);
  }
  const auto reads = hub.count("reads");
  EXPECT_EQ(get(b1.block_id).rfind("HTTP/1.1 200", 0), 0u);  // now from the store
  EXPECT_EQ(hub.count("reads"), reads);
  EXPECT_EQ(get(id_of(2)).rfind("HTTP/1.1 404", 0), 0u);     // another block's bytes
  EXPECT_EQ(get(id_of(3)).rfind("HTTP/1.1 404", 0), 0u);     // corrupted
  EXPECT_EQ(get(b2.block_id).rfind("HTTP/1.1 404", 0), 0u);  // truncated
  EXPECT_EQ(reader.view().refused, 3u) << reader.view().last_error;
  EXPECT_EQ(get(id_of(4)).rfind("HTTP/1.1 404", 0), 0u);     // nowhere
  EXPECT_EQ(reader.view().not_found, 1u);
  const auto reads2 = hub.count("reads");
  EXPECT_EQ(get(id_of(4)).rfind("HTTP/1.1 404", 0), 0u);     // remembered: the bucket is not asked again
  EXPECT_EQ(hub.count("reads"), reads2);
  EXPECT_EQ(reader.view().remembered, 1u);
  {
    auto snap = st->snapshot().value();
    EXPECT_FALSE(snap.get(id_of(2)).has_value());
    EXPECT_FALSE(snap.get(id_of(3)).has_value());
  }
  // No reward set: nothing can be checked, nothing is served.
  reader.set_reward_sets({}, {});
  hub.put(bucket, path(b2.block_id), bytes2);
  EXPECT_EQ(get(b2.block_id).rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(reader.view().unverifiable, 1u);
  reader.set_reward_sets(signers.reward_set, {});
  EXPECT_EQ(get(b2.block_id).rfind("HTTP/1.1 200", 0), 0u) << reader.view().last_error;
}

// Many misses at once: at most max_waiting distinct ids wait; the rest are answered at
// once; requests for one id share one fetch.
TEST(GaiaReadBack, MissesAreBoundedAndShareFetches) {
  test::GaiaHubStandIn hub;
  TempDir d;
  auto st = store::BlockStore::open(d.path + "/blocks", {}).value();
  ReaderOptions ro;
  ro.read_url = hub.read_prefix() + "1B/";
  ro.store = st.get();
  ro.max_waiting = 4;
  GaiaReader reader(ro);  // not started: everything stays waiting
  std::atomic<int> answered{0};
  auto done = [&](std::optional<Bytes> b) {
    EXPECT_FALSE(b.has_value());
    ++answered;
  };
  for (std::uint32_t i = 1; i <= 4; ++i) EXPECT_TRUE(reader.fetch(id_of(i), done));
  EXPECT_TRUE(reader.fetch(id_of(1), done));   // shares the first's fetch
  EXPECT_FALSE(reader.fetch(id_of(5), done));  // a fifth distinct id: answered at once
  EXPECT_EQ(reader.view().busy, 1u);
  reader.start();
  for (int i = 0; i < 200 && answered.load() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(answered.load(), 5);
  EXPECT_EQ(hub.count("reads"), 4u);
}

}  // namespace
}  // namespace relay::gaia
