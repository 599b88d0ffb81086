// bench/sim/sim_data.hpp — objects a simulated Stacks network pushes: node identities,
// a burn view, signed transactions, microblock streams and Nakamoto blocks signed by a
// reward set of our own. Used by the simulated peers (stacks-relay-simnet, the demo, the
// benchmark suite) and by the tests.
#pragma once

#include <vector>

#include "control/session/conversation.hpp"
#include "relay/codec/chain.hpp"
#include "relay/crypto/merkle.hpp"
#include "relay/validate/validate.hpp"

namespace relay::sim {

// key_from_byte: a deterministic secret key (…00 kk), for reproducible identities.
inline crypto::SecretKey key_from_byte(std::uint8_t b, std::uint8_t tag = 0) {
  Bytes k(32, 0);
  k[30] = tag;
  k[31] = b;
  return *crypto::SecretKey::from_bytes(k);
}

// make_local_peer: a mainnet node identity whose key is `key_byte` (and `tag`).
inline ctl::LocalPeer make_local_peer(std::uint8_t key_byte, std::uint8_t tag = 0) {
  return ctl::LocalPeer{key_from_byte(key_byte, tag), 1, 0x18000010, 7, codec::kServiceRelay, {}, 20444, "",
                        3600, 0x7fffffffffffffffull};
}

// sim_burn_view: the Bitcoin view the simulated nodes share.
inline ctl::BurnView sim_burn_view() {
  ctl::BurnView v;
  v.height = 900007;
  v.stable_height = 900000;
  return v;
}

// mainnet_tx: an unsigned mainnet transaction from the single-sig origin `sk` (payload
// left to the caller), for the signed_* makers below.
inline codec::StacksTransaction mainnet_tx(const crypto::SecretKey& sk, std::uint64_t nonce, std::uint64_t fee) {
  codec::StacksTransaction tx;
  tx.version = 0;
  tx.chain_id = 1;
  auto pk = sk.public_key().compressed();
  tx.auth.origin.signer = crypto::hash160(ByteSpan(pk.data(), pk.size()));
  tx.auth.origin.nonce = nonce;
  tx.auth.origin.tx_fee = fee;
  return tx;
}

// signed_tx: a valid, signed mainnet token transfer; distinct nonces give distinct txids.
inline codec::StacksTransaction signed_tx(std::uint64_t nonce, std::uint8_t sender = 0x42) {
  auto sk = *crypto::SecretKey::from_bytes(Bytes(32, sender));
  codec::StacksTransaction tx = mainnet_tx(sk, nonce, 180);
  tx.payload.id = 0;
  tx.payload.recipient.address.version = 22;
  tx.payload.amount = 1000;
  validate::sign_singlesig_origin(tx, sk);
  return tx;
}

// signed_contract_call: a valid, signed mainnet contract call whose one argument is a
// buffer of `pad` bytes (contract_call_pad gives the pad for a wanted size).
inline codec::StacksTransaction signed_contract_call(std::uint64_t nonce, std::size_t pad, std::uint8_t sender = 0x43) {
  auto sk = *crypto::SecretKey::from_bytes(Bytes(32, sender));
  codec::StacksTransaction tx = mainnet_tx(sk, nonce, 300);
  tx.payload.id = static_cast<std::uint8_t>(codec::PayloadId::kContractCall);
  tx.payload.contract_address.version = 22;
  tx.payload.contract_address.hash.fill(0x5b);
  tx.payload.contract_name = "bench-sink";
  tx.payload.function_name = "put";
  codec::ClarityValue buf;  // (buff pad): type 0x02, u32 length, bytes
  buf.raw = {0x02, static_cast<std::uint8_t>(pad >> 24), static_cast<std::uint8_t>(pad >> 16),
             static_cast<std::uint8_t>(pad >> 8), static_cast<std::uint8_t>(pad)};
  buf.raw.resize(5 + pad, 0x77);
  tx.payload.args.push_back(std::move(buf));
  validate::sign_singlesig_origin(tx, sk);
  return tx;
}

// contract_call_pad: the buffer size that makes signed_contract_call `bytes` long (as
// close as it gets: the smallest call is ~170 bytes).
inline std::size_t contract_call_pad(std::size_t bytes) {
  const std::size_t base = signed_contract_call(0, 0).encoded_size;
  return bytes > base ? bytes - base : 0;
}

// signed_microblocks: a stream of `n` microblocks, one transaction each, signed by the
// miner key `key_byte` and chained by parent hash and sequence.
inline std::vector<codec::StacksMicroblock> signed_microblocks(std::size_t n, std::uint8_t key_byte,
                                                               std::uint64_t first_nonce = 100) {
  auto sk = key_from_byte(key_byte);
  std::vector<codec::StacksMicroblock> out;
  codec::Hash32 prev{};
  prev[0] = 0xab;  // the anchored block (not checked by the relay)
  for (std::size_t i = 0; i < n; ++i) {
    codec::StacksMicroblock mb;
    mb.txs.push_back(signed_tx(first_nonce + i));
    mb.header.version = 0;
    mb.header.sequence = static_cast<std::uint16_t>(i);
    mb.header.prev_block = prev;
    mb.header.tx_merkle_root = crypto::merkle_root(std::vector<codec::Hash32>{mb.txs[0].txid});
    mb.header.signature = sk.sign(codec::microblock_sighash(mb.header));
    codec::compute_ids(mb);
    prev = mb.block_hash;
    out.push_back(std::move(mb));
  }
  return out;
}

// SignerSet: a reward set of our own, so simulated miners can produce blocks a relay
// accepts (its reward-set file lists these keys).
struct SignerSet {
  std::vector<crypto::SecretKey> keys;
  std::vector<validate::RewardSetSigner> reward_set;
  explicit SignerSet(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      keys.push_back(key_from_byte(static_cast<std::uint8_t>(i + 1), 0x5e));
      reward_set.push_back({keys.back().public_key().compressed(), 1});
    }
  }
};

// nakamoto_block_of: a version-1 Nakamoto block at `height` carrying `txs` (whose Merkle
// root is `root`), signed by the miner `miner` and by every signer of `signers` in
// reward-set order.
// `tenure` and `parent`, when given, are its consensus hash and parent block id.
inline codec::NakamotoBlock nakamoto_block_of(std::vector<codec::StacksTransaction> txs, const codec::Hash32& root,
                                              std::uint64_t height, const SignerSet& signers,
                                              const crypto::SecretKey& miner, const codec::Hash20* tenure = nullptr,
                                              const codec::Hash32* parent = nullptr) {
  codec::NakamotoBlock b;
  b.header.version = 1;
  b.header.chain_length = height;
  b.header.burn_spent = 1000;
  b.header.consensus_hash[0] = static_cast<std::uint8_t>(height);
  b.header.parent_block_id[0] = static_cast<std::uint8_t>(height >> 8);
  if (tenure != nullptr) b.header.consensus_hash = *tenure;
  if (parent != nullptr) b.header.parent_block_id = *parent;
  b.header.timestamp = 1'700'000'000 + height;
  b.header.pox_treatment.len = 1;
  b.header.pox_treatment.data = {0};
  b.txs = std::move(txs);
  b.header.tx_merkle_root = root;
  codec::compute_ids(b);
  b.header.miner_signature = miner.sign(codec::nakamoto_miner_sighash(b.header));
  codec::compute_ids(b);
  for (const auto& k : signers.keys) b.header.signer_signature.push_back(k.sign(b.block_hash));
  codec::compute_ids(b);
  return b;
}

// block_txs: transactions filling about `min_bytes` (at least one), and their Merkle root.
inline std::pair<std::vector<codec::StacksTransaction>, codec::Hash32> block_txs(std::size_t min_bytes,
                                                                                 std::uint64_t nonce) {
  std::vector<codec::StacksTransaction> txs;
  std::size_t bytes = 0;
  do {
    txs.push_back(signed_tx(nonce++));
    bytes += 180;
  } while (bytes < min_bytes);
  std::vector<codec::Hash32> ids;
  for (const auto& tx : txs) ids.push_back(tx.txid);
  return {std::move(txs), crypto::merkle_root(ids)};
}

// nakamoto_block: a block at `height` padded with transactions up to about `min_bytes`.
inline codec::NakamotoBlock nakamoto_block(std::uint64_t height, const SignerSet& signers,
                                           const crypto::SecretKey& miner, std::size_t min_bytes = 0,
                                           std::uint64_t nonce_base = 1'000'000) {
  auto [txs, root] = block_txs(min_bytes, nonce_base + height * 100'000);
  return nakamoto_block_of(std::move(txs), root, height, signers, miner);
}

// tenure_chain: `n` blocks of one tenure (consensus hash `tenure`), from `height` up, each
// the parent of the next; the first's parent is `parent`.
// With `prev_tenure`, the first block starts the tenure: its first transaction is the
// miner's BlockFound tenure change naming that parent tenure and `parent` as its last block.
inline std::vector<codec::NakamotoBlock> tenure_chain(std::uint64_t height, std::size_t n, const codec::Hash20& tenure,
                                                      codec::Hash32 parent, const SignerSet& signers,
                                                      const crypto::SecretKey& miner, std::size_t min_bytes = 0,
                                                      const codec::Hash20* prev_tenure = nullptr) {
  std::vector<codec::NakamotoBlock> out;
  for (std::size_t i = 0; i < n; ++i) {
    auto [txs, root] = block_txs(min_bytes, 2'000'000 + (height + i) * 100'000);
    if (i == 0 && prev_tenure != nullptr) {
      codec::StacksTransaction tc = mainnet_tx(miner, height, 0);
      tc.anchor_mode = 1;
      tc.payload.id = static_cast<std::uint8_t>(codec::PayloadId::kTenureChange);
      tc.payload.tenure_change.tenure_consensus_hash = tenure;
      tc.payload.tenure_change.prev_tenure_consensus_hash = *prev_tenure;
      tc.payload.tenure_change.burn_view_consensus_hash = tenure;
      tc.payload.tenure_change.previous_tenure_end = parent;
      tc.payload.tenure_change.previous_tenure_blocks = 1;
      tc.payload.tenure_change.cause = 0;  // BlockFound
      const auto pk = miner.public_key().compressed();
      tc.payload.tenure_change.pubkey_hash = crypto::hash160(ByteSpan(pk.data(), pk.size()));
      validate::sign_singlesig_origin(tc, miner);
      txs.insert(txs.begin(), std::move(tc));
      std::vector<codec::Hash32> ids;
      for (const auto& tx : txs) ids.push_back(tx.txid);
      root = crypto::merkle_root(ids);
    }
    out.push_back(nakamoto_block_of(std::move(txs), root, height + i, signers, miner, &tenure, &parent));
    parent = out.back().block_id;
  }
  return out;
}

}  // namespace relay::sim
