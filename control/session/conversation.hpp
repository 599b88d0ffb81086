// control/session/conversation.hpp — one p2p conversation as a well-behaved peer keeps
// it (PROTOCOL.md §4): handshakes both ways, preamble validity, replies that carry the
// request's seq, Nack(1) before authentication, Ping→Pong, NatPunch, GetNeighbors →
// Neighbors (never a Nack), inventories → Nack(2), StackerDB requests → Nack(6),
// liveness pings, and the 5 s handshake deadline.
//
// Pure logic: the owner feeds it whole messages (raw bytes + decoded form) and clock
// ticks; it answers with actions (send these bytes, the peer is now authenticated with
// key K, close with a reason, a push to relay). No I/O, no threads; one per session.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "relay/codec/message.hpp"
#include "relay/crypto/secp256k1.hpp"
#include "relay/policy/preamble.hpp"

namespace relay::ctl {

// The relay's view of the Bitcoin chain, sent in every preamble (PROTOCOL.md §4.3).
using BurnView = policy::BurnView;

// Who we are on the wire.
struct LocalPeer {
  crypto::SecretKey key;
  std::uint32_t network_id = 1;
  std::uint32_t peer_version = 0x18000010;
  std::uint32_t stable_confirmations = 7;
  std::uint16_t services = codec::kServiceRelay;
  codec::Addr16 addrbytes{};  // advertised address (any-network by default)
  std::uint16_t port = 20444;
  std::string data_url;
  std::uint32_t heartbeat_s = 3600;                           // advertised heartbeat_interval
  std::uint64_t expire_block_height = 0x7fffffffffffffffull;  // key never rotates

  policy::NetworkParams net() const noexcept { return {network_id, peer_version, stable_confirmations}; }
};

inline constexpr std::uint64_t kHandshakeTimeoutNs = 5'000'000'000ull;  // node drops unauthenticated after 5 s
inline constexpr std::uint64_t kPingIntervalNs = 1'800'000'000'000ull;  // well inside heartbeat + 30 s
inline constexpr std::uint64_t kRequestTimeoutNs = 30'000'000'000ull;   // a node's neighbor_request_timeout
// A peer that has not shaken hands gets a signed Nack(HandshakeRequired) for anything
// else it sends, as from a node, but at most this many: each costs a signature, and a
// stock node sends its Handshake first. Past them it is closed (not as misbehaviour).
inline constexpr std::uint32_t kMaxNacksBeforeHandshake = 16;

// The reason a session kept alive with set_liveness ends when a Pong is late.
inline constexpr const char* kNoPongReason = "no Pong to a liveness ping in time";

// Nack codes (PROTOCOL.md §1.7).
inline constexpr std::uint32_t kNackHandshakeRequired = 1;
inline constexpr std::uint32_t kNackNoSuchBurnchainBlock = 2;
inline constexpr std::uint32_t kNackNoSuchDb = 6;

struct Action {
  enum class Kind : std::uint8_t {
    kSend,           // write `bytes` to the peer
    kAuthenticated,  // the peer's key is `key` (from now on every message is verified with it)
    kClose,          // drop the connection; `reason` says why (ban-worthy if `misbehaved`)
    kRelay,          // a push from an authenticated peer: hand to the relay path
    kBurnView,       // the peer's preamble carried this burn view (for adoption)
    kNeighbors,      // the reply to our GetNeighbors: `neighbors`
    kRequestFailed,  // our GetNeighbors got a Nack or no reply in time; `reason` says which
  };
  Kind kind;
  Bytes bytes;
  std::optional<crypto::PublicKey> key;
  const char* reason = "";
  bool misbehaved = false;
  BurnView view;
  std::vector<codec::NeighborAddress> neighbors;

  static Action send(Bytes b) { return with(Kind::kSend, [&](Action& a) { a.bytes = std::move(b); }); }
  static Action relay(Bytes b) { return with(Kind::kRelay, [&](Action& a) { a.bytes = std::move(b); }); }
  static Action authenticated(const crypto::PublicKey& k) { return with(Kind::kAuthenticated, [&](Action& a) { a.key = k; }); }
  static Action close(const char* why, bool misbehaved) {
    return with(Kind::kClose, [&](Action& a) {
      a.reason = why;
      a.misbehaved = misbehaved;
    });
  }
  static Action burn_view(const BurnView& v) { return with(Kind::kBurnView, [&](Action& a) { a.view = v; }); }
  static Action neighbors_reply(std::vector<codec::NeighborAddress> n) {
    return with(Kind::kNeighbors, [&](Action& a) { a.neighbors = std::move(n); });
  }
  static Action request_failed(const char* why) { return with(Kind::kRequestFailed, [&](Action& a) { a.reason = why; }); }

 private:
  template <typename F>
  static Action with(Kind k, F&& f) {
    Action a{k, {}, std::nullopt, "", false, {}, {}};
    f(a);
    return a;
  }
};

class Conversation {
 public:
  // outbound: we dialed (we send the first Handshake). `pinned`: the key the peer must
  // present (from "PUBKEY@HOST:PORT"). `peer_addr`/`peer_port`: the socket's remote end.
  Conversation(const LocalPeer* local, bool outbound, std::uint64_t now_ns,
               std::optional<crypto::PublicKey> pinned = std::nullopt, codec::Addr16 peer_addr = {},
               std::uint16_t peer_port = 0);

  // set_burn_view: the view our preambles carry (the owner adopts it from trusted peers).
  void set_burn_view(const BurnView& v) noexcept { view_ = v; }
  const BurnView& burn_view() const noexcept { return view_; }
  // set_neighbors: what we answer GetNeighbors with (may be empty; never a Nack).
  void set_neighbors(std::vector<codec::NeighborAddress> n) { neighbors_ = std::move(n); }
  // set_neighbor_source: answer GetNeighbors with whatever `*src` holds at the time (the
  // owner's sample of its peer table, refreshed as it changes); outlives the conversation.
  void set_neighbor_source(const std::vector<codec::NeighborAddress>* src) noexcept { neighbor_src_ = src; }
  // set_inventory: answer GetNakamotoInv with what `*inv` gives for the named consensus
  // hash at the time: the cycle's bits, or nullopt for a hash it does not know (Nack 2,
  // as a node answers). Unset: every GetNakamotoInv gets Nack 2.
  using InvAnswer = std::function<std::optional<codec::BitVec>(const codec::Hash20&)>;
  void set_inventory(const InvAnswer* inv) noexcept { inv_ = inv; }
  // request_neighbors: ask the (authenticated) peer for its neighbors; the reply comes
  // back as a kNeighbors action, a Nack or silence past kRequestTimeoutNs as
  // kRequestFailed. False if not authenticated or a request is outstanding.
  bool request_neighbors(std::uint64_t now_ns, std::vector<Action>& out);
  bool neighbors_pending() const noexcept { return neighbors_seq_.has_value(); }
  // set_liveness: ping the (authenticated) peer every `interval_ns` and close the session
  // when a Pong does not come back within `timeout_ns` (a relay pair's link: the relay's
  // own liveness, quicker than TCP's or MPTCP's). 0: the node's 30-minute keep-alive.
  void set_liveness(std::uint64_t interval_ns, std::uint64_t timeout_ns) noexcept {
    live_interval_ns_ = interval_ns;
    live_timeout_ns_ = timeout_ns;
  }
  // last_rtt_ns: the round trip of the last liveness ping answered (0: none yet).
  std::uint64_t last_rtt_ns() const noexcept { return last_rtt_ns_; }

  // start: the connection is up; an outbound conversation sends its Handshake.
  void start(std::uint64_t now_ns, std::vector<Action>& out);
  // on_message: one whole message as received, `m` its decoded form. `digest`: its
  // signing digest when the caller already has it (the framer streams it), else
  // computed here — every signature check below uses it, nothing is hashed twice.
  // `verified`: the dataplane already checked the signature against the session key.
  void on_message(ByteSpan raw, const codec::Message& m, std::uint64_t now_ns, std::vector<Action>& out,
                  const codec::Hash32* digest = nullptr, bool verified = false);
  // restore: adopt a session that was authenticated with `key` before this process
  // started (the control plane restarted; the dataplane kept the connection).
  void restore(const crypto::PublicKey& key) noexcept { peer_key_ = key; }
  // on_tick: timers (handshake deadline, liveness pings).
  void on_tick(std::uint64_t now_ns, std::vector<Action>& out);

  bool authenticated() const noexcept { return peer_key_.has_value(); }
  const std::optional<crypto::PublicKey>& peer_key() const noexcept { return peer_key_; }
  // peer_handshake: what the peer last told about itself (services, data_url, …) in a
  // handshake or accept we took.
  const std::optional<codec::HandshakeData>& peer_handshake() const noexcept { return peer_hs_; }
  std::uint64_t last_recv_ns() const noexcept { return last_recv_ns_; }
  // peer_version: from the peer's last accepted message (0 before any).
  std::uint32_t peer_version() const noexcept { return peer_version_; }
  bool outbound() const noexcept { return outbound_; }

  // sign: a message with our preamble (network, version, burn view), `seq`, relayers
  // `relayers` and `payload`, signed with our key.
  Bytes sign(std::uint32_t seq, codec::Payload payload, std::vector<codec::RelayData> relayers = {}) const;
  // preamble_valid: PROTOCOL.md §4.3 checks against our network (a failure drops the
  // connection, as a node would).
  const char* preamble_problem(const codec::Preamble& p) const noexcept;

 private:
  codec::HandshakeData our_handshake() const;
  void reply(const codec::Message& req, codec::Payload payload, std::vector<Action>& out) const;
  void close(const char* why, bool misbehaved, std::vector<Action>& out);
  bool signed_by(const codec::Message& m, const crypto::PublicKey& key) const;
  bool handle_handshake_family(const codec::Message& m, std::vector<Action>& out);
  void handle_handshake(const codec::Message& m, std::vector<Action>& out);
  void handle_accept(const codec::Message& m, const codec::HandshakeData& hs, std::vector<Action>& out);
  void install_key(const crypto::PublicKey& key, std::vector<Action>& out);
  std::uint32_t random_u32() const;

  const LocalPeer* local_;
  bool outbound_;
  bool closed_ = false;
  std::optional<crypto::PublicKey> pinned_;
  codec::Addr16 peer_addr_;
  std::uint16_t peer_port_;
  BurnView view_;
  std::vector<codec::NeighborAddress> neighbors_;
  const std::vector<codec::NeighborAddress>* neighbor_src_ = nullptr;
  const InvAnswer* inv_ = nullptr;
  std::optional<std::uint32_t> neighbors_seq_;  // our outstanding GetNeighbors
  std::uint64_t neighbors_deadline_ns_ = 0;
  std::uint32_t peer_version_ = 0;
  std::optional<crypto::PublicKey> peer_key_;
  std::optional<codec::HandshakeData> peer_hs_;
  std::optional<std::uint32_t> handshake_seq_;  // our outstanding Handshake
  std::uint32_t nacks_before_handshake_ = 0;
  codec::Hash32 digest_{};                      // signing digest of the message being handled
  std::uint64_t started_ns_;
  std::uint64_t live_interval_ns_ = 0, live_timeout_ns_ = 0;
  std::optional<std::uint32_t> live_nonce_;  // the liveness ping waiting for its Pong
  std::uint64_t live_sent_ns_ = 0;
  std::uint64_t last_rtt_ns_ = 0;
  std::uint64_t last_recv_ns_;
  std::uint64_t last_send_ns_;
};

}  // namespace relay::ctl
