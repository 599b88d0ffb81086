// control/engine/control_engine.hpp — the control plane's run loop (ARCHITECTURE.md §4):
// one Conversation per session the dataplane reports, the handshakes and replies they
// produce sent back as commands, the burn view adopted from authenticated peers
// (trusted ones first) and pushed to the dataplane, the reward set handed over, the
// configured peers dialed and re-dialed, and the frontier (PROTOCOL.md §6): inbound
// sessions admitted by the address policy and limits, misbehaviour scored into bans,
// and the neighbor walk that asks peers for their neighbors and dials new ones until
// the target number of outbound peers is up.
//
// It owns no socket: everything goes through the link's rings (relay/link). When the
// dataplane restarts (its Hello), every session is gone and the peers are dialed again;
// when this process restarts, the dataplane hands back its authenticated sessions.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/engine/burn_view_vote.hpp"
#include "control/engine/resolver.hpp"
#include "control/frontier/frontier.hpp"
#include "control/inv/inventory.hpp"
#include "control/session/conversation.hpp"
#include "control/store/block_store.hpp"
#include "relay/link/link.hpp"
#include "relay/link/outbox.hpp"
#include "relay/net/address.hpp"
#include "relay/net/peer_address.hpp"

namespace relay::ctl {

struct DialSpec {
  DialSpec() = default;
  DialSpec(net::PeerAddress a, std::optional<crypto::PublicKey> key, std::string device = {},
           std::optional<codec::Addr16> source = std::nullopt)
      : addr(std::move(a)), pinned(std::move(key)), via_device(std::move(device)), via_source(source) {}
  net::PeerAddress addr;  // a DNS name is resolved at each dial
  std::optional<crypto::PublicKey> pinned;
  std::string via_device;                    // this peer only through this interface ("": as every dial)
  std::optional<codec::Addr16> via_source;   // this peer only from this local address
  std::optional<bool> mptcp;                 // this peer over MPTCP or not (nullopt: as every dial)
  std::string http;                          // a pair partner's own HTTP endpoint ("": its data_url)
};

struct ControlOptions {
  const LocalPeer* local = nullptr;
  std::vector<DialSpec> peers;
  net::ConnectOptions outbound;  // how every connection is made (MPTCP, bound device or source)
  // Proxies (relay/net/socks5.hpp): `proxy` for every dial (a DNS name is then handed to
  // it, never resolved here), `onion_proxy` for onion peers. With `isolate`, each peer
  // gets a login of its own (Tor's stream isolation), drawn from `isolation_salt`.
  std::optional<net::Socks5Proxy> proxy;
  std::optional<net::Socks5Proxy> onion_proxy;
  bool isolate = true;
  std::uint64_t isolation_salt = 0;
  // log: a line for the operator (a configured peer's dial failing, with the proxy's own
  // answer; and when it connects again). Empty: quiet.
  std::function<void(const std::string&)> log;
  // Nodes whose preambles' burn view we adopt when it moves forward. Without one, a view
  // is adopted once burn_view_quorum peers in distinct netgroups carry it (BurnViewVote).
  std::vector<codec::Hash20> trusted_pkhs;
  std::uint32_t burn_view_quorum = 3;
  std::string view_path;  // where the view is kept across restarts ("": not kept)
  std::vector<validate::RewardSetSigner> reward_set;  // empty: Nakamoto blocks are not relayed
  std::uint64_t redial_ns = 5'000'000'000ull;
  // The partner relays of a pair ([pair] peers): one entry per path, the key required;
  // entries with the same key are one partner. Always dialed while no session with it is
  // up (at once when one ends, over the next path; after every path failed, every
  // pair_redial_ns), never banned, not counted against the limits, trusted for the burn
  // view, asked for neighbors every pair_neighbors_ns, and pinged every
  // pair_ping_interval_ns (a Pong later than pair_ping_timeout_ns ends the session).
  // Both relays dial: when two sessions meet, the one dialed by the smaller key stays.
  std::vector<DialSpec> pairs;
  std::uint64_t pair_ping_interval_ns = 1'000'000'000ull;
  std::uint64_t pair_ping_timeout_ns = 3'000'000'000ull;
  std::uint64_t pair_redial_ns = 1'000'000'000ull;
  std::uint64_t pair_neighbors_ns = 10'000'000'000ull;
  store::BlockStore* store = nullptr;  // where relayed blocks are kept (nullptr: not kept)

  // The frontier: the peer table, bans and address policy (nullptr: every inbound session
  // is admitted within the limits below, nobody is banned, there is no walk, and
  // GetNeighbors is answered with an empty list).
  frontier::Frontier* frontier = nullptr;
  std::vector<DialSpec> bootstrap;  // first rows of the table (always allowed; dialed by the walk)
  bool walk = true;                 // with a frontier: keep target_outbound peers dialed
  std::uint64_t walk_interval_ns = 60'000'000'000ull;  // how often a peer is asked for neighbors
  std::uint32_t target_outbound = 16;
  std::uint32_t max_outbound = 32;
  std::uint32_t max_inbound = 0;         // 0: no limit
  std::uint32_t max_inbound_per_ip = 0;  // 0: no limit (allowed and configured peers are exempt)
  std::int64_t (*wall_clock)() = nullptr;  // unix seconds for the table (nullptr: time())
  // privacy.onlynet: the IP families the relay may use. A clearnet session of another
  // family is refused; the walk neither dials nor advertises one. (Private mode: both
  // off, and no frontier.)
  bool ipv4 = true;
  bool ipv6 = true;
};

// A pair partner, for /status and /metrics.
struct PairView {
  codec::PubKey33 key{};
  bool up = false;
  bool outbound = false;       // the session up is the one we dialed
  std::string path;            // the address being (or last) dialed
  std::string data_url;        // where its store is read: the configured http, else its handshake's data_url
  std::size_t paths = 0;
  std::uint64_t since_ns = 0;  // up (or down) since
  std::uint64_t rtt_ns = 0;    // the last liveness ping's round trip
  std::uint64_t sessions = 0, lost = 0, ping_timeouts = 0, dial_failures = 0;
};

// What GET /v2/neighbors shows (PROTOCOL.md §8).
struct NeighborEntry {
  std::uint32_t network_id = 0;
  std::uint32_t peer_version = 0;
  codec::Addr16 addr{};
  std::uint16_t port = 0;
  codec::Hash20 pkh{};
  bool authenticated = false;
  std::int64_t age_s = -1;  // seconds since we last reached it (-1: not applicable)
};
struct NeighborsView {
  std::vector<NeighborEntry> bootstrap, sample, inbound, outbound;
  std::size_t table_size = 0;
  std::size_t bans_in_force = 0;
};


#define RELAY_CTL_COUNTERS(X)                                                   \
  X(sessions, "sessions the dataplane reported")                              \
  X(authenticated, "handshakes completed")                                    \
  X(restored, "authenticated sessions adopted after a control restart")       \
  X(closed_misbehaved, "sessions closed for misbehaviour")                    \
  X(undecodable, "messages that do not decode (session dropped)")             \
  X(dials, "outbound connections attempted")                                  \
  X(dial_failures, "outbound connections that failed")                        \
  X(view_updates, "burn view changes adopted")                                \
  X(view_save_failures, "burn view changes that could not be kept in the data dir") \
  X(relays_handed_back, "pushes received before the dataplane had the key")   \
  X(dp_restarts, "dataplane restarts seen")                                   \
  X(link_corrupt, "malformed fragments from the dataplane (skipped)")          \
  X(blocks_stored, "relayed blocks added to the block store")                 \
  X(store_errors, "relayed blocks the block store could not keep")            \
  X(refused_denied, "inbound sessions refused: address on the deny list")    \
  X(refused_banned, "inbound sessions refused: address banned")              \
  X(refused_private, "inbound sessions refused: private address")            \
  X(refused_unroutable, "inbound sessions refused: link-local, shared, multicast or reserved address") \
  X(refused_full, "inbound sessions refused: max_inbound reached")           \
  X(refused_per_ip, "inbound sessions refused: max_inbound_per_ip reached")  \
  X(refused_network, "inbound sessions refused: a network privacy.onlynet leaves out") \
  X(walk_asks, "GetNeighbors sent")                                           \
  X(walk_replies, "Neighbors replies received")                               \
  X(walk_failures, "GetNeighbors answered with a Nack or not at all")         \
  X(walk_learned, "peers added to the table from Neighbors replies")          \
  X(walk_dials, "peers from the table dialed")                                \
  X(walk_dial_failures, "table peers that could not be dialed or handshaken") \
  X(pair_sessions, "sessions with a pair partner authenticated")              \
  X(pair_lost, "sessions with a pair partner that ended")                     \
  X(pair_ping_timeouts, "pair sessions ended by a late Pong")                 \
  X(pair_duplicates, "second sessions with a pair partner closed (one stays)")

struct ControlStats {
#define RELAY_X(name, help) std::uint64_t name = 0;
  RELAY_CTL_COUNTERS(RELAY_X)
#undef RELAY_X
};

class ControlEngine {
 public:
  ControlEngine(link::Ends link, ControlOptions opts);

  // start: announce this incarnation (the dataplane answers with its sessions and view).
  void start(std::uint64_t incarnation, std::uint64_t now_ns);
  // poll: handle the dataplane's messages and the timers; true if anything was done.
  bool poll(std::uint64_t now_ns);

  // originate: relay a push of our own (type byte + body, e.g. an HTTP-uploaded
  // transaction) to every peer, as a node relays what it originates: one relayer entry, ours.
  void originate(ByteSpan payload);
  // set_reward_sets: signers fetched for the current and previous reward cycles, handed
  // to the dataplane at once (and again whenever it restarts).
  // `cycle` (0: not known) and the next cycle's set (empty until known) tell the
  // dataplane who owns the signers' StackerDB slots.
  // set_inventory: the Nakamoto inventory sessions answer GetNakamotoInv with from now on
  // (control/inv; null: Nack 2 to all).
  void set_inventory(std::shared_ptr<const inv::InvTable> t) { inv_ = std::move(t); }
  void set_reward_sets(std::vector<validate::RewardSetSigner> current, std::vector<validate::RewardSetSigner> previous,
                       std::uint64_t cycle = 0, std::vector<validate::RewardSetSigner> next = {});
  const std::vector<validate::RewardSetSigner>& reward_set() const noexcept { return opts_.reward_set; }
  // set_i2p: the relay's I2P session on a SAM bridge is up (`session`: the bridge and the
  // session's ID) or gone (nullopt). While it is up, I2P peers are dialed through it and
  // the dataplane keeps kI2pAccepts streams waiting for inbound I2P peers.
  void set_i2p(std::optional<net::SamBridge> session, std::uint64_t now_ns);
  static constexpr std::size_t kI2pAccepts = 2;

  const ControlStats& stats() const noexcept { return stats_; }
  // neighbors_view: the table's bootstrap rows and sample, and the sessions.
  NeighborsView neighbors_view() const;
  std::size_t outbound_sessions() const noexcept;
  std::vector<PairView> pairs_view(std::uint64_t now_ns) const;
  const BurnView& burn_view() const noexcept { return view_; }
  std::size_t sessions() const noexcept { return peers_.size(); }
  std::size_t authenticated_sessions() const noexcept;
  // dp_stalled: the dataplane has not beaten its heartbeat for `timeout_ns`.
  // (A dataplane that has never beaten is starting, not stalled.)
  bool dp_stalled(std::uint64_t now_ns, std::uint64_t timeout_ns) const noexcept {
    return link_.peer_cnc->heartbeat_ns.load(std::memory_order_acquire) != 0 &&
           shm::cnc_stale(*link_.peer_cnc, now_ns, timeout_ns);
  }

 private:
  struct Peer {
    Conversation conv;
    link::SessionInfo info;
    std::optional<codec::Hash20> pkh;
    std::optional<frontier::PeerKey> table_key;  // dialed by the walk: this table row
    bool configured = false;                     // one of the operator's [p2p] peers (or a pair partner)
    bool pair = false;                           // a pair partner, authenticated
    bool superseded = false;                     // closed: another session with the same partner stays
    bool closing = false;                        // we asked the dataplane to close it
    Peer(const LocalPeer* l, const link::SessionInfo& i, std::uint64_t now, std::optional<crypto::PublicKey> pinned)
        : conv(l, i.outbound, now, pinned, i.addr, i.port), info(i) {}
  };
  struct Dial {
    DialSpec spec;
    enum class State : std::uint8_t { kIdle, kResolving, kDialing, kUp } state = State::kIdle;
    std::uint64_t token = 0;
    std::uint32_t sid = 0;
    std::uint64_t next_ns = 0;
    std::optional<codec::Addr16> addr;  // last resolved
    int last_err = 0;                   // the last dial's failure (0: none), logged when it changes
    // A pair partner: its paths (spec is the one in use) and what /status shows.
    bool pair = false;
    std::vector<DialSpec> paths;
    std::size_t path = 0;
    codec::Hash20 pkh{};
    std::string data_url;  // from its last handshake
    bool was_up = false;
    std::uint64_t since_ns = 0;
    std::uint64_t sessions = 0, lost = 0, ping_timeouts = 0, dial_failures = 0;
  };

  void on_frag(const shm::Frag& f, std::uint64_t now_ns);
  void on_dp_hello(std::uint64_t now_ns);
  void add_peer(std::uint32_t sid, const link::SessionInfo& info, bool restored, std::uint64_t now_ns);
  void on_closed(std::uint32_t sid, bool misbehaved, std::uint64_t now_ns);
  const char* refuse_inbound(const link::SessionInfo& info);
  bool configured_addr(const codec::Addr16& a) const noexcept;
  // family_allowed: an IP the relay may talk to (loopback always: it is this machine).
  bool family_allowed(const codec::Addr16& a) const noexcept {
    return net::is_loopback(a) || (net::is_ipv4(a) ? opts_.ipv4 : opts_.ipv6);
  }
  void on_authenticated(std::uint32_t sid, Peer& p);
  void on_neighbors(const std::vector<codec::NeighborAddress>& n);
  void on_resolved(const Resolver::Answer& a, std::uint64_t now_ns);
  void connect(std::uint64_t token, const net::PeerAddress& addr, const DialSpec* spec = nullptr);
  void send_connect(std::uint64_t token, const net::PeerAddress& addr, const net::ConnectOptions& how);
  net::ConnectOptions how_to_reach(const net::PeerAddress& addr, const DialSpec* spec = nullptr) const;
  void walk(std::uint64_t now_ns);
  void ask_neighbors(std::uint32_t sid, Peer& p, std::uint64_t now_ns);
  void fill_outbound();
  std::int64_t wall() const noexcept;
  void on_message(std::uint32_t sid, Reader& r, std::uint64_t now_ns);
  void on_relayed(ByteSpan payload);
  void apply(std::uint32_t sid, Peer& p, std::vector<Action>& actions);
  void adopt_view(std::uint32_t sid, const Peer& p, const BurnView& v);
  bool trusted(const codec::Hash20& pkh) const noexcept;
  void reconsider_view();
  void set_view(const BurnView& v);
  void dial_peers(std::uint64_t now_ns);
  // The pair: its partner's session (nullptr: none up), the next path after a failure,
  // and one session per partner.
  const Peer* pair_session(const codec::Hash20& pkh) const;
  Dial* pair_dial(const codec::Hash20& pkh);
  void pair_next_path(Dial& d, std::uint64_t now_ns);
  void pair_authenticated(std::uint32_t sid, Peer& p, std::uint64_t now_ns);
  void pair_tick(std::uint64_t now_ns);
  std::uint64_t next_pair_ask_ns_ = 0;
  std::uint64_t now_ns_ = 0;  // the time poll() was called with (for what apply() does)
  bool dp_answered_ = false;  // the dataplane answered our Hello (its view, then its sessions)
  Dial* dial_by_token(std::uint64_t token);
  void send(link::CtlMsg kind, std::uint32_t sid, Bytes body);
  void send_state();

  link::Ends link_;
  link::Outbox out_;  // commands, in order, waiting for ring credit
  ControlOptions opts_;
  BurnView view_;
  BurnViewVote vote_;
  std::unordered_map<std::uint32_t, std::unique_ptr<Peer>> peers_;
  std::vector<Dial> dials_;
  std::uint64_t next_token_ = 1;
  std::vector<Action> actions_;
  std::uint64_t next_tick_ns_ = 0;
  ControlStats stats_;
  codec::PushScratch push_scratch_;
  std::vector<validate::RewardSetSigner> previous_reward_set_;
  std::vector<validate::RewardSetSigner> next_reward_set_;
  std::uint64_t reward_cycle_ = 0;
  void send_reward_sets();

  // The frontier's side of the loop.
  codec::Hash20 our_pkh_{};
  Resolver resolver_;
  std::unordered_map<std::uint64_t, frontier::PeerKey> walk_dialing_;  // token → row
  std::optional<net::SamBridge> i2p_;           // the I2P session, while up
  std::set<std::uint64_t> i2p_accepts_;         // tokens of the STREAM ACCEPTs waiting
  std::uint64_t next_i2p_accept_ns_ = 0;
  void i2p_accept_more(std::uint64_t now_ns);
  std::vector<std::uint32_t> to_ask_;  // newly authenticated outbound sessions: ask for neighbors
  std::vector<codec::NeighborAddress> neighbor_sample_;  // what GetNeighbors is answered with
  std::shared_ptr<const inv::InvTable> inv_;             // what GetNakamotoInv is answered with
  Conversation::InvAnswer inv_answer_;
  bool fill_due_ = true;
  std::uint64_t next_ask_ns_ = 0, next_fill_ns_ = 0, next_sample_ns_ = 0, next_flush_ns_ = 0, next_bootstrap_ns_ = 0;
};

}  // namespace relay::ctl
