// PushCheck / read_push: the relay path's one-pass skim of pushes agrees with the full
// decode (same ids, same refusals at the same offsets) on real and simulated pushes of
// every kind and on thousands of corrupted variants, and checks signatures only of what
// it has not relayed before.
#include <gtest/gtest.h>

#include "relay/codec/message.hpp"
#include "relay/validate/push_check.hpp"
#include "tests/support/push_corpus.hpp"

namespace relay::validate {
namespace {

using namespace relay::codec;
using test::PushSample;

struct Full {
  Status status;
  std::vector<Hash32> ids;
};

// The full decode of a payload, and the ids the relay keys dedup on.
Full full_decode(ByteSpan payload) {
  Reader r(payload);
  Payload p;
  read_payload(r, p);
  r.expect_end("trailing bytes inside payload_len");
  Full f{r.ok() ? Status(Ok{}) : Status(r.error()), {}};
  if (!r.ok()) return f;
  if (const auto* t = std::get_if<Transaction>(&p)) f.ids.push_back(t->tx.txid);
  if (const auto* nb = std::get_if<NakamotoBlocks>(&p))
    for (const auto& b : nb->blocks) f.ids.push_back(b.block_id);
  if (const auto* bs = std::get_if<Blocks>(&p))
    for (const auto& b : bs->blocks) f.ids.push_back(block_index_hash(b.block.block_hash, b.consensus_hash));
  if (const auto* ms = std::get_if<Microblocks>(&p))
    for (const auto& mb : ms->microblocks) f.ids.push_back(mb.block_hash);
  if (std::holds_alternative<StackerDBPushChunk>(p) || std::holds_alternative<BlocksAvailable>(p))
    f.ids.push_back(crypto::sha512_256(payload));
  return f;
}

const test::PushCorpus& corpus() {
  static const test::PushCorpus c = test::push_corpus();
  return c;
}

TEST(PushCheck, SkimGivesTheIdsOfTheFullDecode) {
  PushCheck check;
  ASSERT_GT(corpus().samples.size(), 170u);
  for (const auto& s : corpus().samples) {
    Full f = full_decode(s.payload);
    ASSERT_TRUE(f.status.ok()) << s.name << ": " << f.status.error().reason;
    auto out = check.check(s.payload, 0, false, nullptr);
    ASSERT_EQ(out.verdict, PushCheck::Verdict::kValid) << s.name << ": " << out.reason;
    ASSERT_EQ(check.ids().size(), f.ids.size()) << s.name;
    for (std::size_t i = 0; i < f.ids.size(); ++i) EXPECT_EQ(check.ids()[i], f.ids[i]) << s.name << " #" << i;
    EXPECT_EQ(out.new_ids, f.ids.size());
  }
}

TEST(PushCheck, RealAndSimulatedPushesPassTheirChecks) {
  PushCheck real, sim;
  real.set_reward_set(corpus().real_signers);
  sim.set_reward_set(corpus().sim_signers);
  int checked = 0;
  for (const auto& s : corpus().samples) {
    if (s.signers == PushSample::Signers::kUnknown) continue;
    PushCheck& c = s.signers == PushSample::Signers::kSim ? sim : real;
    auto out = c.check(s.payload, 0, true, nullptr);
    EXPECT_EQ(out.verdict, PushCheck::Verdict::kValid) << s.name << ": " << out.reason;
    ++checked;
  }
  EXPECT_GT(checked, 170);
}

// Single-byte corruptions (four kinds) and truncations at about 50 positions of every
// push: skim and full decode agree on ok / error code / error offset.
TEST(PushCheck, SkimRefusesExactlyWhatTheFullDecodeRefuses) {
  PushCheck check;
  std::size_t cases = 0, refused = 0;
  auto compare = [&](const std::string& name, ByteSpan in) {
    Full f = full_decode(in);
    auto out = check.check(in, 0, false, nullptr);
    ++cases;
    if (f.status.ok()) {
      ASSERT_NE(out.verdict, PushCheck::Verdict::kUndecodable) << name << ": " << out.reason;
      ASSERT_EQ(check.ids().size(), f.ids.size()) << name;
      return;
    }
    ++refused;
    ASSERT_EQ(out.verdict, PushCheck::Verdict::kUndecodable) << name << " (full: " << f.status.error().reason << ")";
    EXPECT_EQ(out.error.code, f.status.error().code) << name;
    EXPECT_EQ(out.error.offset, f.status.error().offset) << name << ": " << out.reason << " vs " << f.status.error().reason;
  };
  std::size_t k = 0;
  for (const auto& s : corpus().samples) {
    // About 50 positions per push, a different phase for each (the fuzz target push
    // covers the rest).
    const Bytes& p = s.payload;
    const std::size_t stride = std::max<std::size_t>(1, p.size() / 50);
    for (std::size_t i = 1 + (k++ * 7) % stride; i < p.size(); i += stride) {
      for (std::uint8_t how = 0; how < 4; ++how) {
        Bytes m = p;
        m[i] = how == 0 ? static_cast<std::uint8_t>(m[i] ^ 0x01) : how == 1 ? static_cast<std::uint8_t>(m[i] ^ 0x80)
             : how == 2 ? std::uint8_t{0} : std::uint8_t{0xff};
        if (m[i] == p[i]) continue;
        compare(s.name + " byte " + std::to_string(i) + " variant " + std::to_string(how), m);
        if (HasFatalFailure()) return;
      }
      compare(s.name + " cut at " + std::to_string(i), ByteSpan(p).first(i));
      if (HasFatalFailure()) return;
    }
  }
  EXPECT_GT(cases, 30000u);
  EXPECT_GT(refused, cases / 4);  // the corruptions do reach the decoder's checks
}

const PushSample& sample(const std::string& prefix) {
  for (const auto& s : corpus().samples)
    if (s.name.rfind(prefix, 0) == 0) return s;
  ADD_FAILURE() << "no sample " << prefix;
  return corpus().samples.front();
}

TEST(PushCheck, RefusesForgeriesAndWhatItCannotCheck) {
  PushCheck check;
  // A transaction whose origin signature is altered still decodes, and fails its check.
  Bytes tx = sample("mainnet tx").payload;
  tx[1 + 44 + 10] ^= 0x01;  // type byte, then version … key encoding (44 bytes), then the signature
  auto out = check.check(tx, 0, true, nullptr);
  EXPECT_EQ(out.verdict, PushCheck::Verdict::kInvalid) << out.reason;

  // Nakamoto blocks: nothing to check them against, then the wrong signers.
  const Bytes& blocks = sample("simulated Nakamoto blocks").payload;
  EXPECT_EQ(check.check(blocks, 0, true, nullptr).verdict, PushCheck::Verdict::kNoRewardSet);
  check.set_reward_set(corpus().real_signers);
  EXPECT_EQ(check.check(blocks, 0, true, nullptr).verdict, PushCheck::Verdict::kInvalid);
  // With the previous cycle's set alongside, a block signed by that cycle's signers passes.
  check.set_reward_set(corpus().real_signers, corpus().sim_signers);
  EXPECT_EQ(check.check(blocks, 0, true, nullptr).verdict, PushCheck::Verdict::kValid);
  check.set_reward_set(corpus().real_signers);
  // Not validating (a push we will not forward): decoded only.
  EXPECT_EQ(check.check(blocks, 0, false, nullptr).verdict, PushCheck::Verdict::kValid);

  // Blocks already relayed are not checked again (their ids were remembered only after
  // they passed): with the wrong signers installed, the push is valid and nothing is new.
  dedup::TagCache seen(64, 7);
  check.set_reward_set(corpus().sim_signers);
  ASSERT_EQ(check.check(blocks, 0, true, &seen).verdict, PushCheck::Verdict::kValid);
  for (const auto& id : check.ids()) seen.insert(id);
  check.set_reward_set(corpus().real_signers);
  out = check.check(blocks, 0, true, &seen);
  EXPECT_EQ(out.verdict, PushCheck::Verdict::kValid);
  EXPECT_EQ(out.new_ids, 0u);

  // Microblocks out of order do not form a chain.
  Microblocks mbs;
  mbs.microblocks = sim::signed_microblocks(3, 0x61);
  std::swap(mbs.microblocks[1], mbs.microblocks[2]);
  out = check.check(test::push_payload(mbs), 0, true, nullptr);
  EXPECT_EQ(out.verdict, PushCheck::Verdict::kInvalid);
  EXPECT_STREQ(out.reason, "microblocks do not form a chain");

  // Not a push at all.
  Bytes ping = test::push_payload(Ping{5});
  EXPECT_EQ(check.check(ping, 0, true, nullptr).verdict, PushCheck::Verdict::kUndecodable);
}

// Runs the pieces in order, on this thread.
struct InOrder final : ParallelFor {
  std::size_t items = 0;
  void run(std::size_t n, Fn fn, void* ctx) noexcept override {
    items += n;
    for (std::size_t i = 0; i < n; ++i) fn(ctx, i);
  }
};

// A block is tried against the current reward set, then the previous one. When the
// current set's verdict needed every signature recovered (it knows every key but the
// weight falls short), the previous set judges the same keys: one recovery per
// signature in all. When the current set meets a key it does not know, it stops there
// (one recovery), and the previous set recovers what it needs.
TEST(PushCheck, TwoRewardSetsCostAboutOneRecoveryPerSignature) {
  const Bytes& blocks = sample("simulated Nakamoto blocks").payload;
  Reader r(blocks);
  Payload p;
  read_payload(r, p);
  ASSERT_TRUE(r.ok());
  const auto& bs = std::get<NakamotoBlocks>(p).blocks;
  std::size_t sigs = 0;
  for (const auto& b : bs) sigs += b.header.signer_signature.size();
  ASSERT_GT(sigs, bs.size());

  // The same signers, plus one that never signs and holds most of the weight.
  std::vector<RewardSetSigner> outweighed = corpus().sim_signers;
  std::uint64_t total = 0;
  for (const auto& sg : outweighed) total += sg.weight;
  outweighed.push_back({crypto::SecretKey::generate()->public_key().compressed(), static_cast<std::uint32_t>(total * 3)});

  PushCheck check;
  InOrder par;
  check.set_parallel(&par);
  check.set_reward_set(outweighed, corpus().sim_signers);
  EXPECT_EQ(check.check(blocks, 0, true, nullptr).verdict, PushCheck::Verdict::kValid);
  EXPECT_EQ(check.signer_recoveries(), sigs);
  // The current cycle's: one each, and no second look.
  std::uint64_t before = check.signer_recoveries();
  check.set_reward_set(corpus().sim_signers, corpus().real_signers);
  EXPECT_EQ(check.check(blocks, 0, true, nullptr).verdict, PushCheck::Verdict::kValid);
  EXPECT_EQ(check.signer_recoveries() - before, sigs);
  // A current set that knows none of the keys: one recovery per block for it.
  before = check.signer_recoveries();
  check.set_reward_set(corpus().real_signers, corpus().sim_signers);
  EXPECT_EQ(check.check(blocks, 0, true, nullptr).verdict, PushCheck::Verdict::kValid);
  EXPECT_EQ(check.signer_recoveries() - before, sigs + bs.size());
  // Neither set: refused at the first block's first signature, by both.
  before = check.signer_recoveries();
  check.set_reward_set(corpus().real_signers, corpus().real_signers);
  EXPECT_EQ(check.check(blocks, 0, true, nullptr).verdict, PushCheck::Verdict::kInvalid);
  EXPECT_EQ(check.signer_recoveries() - before, 2u);
  EXPECT_GT(par.items, 0u);  // the pieces went through the ParallelFor
}


// A Transaction push whose origin is an n-key multisig (0 of n: no signature), the last
// key valid or not a curve point.
Bytes multisig_tx_push(std::size_t keys, bool last_key_valid = true) {
  const auto pk = crypto::SecretKey::generate()->public_key().compressed();
  StacksTransaction tx;
  tx.chain_id = 1;
  tx.auth.origin.hash_mode = 0x01;
  tx.auth.origin.fields.resize(keys);
  for (auto& f : tx.auth.origin.fields) std::copy(pk.begin(), pk.end(), f.public_key.begin());
  if (!last_key_valid) tx.auth.origin.fields.back().public_key.fill(0xff);
  tx.payload.id = 0;
  tx.payload.recipient.address.version = 22;
  Bytes out{static_cast<std::uint8_t>(MsgId::kTransaction)};
  const Bytes raw = encode_with(write_transaction, tx);
  out.insert(out.end(), raw.begin(), raw.end());
  return out;
}

// The relay's own limits on what it verifies: past them a push is not relayed, but it is
// not invalid either (a node has no such limits and may take it).
TEST(PushCheck, TransactionsPastTheRelaysVerificationLimitsAreBeyondPolicy) {
  PushCheck check;
  // Within the field limit: verified (and, unsigned, invalid), each field counted.
  auto small = check.check(multisig_tx_push(kMaxTxAuthFields), 0, true, nullptr);
  EXPECT_EQ(small.verdict, PushCheck::Verdict::kInvalid) << small.reason;
  EXPECT_EQ(small.signature_checks, kMaxTxAuthFields);
  // One field more: not verified at all.
  auto big = check.check(multisig_tx_push(kMaxTxAuthFields + 1), 0, true, nullptr);
  EXPECT_EQ(big.verdict, PushCheck::Verdict::kBeyondPolicy) << big.reason;
  EXPECT_EQ(big.signature_checks, 0u);
  // A bad key within the push's key budget is a decode error, as on a node...
  auto bad = check.check(multisig_tx_push(kMaxPushKeyChecks, false), 0, true, nullptr);
  EXPECT_EQ(bad.verdict, PushCheck::Verdict::kUndecodable);
  // ...past it, the key is not parsed: beyond policy, not undecodable (the full decode,
  // which parses every key, refuses it).
  const Bytes past = multisig_tx_push(kMaxPushKeyChecks + 1, false);
  auto skipped = check.check(past, 0, false, nullptr);
  EXPECT_EQ(skipped.verdict, PushCheck::Verdict::kBeyondPolicy) << skipped.reason;
  EXPECT_STREQ(skipped.reason, "more multisig keys than the relay parses per push");
  EXPECT_EQ(full_decode(past).status.error().code, Errc::kBadValue);
}


// A push of a StackerDB chunk of `contract` (at the boot address when `boot`), signed by `key`.
Bytes chunk_push(const std::string& contract, std::uint32_t slot, const crypto::SecretKey& key, bool boot = true) {
  StackerDBPushChunk ch;
  ch.contract_id.address.version = 22;
  if (!boot) ch.contract_id.address.hash.fill(0x22);
  ch.contract_id.name = contract;
  ch.chunk.slot_id = slot;
  ch.chunk.slot_version = 7;
  ch.chunk.data.assign(3000, static_cast<std::uint8_t>(slot + 1));
  ch.chunk.sig = key.sign(stackerdb_chunk_digest(ch.chunk));
  const Bytes body = encode_body({}, Payload{ch});
  return Bytes(body.begin() + 4, body.end());  // from the type byte (no relayers)
}

TEST(PushCheck, SignersContractsAreKnownByNameAtTheBootAddress) {
  auto id = [](const char* name, std::uint8_t version = 22, std::uint8_t hash = 0) {
    ContractId c;
    c.address.version = version;
    c.address.hash.fill(hash);
    c.name = name;
    return c;
  };
  EXPECT_EQ(signers_contract_parity(id("signers-0-0")), 0);
  EXPECT_EQ(signers_contract_parity(id("signers-1-12", 26)), 1);  // testnet
  EXPECT_EQ(signers_contract_parity(id("signers-1-12", 21)), -1);
  EXPECT_EQ(signers_contract_parity(id("signers-1-0", 22, 0x22)), -1);  // not the boot address
  EXPECT_EQ(signers_contract_parity(id("signers-2-0")), -1);
  EXPECT_EQ(signers_contract_parity(id("signers-1-")), -1);
  EXPECT_EQ(signers_contract_parity(id("signers-1-1x")), -1);
  EXPECT_EQ(signers_contract_parity(id("signers")), -1);
  EXPECT_EQ(signers_contract_parity(id("miners")), -1);
}

// Slot i of signers-P-* belongs to the i-th signer of the cycle of parity P: the current
// cycle's, and the other parity's the next cycle's once known, else the previous one's.
// A chunk signed by another key is not relayed (no node stores it) nor held against its
// sender; chunks of other contracts, or with no sets known, are not checked.
TEST(PushCheck, SignersChunksAreCheckedAgainstTheirSlotsSigner) {
  auto keys = [](int n) {
    std::vector<crypto::SecretKey> k;
    for (int i = 0; i < n; ++i) k.push_back(*crypto::SecretKey::generate());
    return k;
  };
  auto set_of = [](const std::vector<crypto::SecretKey>& k) {
    std::vector<RewardSetSigner> s;
    for (const auto& sk : k) s.push_back({sk.public_key().compressed(), 1});
    return s;
  };
  const auto cur = keys(3), prev = keys(2), next = keys(4);
  PushCheck check;
  auto verdict = [&](const Bytes& p) {
    auto out = check.check(p, 0, true, nullptr);
    return std::make_pair(out.verdict, out.chunk_signer_checked);
  };
  using V = PushCheck::Verdict;
  // Not known yet: nothing checked.
  EXPECT_EQ(verdict(chunk_push("signers-1-0", 0, prev[0])), std::make_pair(V::kValid, false));
  // Cycle 91: odd slots are the current set's, even ones the previous set's.
  check.set_slot_signers(slot_signers(91, set_of(cur), set_of(prev), {}));
  EXPECT_EQ(verdict(chunk_push("signers-1-0", 1, cur[1])), std::make_pair(V::kValid, true));
  EXPECT_EQ(verdict(chunk_push("signers-1-5", 2, cur[2])), std::make_pair(V::kValid, true));
  EXPECT_EQ(verdict(chunk_push("signers-0-3", 1, prev[1])), std::make_pair(V::kValid, true));
  EXPECT_EQ(verdict(chunk_push("signers-1-0", 2, cur[1])), std::make_pair(V::kWrongSigner, true));   // another's slot
  EXPECT_EQ(verdict(chunk_push("signers-0-0", 1, cur[1])), std::make_pair(V::kWrongSigner, true));   // the wrong cycle
  EXPECT_EQ(verdict(chunk_push("signers-1-0", 3, cur[0])), std::make_pair(V::kWrongSigner, true));   // past the set
  EXPECT_EQ(verdict(chunk_push("signers-1-0", 0, *crypto::SecretKey::generate())), std::make_pair(V::kWrongSigner, true));
  EXPECT_EQ(verdict(chunk_push("signers-1-0", 0, cur[0], false)), std::make_pair(V::kValid, false));  // not the boot address
  EXPECT_EQ(verdict(chunk_push("miners", 0, cur[0])), std::make_pair(V::kValid, false));
  // Once the next cycle's set is known (the prepare phase), the even slots are its.
  check.set_slot_signers(slot_signers(91, set_of(cur), set_of(prev), set_of(next)));
  EXPECT_EQ(verdict(chunk_push("signers-0-3", 3, next[3])), std::make_pair(V::kValid, true));
  EXPECT_EQ(verdict(chunk_push("signers-0-3", 1, prev[1])), std::make_pair(V::kWrongSigner, true));
  EXPECT_EQ(verdict(chunk_push("signers-1-3", 1, cur[1])), std::make_pair(V::kValid, true));
  // A cycle not known (a set from a file): nothing checked.
  check.set_slot_signers(slot_signers(0, set_of(cur), set_of(prev), {}));
  EXPECT_EQ(verdict(chunk_push("signers-1-0", 2, cur[1])), std::make_pair(V::kValid, false));
  // Corrupting the data after signing breaks the signature.
  check.set_slot_signers(slot_signers(91, set_of(cur), set_of(prev), {}));
  Bytes bad = chunk_push("signers-1-0", 1, cur[1]);
  bad.back() ^= 1;
  EXPECT_EQ(verdict(bad), std::make_pair(V::kWrongSigner, true));
}

}  // namespace
}  // namespace relay::validate
