#include "control/cli/decode.hpp"

#include <arpa/inet.h>

#include <sstream>

#include "control/cli/json.hpp"
#include "relay/codec/message.hpp"
#include "relay/crypto/merkle.hpp"

namespace relay::cli {

using namespace relay::codec;

namespace {

std::string ip_string(const Addr16& a) {
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN] = {};
  if (std::equal(kMapped, kMapped + 12, a.begin())) {
    inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  }
  return buf;
}

void key_hash_fields(Json& j, const char* prefix, const crypto::PublicKey& k) {
  auto c = k.compressed();
  std::string p(prefix);
  j.kv_hex(p + "public_key", c);
  j.kv_hex(p + "public_key_hash", crypto::hash160(ByteSpan(c.data(), c.size())));
}

void address_json(Json& j, std::string_view k, const StacksAddress& a) {
  j.key(k).begin_object().kv("version", a.version).kv_hex("hash160", a.hash).end_object();
}

void principal_json(Json& j, std::string_view k, const Principal& p) {
  j.key(k).begin_object();
  j.kv("type", p.is_contract ? "contract" : "standard");
  address_json(j, "address", p.address);
  if (p.is_contract) j.kv("contract_name", p.contract_name);
  j.end_object();
}

void condition_json(Json& j, const SpendingCondition& c) {
  j.begin_object();
  j.kv("hash_mode", c.hash_mode).kv_hex("signer", c.signer).kv("nonce", c.nonce).kv("fee", c.tx_fee);
  if (is_singlesig(c.hash_mode)) {
    j.kv("key_encoding", c.key_encoding).kv_hex("signature", c.signature);
  } else {
    j.kv("signatures_required", c.signatures_required);
    j.key("fields").begin_array();
    for (const auto& f : c.fields) {
      j.begin_object().kv("type", f.is_signature() ? "signature" : "public_key").kv_bool("compressed", f.compressed());
      if (f.is_signature()) j.kv_hex("signature", f.signature);
      else j.kv_hex("public_key", f.public_key);
      j.end_object();
    }
    j.end_array();
  }
  j.end_object();
}

void post_condition_json(Json& j, const PostCondition& pc) {
  static constexpr const char* kKinds[] = {"stx", "fungible", "nonfungible", "staking", "pox"};
  j.begin_object().kv("type", pc.kind).kv("kind", pc.kind < 5 ? kKinds[pc.kind] : "unknown");
  j.key("principal").begin_object().kv("type", pc.principal.id);
  if (pc.principal.id >= 2) address_json(j, "address", pc.principal.address);
  if (pc.principal.id == 3) j.kv("contract_name", pc.principal.contract_name);
  j.end_object();
  if (pc.kind == 1 || pc.kind == 2) {
    j.key("asset").begin_object();
    address_json(j, "address", pc.asset.address);
    j.kv("contract_name", pc.asset.contract_name).kv("asset_name", pc.asset.asset_name).end_object();
  }
  if (pc.kind == 2) j.kv("asset_value", clarity_repr(pc.asset_value.raw));
  j.kv("condition_code", pc.code);
  if (pc.kind == 0 || pc.kind == 1 || pc.kind == 3) j.kv("amount", pc.amount);
  j.end_object();
}

void microblock_header_json(Json& j, const MicroblockHeader& h) {
  j.begin_object()
      .kv("version", h.version)
      .kv("sequence", h.sequence)
      .kv_hex("prev_block", h.prev_block)
      .kv_hex("tx_merkle_root", h.tx_merkle_root)
      .kv_hex("signature", h.signature);
  StacksMicroblock m;
  m.header = h;
  compute_ids(m);
  j.kv_hex("microblock_hash", m.block_hash);
  if (auto s = validate::microblock_signer_hash(h)) j.kv_hex("signer_public_key_hash", *s);
  else j.key("signer_public_key_hash").null();
  j.end_object();
}

void payload_json(Json& j, const TxPayload& p) {
  j.begin_object().kv("type", p.id).kv("name", payload_name(p.id));
  switch (static_cast<PayloadId>(p.id)) {
    case PayloadId::kTokenTransfer:
      principal_json(j, "recipient", p.recipient);
      j.kv("amount", p.amount).kv_hex("memo", p.memo);
      break;
    case PayloadId::kSmartContract:
    case PayloadId::kVersionedSmartContract:
      if (p.id == 6) j.kv("clarity_version", p.clarity_version);
      j.kv("contract_name", p.contract_name).kv("code_length", p.code_body.size());
      break;
    case PayloadId::kContractCall:
      address_json(j, "contract_address", p.contract_address);
      j.kv("contract_name", p.contract_name).kv("function_name", p.function_name);
      j.key("args").begin_array();
      for (const auto& a : p.args) j.str(clarity_repr(a.raw));
      j.end_array();
      break;
    case PayloadId::kPoisonMicroblock:
      j.key("header_1");
      microblock_header_json(j, p.poison_h1);
      j.key("header_2");
      microblock_header_json(j, p.poison_h2);
      break;
    case PayloadId::kCoinbase: j.kv_hex("coinbase_payload", p.coinbase_payload); break;
    case PayloadId::kCoinbaseToAltRecipient:
      j.kv_hex("coinbase_payload", p.coinbase_payload);
      if (p.alt_recipient) principal_json(j, "recipient", *p.alt_recipient);
      break;
    case PayloadId::kTenureChange: {
      const TenureChange& t = p.tenure_change;
      j.kv_hex("tenure_consensus_hash", t.tenure_consensus_hash)
          .kv_hex("prev_tenure_consensus_hash", t.prev_tenure_consensus_hash)
          .kv_hex("burn_view_consensus_hash", t.burn_view_consensus_hash)
          .kv_hex("previous_tenure_end", t.previous_tenure_end)
          .kv("previous_tenure_blocks", t.previous_tenure_blocks)
          .kv("cause", t.cause)
          .kv_hex("pubkey_hash", t.pubkey_hash);
      break;
    }
    case PayloadId::kNakamotoCoinbase:
      j.kv_hex("coinbase_payload", p.coinbase_payload);
      if (p.alt_recipient) principal_json(j, "recipient", *p.alt_recipient);
      else j.key("recipient").null();
      j.kv_hex("vrf_proof", p.vrf_proof);
      break;
  }
  j.end_object();
}

// tx_fields: the transaction's fields into the object being written.
void tx_fields(Json& j, const StacksTransaction& tx, bool brief) {
  j.kv_hex("txid", tx.txid).kv("size", tx.encoded_size);
  auto check = validate::verify_origin(tx);
  if (!brief) {
    j.kv("version", tx.version).kv("network", tx.mainnet() ? "mainnet" : "testnet").kv("chain_id", tx.chain_id);
    j.key("auth").begin_object().kv("type", tx.auth.sponsored() ? "sponsored" : "standard");
    j.key("origin");
    condition_json(j, tx.auth.origin);
    if (tx.auth.sponsored()) {
      j.key("sponsor");
      condition_json(j, tx.auth.sponsor);
    }
    j.end_object();
    j.kv("anchor_mode", tx.anchor_mode).kv("post_condition_mode", tx.post_condition_mode);
    j.key("post_conditions").begin_array();
    for (const auto& pc : tx.post_conditions) post_condition_json(j, pc);
    j.end_array();
    j.key("payload");
    payload_json(j, tx.payload);
  } else {
    j.kv("payload_type", tx.payload.id).kv("payload_name", payload_name(tx.payload.id));
  }
  j.kv_bool("origin_signature_valid", check.ok);
  if (!check.ok) j.kv("origin_signature_error", check.reason);
  if (tx.auth.sponsored()) {
    auto s = check.ok ? validate::verify_sponsor(tx, check.next_sighash) : validate::AuthCheck{};
    j.kv_bool("sponsor_signature_valid", s.ok);
    if (!s.ok) j.kv("sponsor_signature_error", check.ok ? s.reason : "origin signature invalid");
  }
}

void tx_json(Json& j, const StacksTransaction& tx, bool brief = false) {
  j.begin_object();
  tx_fields(j, tx, brief);
  j.end_object();
}

void txs_json(Json& j, const std::vector<StacksTransaction>& txs, const Hash32& header_root) {
  std::vector<Hash32> ids;
  for (const auto& tx : txs) ids.push_back(tx.txid);
  Hash32 root = crypto::merkle_root(ids);
  j.kv_hex("computed_tx_merkle_root", root).kv_bool("tx_merkle_root_matches", root == header_root);
  j.kv("tx_count", txs.size());
  j.key("txs").begin_array();
  for (const auto& tx : txs) tx_json(j, tx, true);
  j.end_array();
}

void stacks_block_json(Json& j, const StacksBlock& b, const std::optional<Hash20>& ch) {
  const StacksBlockHeader& h = b.header;
  j.kv_hex("block_hash", b.block_hash);
  if (ch) j.kv_hex("index_block_hash", block_index_hash(b.block_hash, *ch));
  j.key("header").begin_object()
      .kv("version", h.version).kv("total_burn", h.total_burn).kv("total_work", h.total_work)
      .kv_hex("vrf_proof", h.proof).kv_hex("parent_block", h.parent_block)
      .kv_hex("parent_microblock", h.parent_microblock)
      .kv("parent_microblock_sequence", h.parent_microblock_sequence)
      .kv_hex("tx_merkle_root", h.tx_merkle_root).kv_hex("state_index_root", h.state_index_root)
      .kv_hex("microblock_pubkey_hash", h.microblock_pubkey_hash)
      .end_object();
  txs_json(j, b.txs, h.tx_merkle_root);
}

void microblock_json(Json& j, const StacksMicroblock& m) {
  j.kv_hex("microblock_hash", m.block_hash);
  j.key("header");
  microblock_header_json(j, m.header);
  txs_json(j, m.txs, m.header.tx_merkle_root);
}

void nakamoto_json(Json& j, const NakamotoBlock& b, const DecodeOptions& opts) {
  const NakamotoBlockHeader& h = b.header;
  j.kv_hex("block_id", b.block_id).kv_hex("block_hash", b.block_hash).kv_hex("miner_signature_hash", b.miner_sighash);
  j.kv("size", b.encoded_size);
  j.key("header").begin_object()
      .kv("version", h.version).kv_bool("shadow", (h.version & 0x80) != 0)
      .kv("chain_length", h.chain_length).kv("burn_spent", h.burn_spent)
      .kv_hex("consensus_hash", h.consensus_hash).kv_hex("parent_block_id", h.parent_block_id)
      .kv_hex("tx_merkle_root", h.tx_merkle_root).kv_hex("state_index_root", h.state_index_root)
      .kv("timestamp", h.timestamp).kv_hex("miner_signature", h.miner_signature)
      .kv("signer_signature_count", h.signer_signature.size())
      .kv("pox_treatment_bits", h.pox_treatment.len);
  if (h.has_problematic_txs()) {
    j.key("problematic_txs").begin_array();
    for (const auto& p : h.problematic_txs) j.begin_object().kv("tx_index", p.tx_index).kv("category", p.category).end_object();
    j.end_array();
  }
  j.end_object();
  if (auto k = validate::nakamoto_miner_key(b)) key_hash_fields(j, "miner_", *k);
  else j.key("miner_public_key").null();
  j.key("signer_public_keys").begin_array();
  for (const auto& sig : h.signer_signature) {
    if (auto k = crypto::recover(b.block_hash, sig, crypto::LowS::kIgnore)) j.hex(k->compressed());
    else j.null();
  }
  j.end_array();
  if (opts.reward_set) {
    auto r = validate::verify_signer_signatures(b, *opts.reward_set);
    j.key("signer_check").begin_object()
        .kv_bool("valid", r.ok).kv("weight_signed", r.weight_signed).kv("total_weight", r.total_weight)
        .kv("threshold", r.threshold);
    if (!r.ok) j.kv("error", r.reason);
    j.end_object();
  }
  txs_json(j, b.txs, h.tx_merkle_root);
}

void handshake_json(Json& j, const HandshakeData& h) {
  j.kv_hex("addrbytes", h.addrbytes).kv("ip", ip_string(h.addrbytes)).kv("port", h.port)
      .kv("services", h.services).kv_hex("node_public_key", h.node_public_key)
      .kv("expire_block_height", h.expire_block_height).kv("data_url", h.data_url);
  auto c = h.node_public_key;
  j.kv_hex("node_public_key_hash", crypto::hash160(ByteSpan(c.data(), c.size())));
}

void neighbor_json(Json& j, const NeighborAddress& a) {
  j.begin_object().kv("ip", ip_string(a.addrbytes)).kv("port", a.port).kv_hex("public_key_hash", a.public_key_hash).end_object();
}

void contract_id_json(Json& j, std::string_view k, const ContractId& c) {
  j.key(k).begin_object();
  address_json(j, "address", c.address);
  j.kv("name", c.name).end_object();
}

void chunk_json(Json& j, const StackerDBChunkData& c, const std::optional<Hash20>& owner) {
  j.kv("slot_id", c.slot_id).kv("slot_version", c.slot_version).kv_hex("signature", c.sig)
      .kv("data_length", c.data.size()).kv_hex("data_hash", crypto::sha512_256(c.data))
      .kv_hex("signed_digest", validate::stackerdb_chunk_digest(c));
  auto signer = validate::stackerdb_chunk_signer_hash(c);
  if (signer) j.kv_hex("signer_public_key_hash", *signer);
  else j.key("signer_public_key_hash").null();
  if (owner) j.kv_bool("signature_valid", signer && *signer == *owner);
}

void message_payload_json(Json& j, const Payload& p, const DecodeOptions& opts) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Handshake>) {
          handshake_json(j, m.data);
        } else if constexpr (std::is_same_v<T, HandshakeAccept>) {
          handshake_json(j, m.data.handshake);
          j.kv("heartbeat_interval", m.data.heartbeat_interval);
        } else if constexpr (std::is_same_v<T, StackerDBHandshakeAccept>) {
          handshake_json(j, m.accept.handshake);
          j.kv("heartbeat_interval", m.accept.heartbeat_interval).kv_hex("rc_consensus_hash", m.db.rc_consensus_hash);
          j.key("smart_contracts").begin_array();
          for (const auto& c : m.db.smart_contracts) {
            j.begin_object();
            address_json(j, "address", c.address);
            j.kv("name", c.name).end_object();
          }
          j.end_array();
        } else if constexpr (std::is_same_v<T, Neighbors>) {
          j.key("neighbors").begin_array();
          for (const auto& a : m.neighbors) neighbor_json(j, a);
          j.end_array();
        } else if constexpr (std::is_same_v<T, GetBlocksInv>) {
          j.kv_hex("consensus_hash", m.consensus_hash).kv("num_blocks", m.num_blocks);
        } else if constexpr (std::is_same_v<T, BlocksInv>) {
          j.kv("bitlen", m.bitlen).kv_hex("block_bitvec", m.block_bitvec).kv_hex("microblocks_bitvec", m.microblocks_bitvec);
        } else if constexpr (std::is_same_v<T, GetPoxInv>) {
          j.kv_hex("consensus_hash", m.consensus_hash).kv("num_cycles", m.num_cycles);
        } else if constexpr (std::is_same_v<T, PoxInv>) {
          j.kv("bitlen", m.bitlen).kv_hex("pox_bitvec", m.pox_bitvec);
        } else if constexpr (std::is_same_v<T, BlocksAvailable> || std::is_same_v<T, MicroblocksAvailable>) {
          j.key("available").begin_array();
          for (const auto& a : m.available)
            j.begin_object().kv_hex("consensus_hash", a.consensus_hash).kv_hex("burn_header_hash", a.burn_header_hash).end_object();
          j.end_array();
        } else if constexpr (std::is_same_v<T, Blocks>) {
          j.key("blocks").begin_array();
          for (const auto& b : m.blocks) {
            j.begin_object().kv_hex("consensus_hash", b.consensus_hash);
            stacks_block_json(j, b.block, b.consensus_hash);
            j.end_object();
          }
          j.end_array();
        } else if constexpr (std::is_same_v<T, Microblocks>) {
          j.kv_hex("index_anchor_block", m.index_anchor_block);
          j.key("microblocks").begin_array();
          for (const auto& mb : m.microblocks) {
            j.begin_object();
            microblock_json(j, mb);
            j.end_object();
          }
          j.end_array();
        } else if constexpr (std::is_same_v<T, Transaction>) {
          j.key("transaction");
          tx_json(j, m.tx);
        } else if constexpr (std::is_same_v<T, Nack>) {
          j.kv("error_code", m.error_code);
        } else if constexpr (std::is_same_v<T, Ping> || std::is_same_v<T, Pong> ||
                             std::is_same_v<T, NatPunchRequest>) {
          j.kv("nonce", m.nonce);
        } else if constexpr (std::is_same_v<T, NatPunchReply>) {
          j.kv("ip", ip_string(m.addrbytes)).kv("port", m.port).kv("nonce", m.nonce);
        } else if constexpr (std::is_same_v<T, StackerDBGetChunkInv>) {
          contract_id_json(j, "contract_id", m.contract_id);
          j.kv_hex("rc_consensus_hash", m.rc_consensus_hash);
        } else if constexpr (std::is_same_v<T, StackerDBChunkInv>) {
          j.key("slot_versions").begin_array();
          for (auto v : m.slot_versions) j.num(v);
          j.end_array().kv("num_outbound_replicas", m.num_outbound_replicas);
        } else if constexpr (std::is_same_v<T, StackerDBGetChunk>) {
          contract_id_json(j, "contract_id", m.contract_id);
          j.kv_hex("rc_consensus_hash", m.rc_consensus_hash).kv("slot_id", m.slot_id).kv("slot_version", m.slot_version);
        } else if constexpr (std::is_same_v<T, StackerDBChunk>) {
          chunk_json(j, m.chunk, std::nullopt);
        } else if constexpr (std::is_same_v<T, StackerDBPushChunk>) {
          contract_id_json(j, "contract_id", m.contract_id);
          j.kv_hex("rc_consensus_hash", m.rc_consensus_hash);
          j.key("chunk").begin_object();
          chunk_json(j, m.chunk, std::nullopt);
          j.end_object();
        } else if constexpr (std::is_same_v<T, GetNakamotoInv>) {
          j.kv_hex("consensus_hash", m.consensus_hash);
        } else if constexpr (std::is_same_v<T, NakamotoInv>) {
          j.kv("bitlen", m.tenures.len).kv_hex("bitvec", m.tenures.data);
        } else if constexpr (std::is_same_v<T, NakamotoBlocks>) {
          j.key("blocks").begin_array();
          for (const auto& b : m.blocks) {
            j.begin_object();
            nakamoto_json(j, b, opts);
            j.end_object();
          }
          j.end_array();
        }
      },
      p);
}

void message_json(Json& j, ByteSpan raw, const Message& m, const DecodeOptions& opts) {
  const Preamble& p = m.preamble;
  j.kv("size", raw.size());
  j.key("preamble").begin_object()
      .kv("peer_version", p.peer_version).kv("network_id", p.network_id).kv("seq", p.seq)
      .kv("burn_block_height", p.burn_block_height).kv_hex("burn_block_hash", p.burn_block_hash)
      .kv("burn_stable_block_height", p.burn_stable_block_height).kv_hex("burn_stable_block_hash", p.burn_stable_block_hash)
      .kv("additional_data", p.additional_data).kv_hex("signature", p.signature).kv("payload_len", p.payload_len)
      .end_object();
  j.key("relayers").begin_array();
  for (const auto& r : m.relayers) {
    j.begin_object().kv("ip", ip_string(r.peer.addrbytes)).kv("port", r.peer.port)
        .kv_hex("public_key_hash", r.peer.public_key_hash).kv("seq", r.seq).end_object();
  }
  j.end_array();
  auto signer = validate::recover_message_signer(raw);
  if (!signer) {
    // Distinguish a high-S signature (recovers, but a node refuses it) from garbage.
    Hash32 d = validate::message_digest(raw.first(kPreambleSize), raw.subspan(kPreambleSize));
    if (auto k = crypto::recover(d, p.signature, crypto::LowS::kIgnore)) {
      key_hash_fields(j, "signer_", *k);
      j.kv_bool("signature_valid", false).kv("signature_error", "high-S signature");
    } else {
      j.key("signer_public_key").null().kv_bool("signature_valid", false).kv("signature_error", "signature does not recover");
    }
  } else {
    key_hash_fields(j, "signer_", *signer);
    j.kv_bool("signature_valid", true);
  }
  if (m.relayers.size() > 0 && signer) {
    auto c = signer->compressed();
    Hash20 me = crypto::hash160(ByteSpan(c.data(), 33));
    bool cycle = false;
    for (std::size_t i = 0; i < m.relayers.size(); ++i)
      for (std::size_t k = i + 1; k < m.relayers.size(); ++k)
        cycle |= m.relayers[i].peer.public_key_hash == m.relayers[k].peer.public_key_hash;
    j.kv_bool("relayers_have_cycle", cycle);
    j.kv_bool("signer_is_last_relayer", m.relayers.back().peer.public_key_hash == me);
  }
  auto id = static_cast<std::uint8_t>(payload_id(m.payload));
  j.key("payload").begin_object().kv("type", id).kv("name", msg_name(id));
  message_payload_json(j, m.payload, opts);
  j.end_object();
}

DecodeResult invalid(const Error& e) {
  DecodeResult r;
  r.status = 2;
  r.error = "invalid at byte " + std::to_string(e.offset) + ": " + e.reason + " (" + errc_name(e.code) + ")";
  return r;
}

template <typename T, typename Fn>
DecodeResult decode_with(ByteSpan in, void (*read)(Reader&, T&), const char* kind, Fn&& render) {
  auto v = decode_exact<T>(in, read);
  if (!v.ok()) return invalid(v.error());
  Json j;
  j.begin_object().kv("kind", kind);
  render(j, *v);
  j.end_object();
  return DecodeResult{0, j.text(), {}};
}

}  // namespace

std::optional<DecodeKind> parse_decode_kind(std::string_view s) {
  if (s == "message") return DecodeKind::kMessage;
  if (s == "tx" || s == "transaction") return DecodeKind::kTx;
  if (s == "block") return DecodeKind::kBlock;
  if (s == "microblock") return DecodeKind::kMicroblock;
  if (s == "nakamoto-block") return DecodeKind::kNakamotoBlock;
  if (s == "stackerdb-chunk") return DecodeKind::kStackerDbChunk;
  return std::nullopt;
}

DecodeResult decode_to_json(DecodeKind kind, ByteSpan in, const DecodeOptions& opts) {
  switch (kind) {
    case DecodeKind::kMessage: {
      auto m = decode_message(in);
      if (!m.ok()) return invalid(m.error());
      Json j;
      j.begin_object().kv("kind", "message");
      message_json(j, in, *m, opts);
      j.end_object();
      return DecodeResult{0, j.text(), {}};
    }
    case DecodeKind::kTx:
      return decode_with<StacksTransaction>(in, read_transaction, "tx",
                                            [](Json& j, const StacksTransaction& tx) { tx_fields(j, tx, false); });
    case DecodeKind::kBlock:
      if (in.size() > kMaxBlockLen)  // the node reads a 2.x block through a 2 MiB bound
        return invalid(Error{Errc::kLimit, static_cast<std::uint32_t>(kMaxBlockLen), "block larger than 2 MiB"});
      return decode_with<StacksBlock>(in, read_stacks_block, "block",
                                      [&](Json& j, const StacksBlock& b) { stacks_block_json(j, b, opts.consensus_hash); });
    case DecodeKind::kMicroblock:
      return decode_with<StacksMicroblock>(in, read_microblock, "microblock",
                                           [](Json& j, const StacksMicroblock& m) { microblock_json(j, m); });
    case DecodeKind::kNakamotoBlock:
      return decode_with<NakamotoBlock>(in, read_nakamoto_block, "nakamoto-block",
                                        [&](Json& j, const NakamotoBlock& b) { nakamoto_json(j, b, opts); });
    case DecodeKind::kStackerDbChunk:
      return decode_with<StackerDBChunkData>(in, read_stackerdb_chunk, "stackerdb-chunk",
                                             [&](Json& j, const StackerDBChunkData& c) { chunk_json(j, c, opts.slot_owner); });
  }
  return DecodeResult{1, {}, "unknown kind"};
}

namespace {

bool parse_weight(std::string_view s, std::uint32_t& out) {
  std::uint64_t v = 0;
  if (s.empty() || s.size() > 10) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

// The value after `"key":` inside `obj` (string contents or bare number), or "".
std::string_view json_field(std::string_view obj, std::string_view key) {
  std::string quoted = "\"" + std::string(key) + "\"";
  std::size_t at = obj.find(quoted);
  if (at == std::string_view::npos) return {};
  at = obj.find(':', at + quoted.size());
  if (at == std::string_view::npos) return {};
  ++at;
  while (at < obj.size() && (obj[at] == ' ' || obj[at] == '\n' || obj[at] == '\t' || obj[at] == '\r')) ++at;
  if (at < obj.size() && obj[at] == '"') {
    std::size_t end = obj.find('"', at + 1);
    return end == std::string_view::npos ? std::string_view{} : obj.substr(at + 1, end - at - 1);
  }
  std::size_t end = at;
  while (end < obj.size() && obj[end] >= '0' && obj[end] <= '9') ++end;
  return obj.substr(at, end - at);
}

}  // namespace

std::optional<std::vector<validate::RewardSetSigner>> parse_reward_set(std::string_view text, std::string& err) {
  std::vector<validate::RewardSetSigner> out;
  if (text.find('{') != std::string_view::npos) {
    // The node's JSON: every innermost object carrying "signing_key" is one signer.
    std::size_t pos = 0;
    while ((pos = text.find("\"signing_key\"", pos)) != std::string_view::npos) {
      std::size_t open = text.rfind('{', pos);
      std::size_t close = text.find('}', pos);
      if (open == std::string_view::npos || close == std::string_view::npos) break;
      std::string_view obj = text.substr(open, close - open + 1);
      std::string_view key = json_field(obj, "signing_key");
      if (key.substr(0, 2) == "0x") key.remove_prefix(2);
      auto k = array_from_hex<33>(key);
      std::uint32_t w = 0;
      if (!k || !parse_weight(json_field(obj, "weight"), w)) {
        err = "bad signer entry: " + std::string(obj.substr(0, 100));
        return std::nullopt;
      }
      out.push_back({*k, w});
      pos = close;
    }
  } else {
    std::size_t line_no = 0;
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('\n', start);
      std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
      start = end == std::string_view::npos ? text.size() + 1 : end + 1;
      ++line_no;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      if (line.empty() || line[0] == '#') continue;
      std::size_t sp = line.find_first_of(" \t");
      std::string_view k = line.substr(0, sp);
      std::string_view w = sp == std::string_view::npos ? std::string_view{} : line.substr(line.find_first_not_of(" \t", sp));
      auto key33 = array_from_hex<33>(k);
      std::uint32_t weight = 0;
      if (!key33 || !parse_weight(w, weight)) {
        err = "line " + std::to_string(line_no) + ": expected PUBKEYHEX(33 bytes) WEIGHT";
        return std::nullopt;
      }
      out.push_back({*key33, weight});
    }
  }
  if (out.empty()) {
    err = "no signers found";
    return std::nullopt;
  }
  return out;
}

}  // namespace relay::cli
