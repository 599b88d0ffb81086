// dataplane/engine/relay_engine.hpp — the dataplane's run loop over any Transport: the
// only templated piece, a dispatcher between the transport's events, the sessions
// (sessions.hpp), the relay path (relay_path.hpp: one Verdict per push) and the link to
// the control plane (control_port.hpp).
//
//   bytes in ─▶ framer (both digests streamed; a large block checked as it arrives)
//            ─▶ push from an authenticated peer? ─▶ RelayPath::examine ─▶ Verdict
//                 kForward: the Fanout's bytes to every eligible session, paced
//                 otherwise: its counter, and the sender dropped where a node would
//            ─▶ anything else: handed whole to the control plane
//
// The dataplane never answers a peer itself and never decides who is authenticated: it
// verifies pushes against the key the control plane installed and checks preambles with
// the same function the control plane uses (relay/policy/preamble.hpp).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "dataplane/engine/control_port.hpp"
#include "dataplane/engine/fanout.hpp"
#include "dataplane/engine/relay_path.hpp"
#include "dataplane/engine/rx_bodies.hpp"
#include "dataplane/engine/sessions.hpp"
#include "dataplane/engine/stream_worker.hpp"
#include "dataplane/memory_plan.hpp"
#include "dataplane/transport/buf_pool.hpp"
#include "dataplane/transport/transport.hpp"
#include "relay/policy/preamble.hpp"

namespace relay::dp {

struct DpOptions {
  crypto::SecretKey key;              // the relay's identity: signs every forwarded push
  policy::NetworkParams net;          // network id, peer version, stable confirmations
  codec::Addr16 addrbytes{};          // our relayer entry's address
  std::uint16_t port = 20444;         // and port
  bool relay_2x = false;              // relay 2.x blocks and microblocks (a 2.x network)
  // private mode ([privacy] onlynet without clearnet): the relayer entries of a push we
  // forward go on with the any-network address and port 0, so nothing we send names a
  // clearnet address (their key hashes, which loop detection reads, are kept).
  bool hide_relayer_addresses = false;
  bool feed_block_store = true;       // hand relayed blocks to the control plane's store
  std::size_t dedup_depth = 1 << 16;  // object ids remembered
  std::uint32_t pacer_budget = 50;    // our messages queued per node (a node drops at 100)
  std::uint32_t max_inflight_sends = 8;  // per session, handed to the transport (at most 64)
  // Large pushes, a few peers at a time: when the relay's own uplink is what limits a
  // fan-out, sending a block to every peer at once makes each wait for all the copies;
  // sending to large_sends_at_once peers at a time delivers the first ones K / n times
  // sooner (and they pass it on), the last no later. Pushes of at least
  // large_push_bytes wait for a slot; a slot is free again once the copy is sent
  // (io_uring: handed to the kernel, whose socket keeps little unsent: TCP_NOTSENT_LOWAT;
  // DPDK: acknowledged). Who goes first: pair partners and trusted peers, then the
  // shortest round trip. 0: every peer at once.
  std::uint32_t large_sends_at_once = 0;
  // In step: when one of several slots comes free while the others' copies are still
  // going, it is held (for at most a quarter of the time that copy took) so that the
  // next ones start together once the others finish. TCP shares an uplink unevenly, so
  // copies started together end a few ms apart; a freed slot taken at once puts the next
  // copy beside a half-sent one, and every peer's copy then ends later than with the
  // copies in step (by half a copy's time on average). The remaining copies have the
  // whole uplink meanwhile; one that is slow for its own reasons is left behind when
  // the hold runs out.
  bool large_sends_in_step = true;
  std::size_t large_push_bytes = std::size_t{256} << 10;
  std::size_t max_sessions = 1024;       // more are refused at accept (at most 65536)
  // Inbound sessions beyond this are refused at accept, so the rest of the table stays
  // free for the control plane's dials (a flood of inbound connections cannot take the
  // slots outbound sessions need). SIZE_MAX: no reservation.
  std::size_t max_inbound = SIZE_MAX;
  // Liveness (PROTOCOL.md §4.5): an authenticated session that sends nothing for longer
  // than the heartbeat plus 30 s is closed, as a node does (the control plane pings
  // every peer every 30 min, so a live one always answers within that); a session with
  // sends outstanding that completes none for write_timeout_ns is a peer that stopped
  // reading, and is closed too.
  std::uint64_t silence_ns = (3600ull + 30) * 1'000'000'000ull;
  std::uint64_t write_timeout_ns = 180ull * 1'000'000'000ull;
  // Invalid pushes (that a node drops without dropping the sender) cost their sender a
  // point each; points halve every minute, and a sender reaching invalid_push_limit is
  // closed as misbehaving (the control plane's ban score does the rest). An honest node
  // that relays the odd invalid transaction never gets near it; one that sends nothing
  // else is cut off within seconds.
  std::uint32_t invalid_push_limit = 64;
  // A body read into the receive pool or heap (larger than the session's own buffer)
  // must arrive within body_grace_ns plus its size at body_min_bytes_per_s, or the
  // session is closed (closed_slow_body; not misbehaviour): a peer cannot trickle bytes
  // to hold a share of the receive budget for long. A 2 MiB block gets 74 s, the
  // largest message 9 min.
  std::uint64_t body_grace_ns = 10ull * 1'000'000'000ull;
  std::uint64_t body_min_bytes_per_s = 32ull << 10;
  // Under memory pressure (a body waits for the receive budget), attackers pay first:
  // once a second, the session whose large body has arrived slowest, below
  // evict_min_bytes_per_s since it began at least evict_after_ns ago, is closed
  // (closed_evicted; not misbehaviour), and its memory goes to those waiting. An honest
  // node's block arrives far faster (2 Mbit/s is a poor home uplink).
  std::uint64_t evict_min_bytes_per_s = 256ull << 10;
  std::uint64_t evict_after_ns = 4ull * 1'000'000'000ull;
  // StackerDB chunks a sender may have relayed: chunk_bytes_per_s on average (a node's
  // max_stackerdb_push_bandwidth, PROTOCOL.md §4.6: past it a node Nacks the push), in
  // bursts of up to chunk_burst_bytes (one chunk of the largest size). Past it a chunk is
  // not relayed (drop_chunk_throttled); the sender is not punished, as on a node. Until
  // chunks are checked against their slot's signer, this is what keeps one sender's
  // junk chunks (each a new dedup id) from filling every peer's queue.
  std::uint64_t chunk_bytes_per_s = 4ull << 20;
  std::uint64_t chunk_burst_bytes = (16ull << 20) + (64ull << 10);
  // And chunk_msgs_per_s chunks (bursts of chunk_msgs_burst), however small: each costs a
  // hash and, for the signers' contracts, a signature recovery. Signers write a few
  // chunks per block each; a peer relaying all of them stays far below.
  std::uint64_t chunk_msgs_per_s = 500;
  std::uint64_t chunk_msgs_burst = 2000;
  // Transactions a sender may have relayed: tx_bytes_per_s on average, in bursts of up to
  // tx_burst_bytes (two of the largest transactions), and tx_checks_per_s signature
  // checks (each signature recovered, each multisig key parsed; charged once done, so a
  // sender in debt waits), in bursts of tx_checks_burst. Past either its transactions
  // are not relayed (drop_tx_throttled); it is not punished: a node sets no such limit
  // (max_transaction_push_bandwidth = 0), and these are far above an honest node's share
  // of the network's transactions. They bound what one sender's valid-looking junk costs
  // the relay's core (~45 us a check) and every peer's queue.
  std::uint64_t tx_bytes_per_s = 1ull << 20;
  std::uint64_t tx_burst_bytes = 4ull << 20;
  std::uint64_t tx_checks_per_s = 2000;
  std::uint64_t tx_checks_burst = 8000;
  std::size_t max_conns = 1024;          // connection ids the transport hands out are below this
  // Receiving: each session keeps bodies up to rx_own_bytes in its own buffer (reserved
  // at start-up); larger ones borrow a slot of the receive pool for as long as they are
  // read, or, when no slot that large is free, heap within rx_budget (bytes of bodies
  // being read at once, the pool's included). A body that fits in neither waits, its
  // connection unread, until memory comes back (rx_waits_budget). A session the control
  // plane has not authenticated yet reads only handshake-sized bodies (up to
  // rx_preauth_bytes); a larger one waits for the key (rx_waits_key).
  std::size_t rx_own_bytes = MemoryPlan::small().rx_own_bytes;
  std::vector<BufPool::Class> rx_pool = MemoryPlan::small().rx;
  std::size_t rx_budget = std::size_t{512} << 20;
  std::size_t rx_preauth_bytes = codec::kMaxHandshakeBody;
  // NakamotoBlocks pushes of at least stream_min_bytes are checked while they arrive
  // (validate::NakamotoStream), by one of `stream_checkers` made at start-up (~1 MiB
  // each); smaller ones, and any that find none free, are checked whole at the end.
  std::size_t stream_min_bytes = 16 * 1024;
  std::size_t stream_checkers = 4;
  // stream_thread: run those checks, and the signature checks handed over, on a second
  // thread (StreamWorker) while this one keeps receiving and hashing; false: inline,
  // one core.
  bool stream_thread = true;
  // reserve_largest_push: the relay path's checkers reserve what the largest push needs
  // at start-up (~3 MiB), so checking never allocates; false (tests, fuzzing): the same
  // code, buffers grown on demand.
  bool reserve_largest_push = true;
  // second_thread_cpu: pin that thread to this CPU (see second_thread_pin_error()).
  std::optional<unsigned> second_thread_cpu = std::nullopt;
  // A large message's body is read in chunks of up to rx_chunk_bytes (the transport's
  // wake_after), shrinking towards its end so the last read carries at most
  // rx_tail_bytes: a 2 MiB block costs a few dozen wake-ups of this thread (and of the
  // stream worker) instead of one per packet. rx_chunk_bytes 0: wake for every byte.
  std::size_t rx_chunk_bytes = 64 * 1024;
  std::size_t rx_tail_bytes = 4 * 1024;
};

// rx_wake_bytes: how many more bytes a connection should wait for before its next read,
// while its current message has `due` body bytes still to come: up to `chunk`, at most
// half of what is due (so the reads shrink towards the end), all of it once no more
// than `tail` is left — the last read completes at the message's last byte, never
// later. chunk 0, or nothing due: any byte.
inline std::size_t rx_wake_bytes(std::size_t due, std::size_t chunk, std::size_t tail) noexcept {
  if (chunk == 0 || due == 0) return 1;
  if (due <= tail) return due;
  return std::min(chunk, std::max(tail, due / 2));
}

// payload_type: the payload's type byte of a body (relayers ‖ payload) with `relayers`
// entries, or kMsgTypes when the body is too short to hold it or the type is unknown.
inline std::size_t payload_type(ByteSpan body, std::uint32_t relayers) noexcept {
  const std::size_t at = 4 + std::size_t{relayers} * codec::kRelayDataSize;
  if (body.size() <= at || body[at] >= link::kMsgTypes) return link::kMsgTypes;
  return body[at];
}

template <Transport T, class F = SignOnce>
class RelayEngine final : private ControlCommands {
 public:
  RelayEngine(T& transport, link::Ends link, DpOptions opts);
  ~RelayEngine();
  RelayEngine(const RelayEngine&) = delete;
  RelayEngine& operator=(const RelayEngine&) = delete;

  // start: announce this incarnation to the control plane (every earlier session is gone).
  void start(std::uint64_t incarnation);
  // run_once: handle what the transport reports (waiting up to timeout_ms when idle),
  // the control plane's commands, and the heartbeat.
  void run_once(std::uint64_t now_ns, int timeout_ms);

  const link::DpCounters& counters() const noexcept { return *c_; }
  const policy::BurnView& burn_view() const noexcept { return path_.view(); }
  std::size_t sessions() const noexcept { return sessions_.size(); }
  std::size_t authenticated_sessions() const noexcept { return sessions_.authenticated(); }
  std::size_t reward_set_size() const noexcept { return path_.reward_set_size(); }
  // 0, or why the second thread could not be pinned to opts.second_thread_cpu (errno).
  int second_thread_pin_error() const noexcept { return pin_error_; }

 private:
  // ForwardMaker: the forward of one accepted push, as the Fanout asks for it.
  class ForwardMaker {
   public:
    ForwardMaker(RelayEngine& e, Session* from, ByteSpan body, const RelayPath::Decision& d) noexcept
        : e_(e), from_(from), body_(body), d_(d) {}
    ~ForwardMaker() {
      if (shared_ != nullptr) shared_->unref();
    }
    ForwardMaker(const ForwardMaker&) = delete;
    ForwardMaker& operator=(const ForwardMaker&) = delete;
    // make_shared: the one signed buffer every recipient shares: written while it
    // arrived (only our signature is missing), else from the framer's streamed digest,
    // else built and hashed now. False when no buffer can be had.
    bool make_shared() noexcept;
    SharedBuf* shared() noexcept {
      if (shared_ != nullptr) shared_->ref();
      return shared_;
    }
    // fresh: a forward of its own, hashed and signed now (a new reference).
    SharedBuf* fresh() noexcept;

   private:
    RelayEngine& e_;
    Session* from_;
    ByteSpan body_;
    const RelayPath::Decision& d_;
    SharedBuf* shared_ = nullptr;
  };

  // transport side. on_event/on_data: true when the event's buffer was kept (hold()).
  bool on_event(const Event& e);
  void new_session(ConnId c, link::SessionInfo info);
  bool on_data(Session& s, const Event& e);
  void wait_for_body(Session& s, const Event& e, std::size_t used);
  void try_resume(Session& s);
  void resume_waiting();
  void on_message(Session& s, std::size_t type);
  void stream_step(Session& s);
  void close_session(Session& s, const char* why, bool misbehaved);
  void forget_session(ConnId c, int err);
  void dispatch_large();
  void hold_slots(std::uint64_t took_ns) noexcept;
  // is_large: whether a push needs a large-send slot.
  bool is_large(const policy::QueuedPush& q) const noexcept { return is_large(buf_of(q)); }
  bool is_large(const SharedBuf* b) const noexcept {
    return opts_.large_sends_at_once != 0 && b->bytes().size() >= opts_.large_push_bytes;
  }
  bool has_large(Session& s) noexcept;
  std::uint64_t large_deadline(std::size_t bytes) const noexcept;
  // A large copy slower than this (after a first second) gives its slot up.
  static constexpr std::uint64_t kLargeSendMinBytesPerS = 1u << 20;
  // fan_out asks for a session's lines this many sessions ahead, and for its connection's
  // (found through them) this many.
  static constexpr std::size_t kPrefetchSessions = 4, kPrefetchConns = 2;
  bool large_ahead(const Session& a, const Session& b) const noexcept;
  void drain(Session& s);
  bool send_paced(Session& s, SharedBuf* buf, bool large);
  std::uint32_t send_window() const noexcept { return std::min<std::uint32_t>(opts_.max_inflight_sends, 64); }  // (large_bits)
  void evict_slowest(std::uint64_t now_ns);
  void sweep(std::uint64_t now_ns);
  void send_now(Session& s, ByteSpan bytes);
  void view_hint(Session& s, const policy::BurnView& seen);
  // over_allowance: nullptr when a push of `type` and `size` bytes from `s` is within
  // the sender's allowances (and takes from them); otherwise the counter of its refusal.
  std::atomic<std::uint64_t>* over_allowance(Session& s, codec::MsgId type, std::size_t size) noexcept;

  // relay side. from: the session the push came from (nullptr: one we originate);
  // checked: its stream checker, if it was checked while it arrived; digest: our
  // forward's, streamed; sender: its signature, being checked beside this.
  void relay(Session* from, ByteSpan body, StreamWorker::Slot* checked, const codec::Hash32* digest,
             SenderSignature* sender);
  void fan_out(Session* from, ForwardMaker& m, policy::Priority prio);
  void resign_queued();

  // ControlCommands
  void on_control_hello() override;
  bool on_connect(std::uint64_t token, const net::PeerAddress& addr, const net::ConnectOptions& how) override;
  void on_send(std::uint32_t sid, ByteSpan message) override;
  void on_close(std::uint32_t sid, bool misbehaved) override;
  bool on_authenticated(std::uint32_t sid, ByteSpan key33, std::uint8_t flags) override;
  void on_burn_view(const policy::BurnView& v) override;
  void on_reward_sets(const link::RewardSets& sets) override;
  bool on_relay(std::uint32_t sid, ByteSpan message) override;
  void on_originate(ByteSpan body) override;

  void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void count_out(ByteSpan msg) noexcept;  // per-type traffic counters of a message written
  // track_path: sample session `s`'s connection (MPTCP, its subflows, a fallback) into
  // the gauges and counters; `closing`: it is going, take it out of the gauges.
  void track_path(Session& s, bool closing) noexcept;
  void count_sessions() noexcept {
    c_->sessions_live.store(sessions_.size(), std::memory_order_relaxed);
    c_->sessions_auth_live.store(sessions_.authenticated(), std::memory_order_relaxed);
  }

  T& t_;
  DpOptions opts_;
  ControlPort port_;
  link::DpCounters* c_;
  RelayPath path_;
  StreamWorker streams_;
  std::vector<SharedBuf*> resign_old_;  // distinct queued buffers when the burn view moves (sorted)
  std::vector<std::uint32_t> large_waiting_;  // sids of sessions whose next push waits for a large-send slot
  std::uint32_t large_busy_ = 0;              // slots taken (granted, or a large copy being sent)
  std::uint64_t large_hold_until_ns_ = 0;     // freed slots wait for the busy ones until then (0: no hold)
  std::uint32_t fanouts_ = 0;                 // pushes fanned out so far (QueuedPush::order; wraps)
  std::vector<SharedBuf*> resign_new_;  // their re-signed replacements
  std::unique_ptr<BufPool> rx_pool_;
  RxBodies rx_bodies_;
  SessionTable sessions_;
  std::vector<std::uint32_t> waiting_;  // sids whose bodies wait for memory, oldest first
  std::unordered_map<ConnId, std::uint64_t> dialing_;  // conn → the control plane's dial token
  bool ctl_seen_ = false;
  std::size_t inbound_live_ = 0;
  std::uint64_t now_ns_ = 0;        // the current run_once's time (liveness clocks)
  std::uint64_t next_sweep_ns_ = 0;
  std::uint64_t sweeps_ = 0;
  std::uint64_t rx_ns_ = 0;  // when the current batch of receives was reaped (relay latency)
  int pin_error_ = 0;
};

}  // namespace relay::dp

#include "dataplane/engine/relay_engine_impl.hpp"
