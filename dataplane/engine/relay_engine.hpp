// dataplane/engine/relay_engine.hpp — one relay core over any Transport: sessions
// (framing, conversation), and the relay path of ARCHITECTURE.md §3: validate, dedup,
// relayers rules, sign once (forward digest streamed by the framer), identical bytes to
// every eligible session, paced per session, blocks before transactions.
//
// This milestone runs the conversation logic in-process; the split into dataplane and
// control processes over relay/shm rings moves Conversation behind the ring without
// changing this relay path.
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "control/session/conversation.hpp"
#include "dataplane/transport/transport.hpp"
#include "relay/codec/framer.hpp"
#include "relay/dedup/tag_cache.hpp"
#include "relay/policy/relay_policy.hpp"
#include "relay/validate/validate.hpp"

namespace relay::dp {

struct EngineOptions {
  const ctl::LocalPeer* local = nullptr;
  ctl::BurnView view;
  bool relay_2x = false;
  std::vector<validate::RewardSetSigner> reward_set;  // empty: Nakamoto blocks are not relayed
  std::size_t dedup_depth = 1 << 16;
  std::uint32_t pacer_budget = 50;      // our messages queued per node (a node drops at 100)
  std::uint32_t max_inflight_sends = 8;  // per session, handed to the transport
  // Nodes whose preambles' burn view we adopt when it moves forward. With none trusted
  // (or before any trusted node spoke) the first authenticated peer's view bootstraps ours.
  std::vector<codec::Hash20> trusted_pkhs;
};

struct EngineStats {
  std::uint64_t relayed = 0;           // distinct objects forwarded
  std::uint64_t fanout_sends = 0;      // copies queued to sessions
  std::uint64_t dup = 0;               // already seen
  std::uint64_t invalid = 0;           // failed validation
  std::uint64_t no_reward_set = 0;     // Nakamoto blocks we cannot check
  std::uint64_t relayers_rejected = 0;  // cycle / contains us / 16 hops
  std::uint64_t not_relayed_type = 0;  // e.g. 2.x pushes on a Nakamoto network
  std::uint64_t pacer_dropped_tx = 0;
  std::uint64_t pacer_refused = 0;
  std::uint64_t sessions_closed_misbehaved = 0;
  std::uint64_t framing_errors = 0;
  std::uint64_t burn_view_updates = 0;
  std::uint64_t no_burn_view = 0;  // pushes held back: we have no burn view yet
};

template <Transport T>
class RelayEngine {
 public:
  RelayEngine(T& transport, EngineOptions opts);
  ~RelayEngine();

  // dial: connect to a node (optionally pinning its key).
  Result<ConnId> dial(const sockaddr_in6& addr, std::optional<crypto::PublicKey> pinned = std::nullopt);
  // run_once: handle what the transport reports (waiting up to timeout_ms) and timers.
  void run_once(std::uint64_t now_ns, int timeout_ms);

  const EngineStats& stats() const noexcept { return stats_; }
  const ctl::BurnView& burn_view() const noexcept { return opts_.view; }
  std::size_t authenticated_sessions() const;
  // alive: the connection is being dialed or has a session.
  bool alive(ConnId c) const { return sessions_.count(c) != 0 || dialing_.count(c) != 0; }

 private:
  struct Session {
    ConnId conn;
    codec::Framer framer;
    ctl::Conversation conv;
    std::optional<codec::Hash20> peer_pkh;
    policy::SessionPacer pacer;
    std::uint32_t inflight = 0;
    Session(ConnId c, const EngineOptions& o, bool outbound, std::uint64_t now,
            std::optional<crypto::PublicKey> pinned)
        : conn(c), framer(), conv(o.local, outbound, now, pinned), pacer(o.pacer_budget) {}
  };

  void on_event(const Event& e, std::uint64_t now_ns);
  void new_session(ConnId c, bool outbound, std::uint64_t now_ns, std::optional<crypto::PublicKey> pinned);
  void arm_forward(Session& s);
  void apply(Session& s, std::vector<ctl::Action>& actions);
  void relay(Session& from, const codec::Message& m);
  bool validate_and_dedup(const codec::Message& m);
  void drain(Session& s);
  void send_now(Session& s, ByteSpan bytes);
  void drop_session(ConnId c);
  void adopt_view(const Session& s, const ctl::BurnView& v);

  T& t_;
  EngineOptions opts_;
  codec::Hash20 our_pkh_{};
  codec::RelayData self_{};
  dedup::TagCache dedup_;
  std::unordered_map<ConnId, std::unique_ptr<Session>> sessions_;
  std::unordered_map<ConnId, std::optional<crypto::PublicKey>> dialing_;
  std::vector<ctl::Action> actions_;
  EngineStats stats_;
  bool view_from_trusted_ = false;
};

}  // namespace relay::dp

#include "dataplane/engine/relay_engine_impl.hpp"
