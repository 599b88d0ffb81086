#include "control/cli/decode.hpp"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "control/rewards/stacker_set.hpp"
#include "relay/base/hex.hpp"
#include "relay/codec/message.hpp"
#include "relay/crypto/merkle.hpp"

namespace relay::cli {

using namespace relay::codec;
using Json = nlohmann::ordered_json;

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

// One line of JSON. Every string decode prints is valid UTF-8 (the codec checks names,
// URLs and Clarity strings); `replace` only keeps a broken one from throwing.
std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void key_hash_fields(Json& o, const char* prefix, const crypto::PublicKey& k) {
  auto c = k.compressed();
  std::string p(prefix);
  o[p + "public_key"] = to_hex(c);
  o[p + "public_key_hash"] = to_hex(crypto::hash160(ByteSpan(c.data(), c.size())));
}

Json address_json(const StacksAddress& a) { return {{"version", a.version}, {"hash160", to_hex(a.hash)}}; }

Json principal_json(const Principal& p) {
  Json o = Json::object();
  o["type"] = p.is_contract ? "contract" : "standard";
  o["address"] = address_json(p.address);
  if (p.is_contract) o["contract_name"] = p.contract_name;
  return o;
}

Json condition_json(const SpendingCondition& c) {
  Json o = {{"hash_mode", c.hash_mode}, {"signer", to_hex(c.signer)}, {"nonce", c.nonce}, {"fee", c.tx_fee}};
  if (is_singlesig(c.hash_mode)) {
    o["key_encoding"] = c.key_encoding;
    o["signature"] = to_hex(c.signature);
  } else {
    o["signatures_required"] = c.signatures_required;
    Json fields = Json::array();
    for (const auto& f : c.fields) {
      Json e = {{"type", f.is_signature() ? "signature" : "public_key"}, {"compressed", f.compressed()}};
      if (f.is_signature()) e["signature"] = to_hex(f.signature);
      else e["public_key"] = to_hex(f.public_key);
      fields.push_back(std::move(e));
    }
    o["fields"] = std::move(fields);
  }
  return o;
}

Json post_condition_json(const PostCondition& pc) {
  static constexpr const char* kKinds[] = {"stx", "fungible", "nonfungible", "staking", "pox"};
  Json o = {{"type", pc.kind}, {"kind", pc.kind < 5 ? kKinds[pc.kind] : "unknown"}};
  Json principal = {{"type", pc.principal.id}};
  if (pc.principal.id >= 2) principal["address"] = address_json(pc.principal.address);
  if (pc.principal.id == 3) principal["contract_name"] = pc.principal.contract_name;
  o["principal"] = std::move(principal);
  if (pc.kind == 1 || pc.kind == 2) {
    o["asset"] = {{"address", address_json(pc.asset.address)},
                  {"contract_name", pc.asset.contract_name},
                  {"asset_name", pc.asset.asset_name}};
  }
  if (pc.kind == 2) o["asset_value"] = clarity_repr(pc.asset_value.raw);
  o["condition_code"] = pc.code;
  if (pc.kind == 0 || pc.kind == 1 || pc.kind == 3) o["amount"] = pc.amount;
  return o;
}

Json microblock_header_json(const MicroblockHeader& h) {
  Json o = {{"version", h.version},
            {"sequence", h.sequence},
            {"prev_block", to_hex(h.prev_block)},
            {"tx_merkle_root", to_hex(h.tx_merkle_root)},
            {"signature", to_hex(h.signature)}};
  StacksMicroblock m;
  m.header = h;
  compute_ids(m);
  o["microblock_hash"] = to_hex(m.block_hash);
  if (auto s = validate::microblock_signer_hash(h)) o["signer_public_key_hash"] = to_hex(*s);
  else o["signer_public_key_hash"] = nullptr;
  return o;
}

Json payload_json(const TxPayload& p) {
  Json o = {{"type", p.id}, {"name", payload_name(p.id)}};
  switch (static_cast<PayloadId>(p.id)) {
    case PayloadId::kTokenTransfer:
      o["recipient"] = principal_json(p.recipient);
      o["amount"] = p.amount;
      o["memo"] = to_hex(p.memo);
      break;
    case PayloadId::kSmartContract:
    case PayloadId::kVersionedSmartContract:
      if (p.id == 6) o["clarity_version"] = p.clarity_version;
      o["contract_name"] = p.contract_name;
      o["code_length"] = p.code_body.size();
      break;
    case PayloadId::kContractCall: {
      o["contract_address"] = address_json(p.contract_address);
      o["contract_name"] = p.contract_name;
      o["function_name"] = p.function_name;
      Json args = Json::array();
      for (const auto& a : p.args) args.push_back(clarity_repr(a.raw));
      o["args"] = std::move(args);
      break;
    }
    case PayloadId::kPoisonMicroblock:
      o["header_1"] = microblock_header_json(p.poison_h1);
      o["header_2"] = microblock_header_json(p.poison_h2);
      break;
    case PayloadId::kCoinbase: o["coinbase_payload"] = to_hex(p.coinbase_payload); break;
    case PayloadId::kCoinbaseToAltRecipient:
      o["coinbase_payload"] = to_hex(p.coinbase_payload);
      if (p.alt_recipient) o["recipient"] = principal_json(*p.alt_recipient);
      break;
    case PayloadId::kTenureChange: {
      const TenureChange& t = p.tenure_change;
      o["tenure_consensus_hash"] = to_hex(t.tenure_consensus_hash);
      o["prev_tenure_consensus_hash"] = to_hex(t.prev_tenure_consensus_hash);
      o["burn_view_consensus_hash"] = to_hex(t.burn_view_consensus_hash);
      o["previous_tenure_end"] = to_hex(t.previous_tenure_end);
      o["previous_tenure_blocks"] = t.previous_tenure_blocks;
      o["cause"] = t.cause;
      o["pubkey_hash"] = to_hex(t.pubkey_hash);
      break;
    }
    case PayloadId::kNakamotoCoinbase:
      o["coinbase_payload"] = to_hex(p.coinbase_payload);
      if (p.alt_recipient) o["recipient"] = principal_json(*p.alt_recipient);
      else o["recipient"] = nullptr;
      o["vrf_proof"] = to_hex(p.vrf_proof);
      break;
  }
  return o;
}

// tx_fields: the transaction's fields into the object `o`.
void tx_fields(Json& o, const StacksTransaction& tx, bool brief) {
  o["txid"] = to_hex(tx.txid);
  o["size"] = tx.encoded_size;
  auto check = validate::verify_origin(tx);
  if (!brief) {
    o["version"] = tx.version;
    o["network"] = tx.mainnet() ? "mainnet" : "testnet";
    o["chain_id"] = tx.chain_id;
    Json auth = Json::object();
    auth["type"] = tx.auth.sponsored() ? "sponsored" : "standard";
    auth["origin"] = condition_json(tx.auth.origin);
    if (tx.auth.sponsored()) auth["sponsor"] = condition_json(tx.auth.sponsor);
    o["auth"] = std::move(auth);
    o["anchor_mode"] = tx.anchor_mode;
    o["post_condition_mode"] = tx.post_condition_mode;
    Json pcs = Json::array();
    for (const auto& pc : tx.post_conditions) pcs.push_back(post_condition_json(pc));
    o["post_conditions"] = std::move(pcs);
    o["payload"] = payload_json(tx.payload);
  } else {
    o["payload_type"] = tx.payload.id;
    o["payload_name"] = payload_name(tx.payload.id);
  }
  o["origin_signature_valid"] = check.ok;
  if (!check.ok) o["origin_signature_error"] = check.reason;
  if (tx.auth.sponsored()) {
    auto s = check.ok ? validate::verify_sponsor(tx, check.next_sighash) : validate::AuthCheck{};
    o["sponsor_signature_valid"] = s.ok;
    if (!s.ok) o["sponsor_signature_error"] = check.ok ? s.reason : "origin signature invalid";
  }
}

Json tx_json(const StacksTransaction& tx, bool brief = false) {
  Json o = Json::object();
  tx_fields(o, tx, brief);
  return o;
}

void txs_json(Json& o, const std::vector<StacksTransaction>& txs, const Hash32& header_root) {
  std::vector<Hash32> ids;
  for (const auto& tx : txs) ids.push_back(tx.txid);
  Hash32 root = crypto::merkle_root(ids);
  o["computed_tx_merkle_root"] = to_hex(root);
  o["tx_merkle_root_matches"] = root == header_root;
  o["tx_count"] = txs.size();
  Json list = Json::array();
  for (const auto& tx : txs) list.push_back(tx_json(tx, true));
  o["txs"] = std::move(list);
}

void stacks_block_json(Json& o, const StacksBlock& b, const std::optional<Hash20>& ch) {
  const StacksBlockHeader& h = b.header;
  o["block_hash"] = to_hex(b.block_hash);
  if (ch) o["index_block_hash"] = to_hex(block_index_hash(b.block_hash, *ch));
  o["header"] = {{"version", h.version},
                 {"total_burn", h.total_burn},
                 {"total_work", h.total_work},
                 {"vrf_proof", to_hex(h.proof)},
                 {"parent_block", to_hex(h.parent_block)},
                 {"parent_microblock", to_hex(h.parent_microblock)},
                 {"parent_microblock_sequence", h.parent_microblock_sequence},
                 {"tx_merkle_root", to_hex(h.tx_merkle_root)},
                 {"state_index_root", to_hex(h.state_index_root)},
                 {"microblock_pubkey_hash", to_hex(h.microblock_pubkey_hash)}};
  txs_json(o, b.txs, h.tx_merkle_root);
}

void microblock_json(Json& o, const StacksMicroblock& m) {
  o["microblock_hash"] = to_hex(m.block_hash);
  o["header"] = microblock_header_json(m.header);
  txs_json(o, m.txs, m.header.tx_merkle_root);
}

void nakamoto_json(Json& o, const NakamotoBlock& b, const DecodeOptions& opts) {
  const NakamotoBlockHeader& h = b.header;
  o["block_id"] = to_hex(b.block_id);
  o["block_hash"] = to_hex(b.block_hash);
  o["miner_signature_hash"] = to_hex(b.miner_sighash);
  o["size"] = b.encoded_size;
  Json hdr = {{"version", h.version},
              {"shadow", (h.version & 0x80) != 0},
              {"chain_length", h.chain_length},
              {"burn_spent", h.burn_spent},
              {"consensus_hash", to_hex(h.consensus_hash)},
              {"parent_block_id", to_hex(h.parent_block_id)},
              {"tx_merkle_root", to_hex(h.tx_merkle_root)},
              {"state_index_root", to_hex(h.state_index_root)},
              {"timestamp", h.timestamp},
              {"miner_signature", to_hex(h.miner_signature)},
              {"signer_signature_count", h.signer_signature.size()},
              {"pox_treatment_bits", h.pox_treatment.len}};
  if (h.has_problematic_txs()) {
    Json list = Json::array();
    for (const auto& p : h.problematic_txs) list.push_back({{"tx_index", p.tx_index}, {"category", p.category}});
    hdr["problematic_txs"] = std::move(list);
  }
  o["header"] = std::move(hdr);
  if (auto k = validate::nakamoto_miner_key(b)) key_hash_fields(o, "miner_", *k);
  else o["miner_public_key"] = nullptr;
  Json keys = Json::array();
  for (const auto& sig : h.signer_signature) {
    if (auto k = crypto::recover(b.block_hash, sig, crypto::LowS::kIgnore)) keys.push_back(to_hex(k->compressed()));
    else keys.push_back(nullptr);
  }
  o["signer_public_keys"] = std::move(keys);
  if (opts.reward_set) {
    auto r = validate::verify_signer_signatures(b, *opts.reward_set);
    Json sc = {{"valid", r.ok}, {"weight_signed", r.weight_signed}, {"total_weight", r.total_weight},
               {"threshold", r.threshold}};
    if (!r.ok) sc["error"] = r.reason;
    o["signer_check"] = std::move(sc);
  }
  txs_json(o, b.txs, h.tx_merkle_root);
}

void handshake_json(Json& o, const HandshakeData& h) {
  o["addrbytes"] = to_hex(h.addrbytes);
  o["ip"] = ip_string(h.addrbytes);
  o["port"] = h.port;
  o["services"] = h.services;
  o["node_public_key"] = to_hex(h.node_public_key);
  o["expire_block_height"] = h.expire_block_height;
  o["data_url"] = h.data_url;
  auto c = h.node_public_key;
  o["node_public_key_hash"] = to_hex(crypto::hash160(ByteSpan(c.data(), c.size())));
}

Json neighbor_json(const NeighborAddress& a) {
  return {{"ip", ip_string(a.addrbytes)}, {"port", a.port}, {"public_key_hash", to_hex(a.public_key_hash)}};
}

Json contract_id_json(const ContractId& c) { return {{"address", address_json(c.address)}, {"name", c.name}}; }

void chunk_json(Json& o, const StackerDBChunkData& c, const std::optional<Hash20>& owner) {
  o["slot_id"] = c.slot_id;
  o["slot_version"] = c.slot_version;
  o["signature"] = to_hex(c.sig);
  o["data_length"] = c.data.size();
  o["data_hash"] = to_hex(crypto::sha512_256(c.data));
  o["signed_digest"] = to_hex(validate::stackerdb_chunk_digest(c));
  auto signer = validate::stackerdb_chunk_signer_hash(c);
  if (signer) o["signer_public_key_hash"] = to_hex(*signer);
  else o["signer_public_key_hash"] = nullptr;
  if (owner) o["signature_valid"] = signer && *signer == *owner;
}

void message_payload_json(Json& o, const Payload& p, const DecodeOptions& opts) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Handshake>) {
          handshake_json(o, m.data);
        } else if constexpr (std::is_same_v<T, HandshakeAccept>) {
          handshake_json(o, m.data.handshake);
          o["heartbeat_interval"] = m.data.heartbeat_interval;
        } else if constexpr (std::is_same_v<T, StackerDBHandshakeAccept>) {
          handshake_json(o, m.accept.handshake);
          o["heartbeat_interval"] = m.accept.heartbeat_interval;
          o["rc_consensus_hash"] = to_hex(m.db.rc_consensus_hash);
          Json list = Json::array();
          for (const auto& c : m.db.smart_contracts) list.push_back(contract_id_json(c));
          o["smart_contracts"] = std::move(list);
        } else if constexpr (std::is_same_v<T, Neighbors>) {
          Json list = Json::array();
          for (const auto& a : m.neighbors) list.push_back(neighbor_json(a));
          o["neighbors"] = std::move(list);
        } else if constexpr (std::is_same_v<T, GetBlocksInv>) {
          o["consensus_hash"] = to_hex(m.consensus_hash);
          o["num_blocks"] = m.num_blocks;
        } else if constexpr (std::is_same_v<T, BlocksInv>) {
          o["bitlen"] = m.bitlen;
          o["block_bitvec"] = to_hex(m.block_bitvec);
          o["microblocks_bitvec"] = to_hex(m.microblocks_bitvec);
        } else if constexpr (std::is_same_v<T, GetPoxInv>) {
          o["consensus_hash"] = to_hex(m.consensus_hash);
          o["num_cycles"] = m.num_cycles;
        } else if constexpr (std::is_same_v<T, PoxInv>) {
          o["bitlen"] = m.bitlen;
          o["pox_bitvec"] = to_hex(m.pox_bitvec);
        } else if constexpr (std::is_same_v<T, BlocksAvailable> || std::is_same_v<T, MicroblocksAvailable>) {
          Json list = Json::array();
          for (const auto& a : m.available)
            list.push_back({{"consensus_hash", to_hex(a.consensus_hash)}, {"burn_header_hash", to_hex(a.burn_header_hash)}});
          o["available"] = std::move(list);
        } else if constexpr (std::is_same_v<T, Blocks>) {
          Json list = Json::array();
          for (const auto& b : m.blocks) {
            Json e = Json::object();
            e["consensus_hash"] = to_hex(b.consensus_hash);
            stacks_block_json(e, b.block, b.consensus_hash);
            list.push_back(std::move(e));
          }
          o["blocks"] = std::move(list);
        } else if constexpr (std::is_same_v<T, Microblocks>) {
          o["index_anchor_block"] = to_hex(m.index_anchor_block);
          Json list = Json::array();
          for (const auto& mb : m.microblocks) {
            Json e = Json::object();
            microblock_json(e, mb);
            list.push_back(std::move(e));
          }
          o["microblocks"] = std::move(list);
        } else if constexpr (std::is_same_v<T, Transaction>) {
          o["transaction"] = tx_json(m.tx);
        } else if constexpr (std::is_same_v<T, Nack>) {
          o["error_code"] = m.error_code;
        } else if constexpr (std::is_same_v<T, Ping> || std::is_same_v<T, Pong> ||
                             std::is_same_v<T, NatPunchRequest>) {
          o["nonce"] = m.nonce;
        } else if constexpr (std::is_same_v<T, NatPunchReply>) {
          o["ip"] = ip_string(m.addrbytes);
          o["port"] = m.port;
          o["nonce"] = m.nonce;
        } else if constexpr (std::is_same_v<T, StackerDBGetChunkInv>) {
          o["contract_id"] = contract_id_json(m.contract_id);
          o["rc_consensus_hash"] = to_hex(m.rc_consensus_hash);
        } else if constexpr (std::is_same_v<T, StackerDBChunkInv>) {
          o["slot_versions"] = m.slot_versions;
          o["num_outbound_replicas"] = m.num_outbound_replicas;
        } else if constexpr (std::is_same_v<T, StackerDBGetChunk>) {
          o["contract_id"] = contract_id_json(m.contract_id);
          o["rc_consensus_hash"] = to_hex(m.rc_consensus_hash);
          o["slot_id"] = m.slot_id;
          o["slot_version"] = m.slot_version;
        } else if constexpr (std::is_same_v<T, StackerDBChunk>) {
          chunk_json(o, m.chunk, std::nullopt);
        } else if constexpr (std::is_same_v<T, StackerDBPushChunk>) {
          o["contract_id"] = contract_id_json(m.contract_id);
          o["rc_consensus_hash"] = to_hex(m.rc_consensus_hash);
          Json chunk = Json::object();
          chunk_json(chunk, m.chunk, std::nullopt);
          o["chunk"] = std::move(chunk);
        } else if constexpr (std::is_same_v<T, GetNakamotoInv>) {
          o["consensus_hash"] = to_hex(m.consensus_hash);
        } else if constexpr (std::is_same_v<T, NakamotoInv>) {
          o["bitlen"] = m.tenures.len;
          o["bitvec"] = to_hex(m.tenures.data);
        } else if constexpr (std::is_same_v<T, NakamotoBlocks>) {
          Json list = Json::array();
          for (const auto& b : m.blocks) {
            Json e = Json::object();
            nakamoto_json(e, b, opts);
            list.push_back(std::move(e));
          }
          o["blocks"] = std::move(list);
        }
      },
      p);
}

void message_json(Json& o, ByteSpan raw, const Message& m, const DecodeOptions& opts) {
  const Preamble& p = m.preamble;
  o["size"] = raw.size();
  o["preamble"] = {{"peer_version", p.peer_version},
                   {"network_id", p.network_id},
                   {"seq", p.seq},
                   {"burn_block_height", p.burn_block_height},
                   {"burn_block_hash", to_hex(p.burn_block_hash)},
                   {"burn_stable_block_height", p.burn_stable_block_height},
                   {"burn_stable_block_hash", to_hex(p.burn_stable_block_hash)},
                   {"additional_data", p.additional_data},
                   {"signature", to_hex(p.signature)},
                   {"payload_len", p.payload_len}};
  Json relayers = Json::array();
  for (const auto& r : m.relayers) {
    relayers.push_back({{"ip", ip_string(r.peer.addrbytes)},
                        {"port", r.peer.port},
                        {"public_key_hash", to_hex(r.peer.public_key_hash)},
                        {"seq", r.seq}});
  }
  o["relayers"] = std::move(relayers);
  auto signer = validate::recover_message_signer(raw);
  if (!signer) {
    // Distinguish a high-S signature (recovers, but a node refuses it) from garbage.
    Hash32 d = validate::message_digest(raw.first(kPreambleSize), raw.subspan(kPreambleSize));
    if (auto k = crypto::recover(d, p.signature, crypto::LowS::kIgnore)) {
      key_hash_fields(o, "signer_", *k);
      o["signature_valid"] = false;
      o["signature_error"] = "high-S signature";
    } else {
      o["signer_public_key"] = nullptr;
      o["signature_valid"] = false;
      o["signature_error"] = "signature does not recover";
    }
  } else {
    key_hash_fields(o, "signer_", *signer);
    o["signature_valid"] = true;
  }
  if (m.relayers.size() > 0 && signer) {
    auto c = signer->compressed();
    Hash20 me = crypto::hash160(ByteSpan(c.data(), 33));
    bool cycle = false;
    for (std::size_t i = 0; i < m.relayers.size(); ++i)
      for (std::size_t k = i + 1; k < m.relayers.size(); ++k)
        cycle |= m.relayers[i].peer.public_key_hash == m.relayers[k].peer.public_key_hash;
    o["relayers_have_cycle"] = cycle;
    o["signer_is_last_relayer"] = m.relayers.back().peer.public_key_hash == me;
  }
  auto id = static_cast<std::uint8_t>(payload_id(m.payload));
  Json payload = {{"type", id}, {"name", msg_name(id)}};
  message_payload_json(payload, m.payload, opts);
  o["payload"] = std::move(payload);
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
  Json o = Json::object();
  o["kind"] = kind;
  render(o, *v);
  return DecodeResult{0, dump(o), {}};
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
      Json o = Json::object();
      o["kind"] = "message";
      message_json(o, in, *m, opts);
      return DecodeResult{0, dump(o), {}};
    }
    case DecodeKind::kTx:
      return decode_with<StacksTransaction>(in, read_transaction, "tx",
                                            [](Json& o, const StacksTransaction& tx) { tx_fields(o, tx, false); });
    case DecodeKind::kBlock:
      if (in.size() > kMaxBlockLen)  // the node reads a 2.x block through a 2 MiB bound
        return invalid(Error{Errc::kLimit, static_cast<std::uint32_t>(kMaxBlockLen), "block larger than 2 MiB"});
      return decode_with<StacksBlock>(in, read_stacks_block, "block",
                                      [&](Json& o, const StacksBlock& b) { stacks_block_json(o, b, opts.consensus_hash); });
    case DecodeKind::kMicroblock:
      return decode_with<StacksMicroblock>(in, read_microblock, "microblock",
                                           [](Json& o, const StacksMicroblock& m) { microblock_json(o, m); });
    case DecodeKind::kNakamotoBlock:
      return decode_with<NakamotoBlock>(in, read_nakamoto_block, "nakamoto-block",
                                        [&](Json& o, const NakamotoBlock& b) { nakamoto_json(o, b, opts); });
    case DecodeKind::kStackerDbChunk:
      return decode_with<StackerDBChunkData>(in, read_stackerdb_chunk, "stackerdb-chunk",
                                             [&](Json& o, const StackerDBChunkData& c) { chunk_json(o, c, opts.slot_owner); });
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

}  // namespace

std::optional<std::vector<validate::RewardSetSigner>> parse_reward_set(std::string_view text, std::string& err) {
  // The node's JSON, read as the reward fetcher reads it.
  if (text.find('{') != std::string_view::npos) return rewards::parse_stacker_set(text, err);
  std::vector<validate::RewardSetSigner> out;
  // Otherwise "PUBKEYHEX WEIGHT" lines (# comments, blank lines skipped).
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
  if (out.empty()) {
    err = "no signers found";
    return std::nullopt;
  }
  return out;
}

}  // namespace relay::cli
