#include "control/session/conversation.hpp"

#include "relay/crypto/fast_random.hpp"
#include "relay/validate/validate.hpp"

namespace relay::ctl {

using namespace relay::codec;

Conversation::Conversation(const LocalPeer* local, bool outbound, std::uint64_t now_ns,
                           std::optional<crypto::PublicKey> pinned, codec::Addr16 peer_addr, std::uint16_t peer_port)
    : local_(local),
      outbound_(outbound),
      pinned_(pinned),
      peer_addr_(peer_addr),
      peer_port_(peer_port),
      started_ns_(now_ns),
      last_recv_ns_(now_ns),
      last_send_ns_(now_ns) {}

std::uint32_t Conversation::random_u32() const { return crypto::thread_random_u32(); }

HandshakeData Conversation::our_handshake() const {
  HandshakeData h;
  h.addrbytes = local_->addrbytes;
  h.port = local_->port;
  h.services = local_->services;
  h.node_public_key = local_->key.public_key().compressed();
  h.expire_block_height = local_->expire_block_height;
  h.data_url = local_->data_url;
  return h;
}

Bytes Conversation::sign(std::uint32_t seq, Payload payload, std::vector<RelayData> relayers) const {
  Message m;
  m.preamble.peer_version = local_->peer_version;
  m.preamble.network_id = local_->network_id;
  m.preamble.seq = seq;
  const BurnView& v = view_.height != 0 ? view_ : policy::far_behind_view(local_->stable_confirmations);
  m.preamble.burn_block_height = v.height;
  m.preamble.burn_block_hash = v.hash;
  m.preamble.burn_stable_block_height = v.stable_height;
  m.preamble.burn_stable_block_hash = v.stable_hash;
  m.relayers = std::move(relayers);
  m.payload = std::move(payload);
  return validate::sign_message(m, local_->key);
}

const char* Conversation::preamble_problem(const Preamble& p) const noexcept {
  return policy::preamble_problem(p, local_->net(), view_);
}

void Conversation::reply(const Message& req, Payload payload, std::vector<Action>& out) const {
  out.push_back(Action::send(sign(req.preamble.seq, std::move(payload))));
}

void Conversation::close(const char* why, bool misbehaved, std::vector<Action>& out) {
  if (closed_) return;
  closed_ = true;
  out.push_back(Action::close(why, misbehaved));
}

void Conversation::start(std::uint64_t now_ns, std::vector<Action>& out) {
  started_ns_ = now_ns;
  if (!outbound_) return;
  handshake_seq_ = random_u32();
  out.push_back(Action::send(sign(*handshake_seq_, Handshake{our_handshake()})));
  last_send_ns_ = now_ns;
}

bool Conversation::signed_by(const Message& m, const crypto::PublicKey& key) const {
  return crypto::verify(digest_, m.preamble.signature, key, crypto::LowS::kEnforce);
}

void Conversation::install_key(const crypto::PublicKey& key, std::vector<Action>& out) {
  bool changed = !peer_key_ || !(*peer_key_ == key);
  peer_key_ = key;
  if (changed) out.push_back(Action::authenticated(key));
}

// The handshake messages, handled alike before and after authentication.
bool Conversation::handle_handshake_family(const Message& m, std::vector<Action>& out) {
  switch (payload_id(m.payload)) {
    case MsgId::kHandshake: handle_handshake(m, out); return true;
    case MsgId::kHandshakeAccept: handle_accept(m, std::get<HandshakeAccept>(m.payload).data.handshake, out); return true;
    case MsgId::kStackerDBHandshakeAccept:
      handle_accept(m, std::get<StackerDBHandshakeAccept>(m.payload).accept.handshake, out);
      return true;
    default: return false;
  }
}

void Conversation::handle_handshake(const Message& m, std::vector<Action>& out) {
  const HandshakeData& hs = std::get<Handshake>(m.payload).data;
  auto key = crypto::parse_public_key(ByteSpan(hs.node_public_key.data(), hs.node_public_key.size()));
  if (!key) return close("handshake public key does not parse", true, out);
  // Unauthenticated: self-certifying (verified with the key it carries). Authenticated:
  // already verified with the installed key; a new key is a rekey.
  if (!peer_key_ && !signed_by(m, *key)) return close("handshake signature invalid", true, out);
  const bool stale = hs.expire_block_height <= view_.height;
  const bool self = hs.node_public_key == local_->key.public_key().compressed();
  if (stale || self) return reply(m, HandshakeReject{}, out);
  install_key(*key, out);
  peer_hs_ = hs;
  HandshakeAcceptData acc;
  acc.handshake = our_handshake();
  acc.heartbeat_interval = local_->heartbeat_s;
  reply(m, HandshakeAccept{acc}, out);
}

void Conversation::handle_accept(const Message& m, const HandshakeData& hs, std::vector<Action>& out) {
  if (!handshake_seq_ || m.preamble.seq != *handshake_seq_) return;  // unsolicited: ignored, as a node does
  handshake_seq_.reset();
  auto key = crypto::parse_public_key(ByteSpan(hs.node_public_key.data(), hs.node_public_key.size()));
  // Nodes trust accepts on first use; we verify them against the key they carry.
  if (!key || !signed_by(m, *key)) return close("handshake accept not signed by its key", true, out);
  if (pinned_ && !(*pinned_ == *key)) return close("peer key differs from the pinned key", false, out);
  install_key(*key, out);
  peer_hs_ = hs;
}

void Conversation::on_message(ByteSpan raw, const Message& m, std::uint64_t now_ns, std::vector<Action>& out,
                              const Hash32* digest, bool verified) {
  if (closed_) return;
  if (const char* why = preamble_problem(m.preamble)) return close(why, true, out);
  if (raw.size() < kPreambleSize) return close("message shorter than a preamble", true, out);
  digest_ = digest != nullptr ? *digest
                              : validate::message_digest(raw.first(kPreambleSize), raw.subspan(kPreambleSize));
  if (peer_key_ && !verified && !signed_by(m, *peer_key_)) return close("message signature invalid", true, out);
  const MsgId id = payload_id(m.payload);
  const BurnView seen{m.preamble.burn_block_height, m.preamble.burn_block_hash, m.preamble.burn_stable_block_height,
                      m.preamble.burn_stable_block_hash};
  // With no view of our own yet, a zero view would fail the peer's preamble checks on
  // everything we answer: take the (already checked) view this peer sent.
  if (view_.height == 0) view_ = seen;

  if (!peer_key_) {
    if (!handle_handshake_family(m, out)) switch (id) {
      case MsgId::kHandshakeReject:
        if (handshake_seq_ && m.preamble.seq == *handshake_seq_) close("peer rejected our handshake", false, out);
        break;
      case MsgId::kNack:
      case MsgId::kNatPunchReply: break;
      case MsgId::kNatPunchRequest:
        reply(m, NatPunchReply{peer_addr_, peer_port_, std::get<NatPunchRequest>(m.payload).nonce}, out);
        break;
      default:
        if (++nacks_before_handshake_ > kMaxNacksBeforeHandshake)
          return close("too many messages before a handshake", false, out);
        reply(m, Nack{kNackHandshakeRequired}, out);
        break;
    }
    if (peer_key_) {
      last_recv_ns_ = now_ns;
      peer_version_ = m.preamble.peer_version;
      out.push_back(Action::burn_view(seen));
    }
    return;
  }

  last_recv_ns_ = now_ns;
  peer_version_ = m.preamble.peer_version;
  if (!handle_handshake_family(m, out)) switch (id) {
    case MsgId::kPing: reply(m, Pong{std::get<Ping>(m.payload).nonce}, out); break;
    case MsgId::kPong:
      if (live_nonce_ && std::get<Pong>(m.payload).nonce == *live_nonce_) {
        live_nonce_.reset();
        last_rtt_ns_ = now_ns - live_sent_ns_;
      }
      break;
    case MsgId::kNatPunchRequest:
      reply(m, NatPunchReply{peer_addr_, peer_port_, std::get<NatPunchRequest>(m.payload).nonce}, out);
      break;
    case MsgId::kGetNeighbors:  // never a Nack
      reply(m, Neighbors{neighbor_src_ != nullptr ? *neighbor_src_ : neighbors_}, out);
      break;
    case MsgId::kNeighbors:
      if (neighbors_seq_ && m.preamble.seq == *neighbors_seq_) {
        neighbors_seq_.reset();
        out.push_back(Action::neighbors_reply(std::get<Neighbors>(m.payload).neighbors));
      }
      break;
    case MsgId::kNack:
      if (neighbors_seq_ && m.preamble.seq == *neighbors_seq_) {
        neighbors_seq_.reset();
        out.push_back(Action::request_failed("GetNeighbors answered with a Nack"));
      }
      break;
    case MsgId::kGetBlocksInv:
    case MsgId::kGetPoxInv: reply(m, Nack{kNackNoSuchBurnchainBlock}, out); break;
    case MsgId::kGetNakamotoInv: {
      // A node never sends a wrong type to this request (it would drop us): the cycle's
      // bits, or Nack 2 for a hash we do not know.
      std::optional<codec::BitVec> bits;
      if (inv_ != nullptr && *inv_) bits = (*inv_)(std::get<GetNakamotoInv>(m.payload).consensus_hash);
      if (bits) reply(m, NakamotoInv{std::move(*bits)}, out);
      else reply(m, Nack{kNackNoSuchBurnchainBlock}, out);
      break;
    }
    case MsgId::kStackerDBGetChunkInv:
    case MsgId::kStackerDBGetChunk: reply(m, Nack{kNackNoSuchDb}, out); break;
    case MsgId::kTransaction:
    case MsgId::kNakamotoBlocks:
    case MsgId::kStackerDBPushChunk:
    case MsgId::kBlocks:
    case MsgId::kMicroblocks:
    case MsgId::kBlocksAvailable:
    case MsgId::kMicroblocksAvailable:
      out.push_back(Action::relay(Bytes(raw.begin(), raw.end())));
      break;
    default: break;  // replies we did not ask for (Pong, Neighbors, inventories, Nack, …)
  }
  out.push_back(Action::burn_view(seen));
}

void Conversation::on_tick(std::uint64_t now_ns, std::vector<Action>& out) {
  if (closed_) return;
  if (!peer_key_) {
    if (now_ns - started_ns_ > kHandshakeTimeoutNs) close("no handshake within 5 s", false, out);
    return;
  }
  if (neighbors_seq_ && now_ns >= neighbors_deadline_ns_) {
    neighbors_seq_.reset();
    out.push_back(Action::request_failed("GetNeighbors not answered in time"));
  }
  if (live_interval_ns_ != 0) {
    if (live_nonce_ && now_ns - live_sent_ns_ > live_timeout_ns_) return close(kNoPongReason, false, out);
    if (!live_nonce_ && now_ns - live_sent_ns_ >= live_interval_ns_) {
      live_nonce_ = random_u32();
      live_sent_ns_ = now_ns;
      out.push_back(Action::send(sign(random_u32(), Ping{*live_nonce_})));
      last_send_ns_ = now_ns;
    }
    return;
  }
  if (now_ns - last_send_ns_ >= kPingIntervalNs) {
    out.push_back(Action::send(sign(random_u32(), Ping{random_u32()})));
    last_send_ns_ = now_ns;
  }
}

bool Conversation::request_neighbors(std::uint64_t now_ns, std::vector<Action>& out) {
  if (closed_ || !peer_key_ || neighbors_seq_) return false;
  neighbors_seq_ = random_u32();
  neighbors_deadline_ns_ = now_ns + kRequestTimeoutNs;
  out.push_back(Action::send(sign(*neighbors_seq_, GetNeighbors{})));
  last_send_ns_ = now_ns;
  return true;
}

}  // namespace relay::ctl
