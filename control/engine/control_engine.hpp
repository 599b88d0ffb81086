// control/engine/control_engine.hpp — the control plane's run loop (ARCHITECTURE.md §4):
// one Conversation per session the dataplane reports, the handshakes and replies they
// produce sent back as commands, the burn view adopted from authenticated peers
// (trusted ones first) and pushed to the dataplane, the reward set handed over, and the
// configured peers dialed and re-dialed.
//
// It owns no socket: everything goes through the link's rings (relay/link). When the
// dataplane restarts (its Hello), every session is gone and the peers are dialed again;
// when this process restarts, the dataplane hands back its authenticated sessions.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/session/conversation.hpp"
#include "control/store/block_store.hpp"
#include "relay/link/link.hpp"

namespace relay::ctl {

struct DialSpec {
  std::string host;  // IP literal or name (resolved at each dial)
  std::uint16_t port = 0;
  std::optional<crypto::PublicKey> pinned;
};

struct ControlOptions {
  const LocalPeer* local = nullptr;
  std::vector<DialSpec> peers;
  // Nodes whose preambles' burn view we adopt when it moves forward. With none trusted
  // (or before any trusted node spoke) the first authenticated peer's view bootstraps ours.
  std::vector<codec::Hash20> trusted_pkhs;
  std::vector<validate::RewardSetSigner> reward_set;  // empty: Nakamoto blocks are not relayed
  std::uint64_t redial_ns = 5'000'000'000ull;
  store::BlockStore* store = nullptr;  // where relayed blocks are kept (nullptr: not kept)
};

struct CtlLinkEnds {
  shm::RingProducer to_dp;
  shm::RingConsumer from_dp;
  shm::Cnc* cnc;
  const shm::Cnc* dp_cnc;
  const link::DpCounters* dp_counters;
};
Result<CtlLinkEnds> join_ctl_link(const link::Link& l) noexcept;

#define RELAY_CTL_COUNTERS(X)                                                   \
  X(sessions, "sessions the dataplane reported")                              \
  X(authenticated, "handshakes completed")                                    \
  X(restored, "authenticated sessions adopted after a control restart")       \
  X(closed_misbehaved, "sessions closed for misbehaviour")                    \
  X(undecodable, "messages that do not decode (session dropped)")             \
  X(dials, "outbound connections attempted")                                  \
  X(dial_failures, "outbound connections that failed")                        \
  X(view_updates, "burn view changes adopted")                                \
  X(relays_handed_back, "pushes received before the dataplane had the key")   \
  X(dp_restarts, "dataplane restarts seen")                                   \
  X(link_corrupt, "malformed fragments from the dataplane (skipped)")          \
  X(blocks_stored, "relayed blocks added to the block store")                 \
  X(store_errors, "relayed blocks the block store could not keep")

struct ControlStats {
#define RELAY_X(name, help) std::uint64_t name = 0;
  RELAY_CTL_COUNTERS(RELAY_X)
#undef RELAY_X
};

class ControlEngine {
 public:
  ControlEngine(CtlLinkEnds link, ControlOptions opts);

  // start: announce this incarnation (the dataplane answers with its sessions and view).
  void start(std::uint64_t incarnation, std::uint64_t now_ns);
  // poll: handle the dataplane's messages and the timers; true if anything was done.
  bool poll(std::uint64_t now_ns);

  // originate: relay a push of our own (type byte + body, e.g. an HTTP-uploaded
  // transaction) to every peer, as a node relays what it originates: one relayer entry, ours.
  void originate(ByteSpan payload);
  // set_reward_sets: signers fetched for the current and previous reward cycles, handed
  // to the dataplane at once (and again whenever it restarts).
  void set_reward_sets(std::vector<validate::RewardSetSigner> current, std::vector<validate::RewardSetSigner> previous);
  const std::vector<validate::RewardSetSigner>& reward_set() const noexcept { return opts_.reward_set; }

  const ControlStats& stats() const noexcept { return stats_; }
  const BurnView& burn_view() const noexcept { return view_; }
  std::size_t sessions() const noexcept { return peers_.size(); }
  std::size_t authenticated_sessions() const noexcept;
  // dp_stalled: the dataplane has not beaten its heartbeat for `timeout_ns`.
  // (A dataplane that has never beaten is starting, not stalled.)
  bool dp_stalled(std::uint64_t now_ns, std::uint64_t timeout_ns) const noexcept {
    return link_.dp_cnc->heartbeat_ns.load(std::memory_order_acquire) != 0 &&
           shm::cnc_stale(*link_.dp_cnc, now_ns, timeout_ns);
  }

 private:
  struct Peer {
    Conversation conv;
    link::SessionInfo info;
    std::optional<codec::Hash20> pkh;
    Peer(const LocalPeer* l, const link::SessionInfo& i, std::uint64_t now, std::optional<crypto::PublicKey> pinned)
        : conv(l, i.outbound, now, pinned, i.addr, i.port), info(i) {}
  };
  struct Dial {
    DialSpec spec;
    enum class State : std::uint8_t { kIdle, kDialing, kUp } state = State::kIdle;
    std::uint64_t token = 0;
    std::uint32_t sid = 0;
    std::uint64_t next_ns = 0;
  };
  struct Out {
    link::CtlMsg kind;
    std::uint32_t sid;
    Bytes body;
  };

  void on_frag(const shm::Frag& f, std::uint64_t now_ns);
  void on_dp_hello(std::uint64_t now_ns);
  void add_peer(std::uint32_t sid, const link::SessionInfo& info, bool restored, std::uint64_t now_ns);
  void on_closed(std::uint32_t sid, std::uint64_t now_ns);
  void on_message(std::uint32_t sid, Reader& r, std::uint64_t now_ns);
  void on_relayed(ByteSpan payload);
  void apply(std::uint32_t sid, Peer& p, std::vector<Action>& actions);
  void adopt_view(const Peer& p, const BurnView& v);
  void set_view(const BurnView& v);
  void dial_peers(std::uint64_t now_ns);
  Dial* dial_by_token(std::uint64_t token);
  void send(link::CtlMsg kind, std::uint32_t sid, Bytes body);
  void send_state();
  bool flush();

  CtlLinkEnds link_;
  ControlOptions opts_;
  BurnView view_;
  bool view_from_trusted_ = false;
  std::unordered_map<std::uint32_t, std::unique_ptr<Peer>> peers_;
  std::vector<Dial> dials_;
  std::uint64_t next_token_ = 1;
  std::deque<Out> out_;
  std::vector<Action> actions_;
  std::uint64_t next_tick_ns_ = 0;
  ControlStats stats_;
  codec::PushScratch push_scratch_;
  std::vector<validate::RewardSetSigner> previous_reward_set_;
};

}  // namespace relay::ctl
