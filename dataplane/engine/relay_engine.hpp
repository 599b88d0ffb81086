// dataplane/engine/relay_engine.hpp — the dataplane's run loop over any Transport:
// sessions (framing with both digests streamed), the relay path of ARCHITECTURE.md §3
// (verify, validate, dedup, relayers rules, sign once, identical bytes to every eligible
// session, paced, blocks before transactions), and its half of the link to the control
// plane (relay/link): everything that is not a push from an authenticated peer goes to
// the control plane whole; commands come back (send, close, connect, peer key, burn
// view, reward set).
//
// The dataplane never answers a peer itself and never decides who is authenticated: it
// verifies pushes against the key the control plane installed and checks preambles with
// the same function the control plane uses (relay/policy/preamble.hpp).
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "dataplane/engine/stream_worker.hpp"
#include "dataplane/transport/buf_pool.hpp"
#include "dataplane/transport/transport.hpp"
#include "relay/codec/framer.hpp"
#include "relay/dedup/tag_cache.hpp"
#include "relay/link/link.hpp"
#include "relay/policy/preamble.hpp"
#include "relay/policy/relay_policy.hpp"
#include "relay/shm/frag_ring.hpp"
#include "relay/validate/nakamoto_stream.hpp"
#include "relay/validate/push_check.hpp"
#include "relay/validate/validate.hpp"

namespace relay::dp {

struct DpOptions {
  crypto::SecretKey key;              // the relay's identity: signs every forwarded push
  policy::NetworkParams net;          // network id, peer version, stable confirmations
  codec::Addr16 addrbytes{};          // our relayer entry's address
  std::uint16_t port = 20444;         // and port
  bool relay_2x = false;              // relay 2.x blocks and microblocks (a 2.x network)
  bool feed_block_store = true;       // hand relayed blocks to the control plane's store
  std::size_t dedup_depth = 1 << 16;  // object ids remembered
  std::uint32_t pacer_budget = 50;    // our messages queued per node (a node drops at 100)
  std::uint32_t max_inflight_sends = 8;  // per session, handed to the transport
  std::size_t max_sessions = 1024;       // more are refused at accept (at most 65536)
  std::size_t max_conns = 1024;          // connection ids the transport hands out are below this
  // Receiving: each session keeps bodies up to rx_own_bytes in its own buffer (reserved
  // at start-up); larger ones borrow a slot of the receive pool for as long as they are
  // read. Only when no slot that large is free does a session's buffer grow (a heap
  // allocation, counted as rx_body_grows; the capacity is then kept).
  std::size_t rx_own_bytes = 64 * 1024;
  std::vector<BufPool::Class> rx_pool = {{256 * 1024, 16}, {2 * 1024 * 1024, 4}, {codec::kMaxMessageLen, 1}};
  // reference_algorithm: BENCHMARK BASELINE ONLY. Relay as stacks-core does: no streamed
  // forward digest; once a push has arrived (and passed the same checks), every
  // recipient gets its own forward, hashed and signed for it alone. Slower by design.
  bool reference_algorithm = false;
  // NakamotoBlocks pushes of at least stream_min_bytes are checked while they arrive
  // (validate::NakamotoStream), by one of `stream_checkers` made at start-up (~1 MiB
  // each); smaller ones, and any that find none free, are checked whole at the end.
  std::size_t stream_min_bytes = 16 * 1024;
  std::size_t stream_checkers = 4;
  // stream_thread: run those checks on a second thread (StreamWorker) while this one
  // keeps receiving and hashing; false: inline, one core.
  bool stream_thread = true;
  // second_thread_cpu: pin that thread to this CPU (see second_thread_pin_error()).
  std::optional<unsigned> second_thread_cpu = std::nullopt;
  // A large message's body is read in chunks of up to rx_chunk_bytes (the transport's
  // wake_after), shrinking towards its end so the last read carries at most
  // rx_tail_bytes: a 2 MiB block costs a few dozen wake-ups of this thread (and of the
  // stream worker) instead of one per packet. rx_chunk_bytes 0: wake for every byte.
  std::size_t rx_chunk_bytes = 64 * 1024;
  std::size_t rx_tail_bytes = 4 * 1024;
};

// Links in one process (tests, the simulated network): the two ring ends of a region.
struct DpLinkEnds {
  shm::RingProducer to_ctl;
  shm::RingConsumer from_ctl;
  link::DpCounters* counters;
  shm::Cnc* cnc;
};
Result<DpLinkEnds> join_dp_link(const link::Link& l) noexcept;

template <Transport T>
class RelayEngine {
 public:
  RelayEngine(T& transport, DpLinkEnds link, DpOptions opts);
  ~RelayEngine();
  RelayEngine(const RelayEngine&) = delete;
  RelayEngine& operator=(const RelayEngine&) = delete;

  // start: announce this incarnation to the control plane (every earlier session is gone).
  void start(std::uint64_t incarnation);
  // run_once: handle what the transport reports (waiting up to timeout_ms when idle),
  // the control plane's commands, and the heartbeat.
  void run_once(std::uint64_t now_ns, int timeout_ms);

  const link::DpCounters& counters() const noexcept { return *c_; }
  const policy::BurnView& burn_view() const noexcept { return view_; }
  std::size_t sessions() const noexcept { return sessions_.size(); }
  std::size_t authenticated_sessions() const noexcept;
  std::size_t reward_set_size() const noexcept { return push_check_.signer_set().signers().size(); }
  // 0, or why the second thread could not be pinned to opts.second_thread_cpu (errno).
  int second_thread_pin_error() const noexcept { return pin_error_; }

 private:
  struct Session {
    ConnId conn = kNoConn;
    std::uint32_t sid = 0;
    std::uint32_t slot = 0;      // index in the table (low 16 bits of sid)
    std::uint32_t live_pos = 0;  // index in the table's live list
    std::uint16_t gen = 0;       // bumped at every reuse (high 16 bits of sid)
    link::SessionInfo info;
    codec::Framer framer;
    std::optional<crypto::PublicKey> key;  // installed by the control plane
    codec::Hash20 pkh{};
    policy::SessionPacer pacer;
    std::uint32_t inflight = 0;
    policy::BurnView last_hint;  // the view this peer's preambles last carried
    bool closing = false;
    bool misbehaved = false;
    const char* why = "";
    std::uint64_t rx_grows = 0;  // the framer's body_grows() already counted
    StreamWorker::Slot* stream = nullptr;        // checking the current message as it arrives
    SharedBuf* forward = nullptr;                // and its forward, filled as it arrives (the framer's sink)
    bool stream_decided = false;                 // whether the current message gets one is settled
    explicit Session(std::uint32_t budget) : pacer(budget) {}
  };

  // SessionTable: every session the dataplane can hold, built at start-up (framers,
  // pacer queues), indexed by connection and by session id; nothing is allocated when a
  // peer connects or leaves. A session id is (generation << 16 | slot), so a command for
  // a session that is gone never reaches the next one in its slot.
  class SessionTable {
   public:
    SessionTable(std::size_t max_sessions, std::size_t max_conns, std::uint32_t budget,
                 codec::BodySource* rx, std::size_t rx_own_bytes);
    Session* open(ConnId c, const link::SessionInfo& info) noexcept;  // nullptr: full, or c out of range
    void close(Session& s) noexcept;
    Session* by_conn(ConnId c) noexcept {
      return c < by_conn_.size() && by_conn_[c] != nullptr ? by_conn_[c] : nullptr;
    }
    Session* by_sid(std::uint32_t sid) noexcept {
      const std::uint32_t slot = sid & 0xffff;
      if (slot >= slots_.size()) return nullptr;
      Session* s = slots_[slot].get();
      return s->conn != kNoConn && s->sid == sid ? s : nullptr;
    }
    std::size_t size() const noexcept { return live_.size(); }
    auto begin() noexcept { return live_.begin(); }
    auto end() noexcept { return live_.end(); }
    auto begin() const noexcept { return live_.cbegin(); }
    auto end() const noexcept { return live_.cend(); }

   private:
    std::vector<std::unique_ptr<Session>> slots_;
    std::vector<std::uint32_t> free_;
    std::vector<Session*> by_conn_;
    std::vector<Session*> live_;
  };

  // transport side
  void on_event(const Event& e, std::uint64_t now_ns);
  void new_session(ConnId c, const link::SessionInfo& info);
  void on_data(Session& s, ByteSpan d);
  void on_message(Session& s);
  void stream_step(Session& s);
  void stream_release(Session& s) noexcept;
  void arm_forward(Session& s);
  void close_session(Session& s, const char* why, bool misbehaved);
  void forget_session(ConnId c, int err);
  void drain(Session& s);
  void send_now(Session& s, ByteSpan bytes);
  SharedBuf* copy_to_buf(ByteSpan bytes);

  // A message signature being checked (maybe on the second thread) while the relay path
  // reads the payload.
  struct SigCheck {
    const codec::Hash32& digest;
    const codec::Sig65& sig;
    const crypto::PublicKey& key;
    TaskBoard::Job* job = nullptr;  // posted, not joined yet
    bool ok = false;
  };
  bool signature_ok(Session& s, SigCheck& sig);  // joins; a bad signature drops the sender
  void view_hint(Session& s, const policy::BurnView& seen);

  // relay path (no allocation: decode scratch, relayers and re-sign lists are sized at
  // start-up, forwards are written into transport buffers)
  // streamed: the framer's forward digest belongs to `body` (false for a push the control
  // plane handed back, which is hashed here). sig: the sender's signature, checked beside
  // this; nothing is acted on before its verdict.
  void relay(Session* from, ByteSpan body, bool streamed, SigCheck* sig = nullptr);
  codec::Preamble our_preamble() const noexcept;  // fresh random seq, our burn view
  SharedBuf* forward_into_buf(ByteSpan body, std::uint32_t relayer_count);
  void sign_in_place(std::span<std::uint8_t> msg) const;
  void resign_queued();

  // link side
  void poll_control(std::uint64_t now_ns);
  void on_command(const shm::Frag& f, std::uint64_t now_ns);
  bool to_control(link::DpMsg kind, std::uint32_t sid, ByteSpan head, ByteSpan a = {}, ByteSpan b = {});
  void event_to_control(link::DpMsg kind, std::uint32_t sid, const Bytes& body);
  void flush_pending();
  void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void count_out(ByteSpan msg) noexcept;  // per-type traffic counters of a message written

  // Receive-pool slots lent to framers for large bodies.
  struct RxSource final : codec::BodySource {
    BufPool* pool = nullptr;
    codec::BodyLease lease(std::size_t n) noexcept override {
      SharedBuf* b = pool != nullptr ? pool->alloc(n) : nullptr;
      if (b == nullptr) return {};
      return {b->fill(), b};
    }
    void release(const codec::BodyLease& l) noexcept override { static_cast<SharedBuf*>(l.handle)->unref(); }
  };

  T& t_;
  DpOptions opts_;
  shm::RingProducer to_ctl_;
  shm::RingConsumer from_ctl_;
  link::DpCounters* c_;
  shm::Cnc* cnc_;
  codec::Hash20 our_pkh_{};
  codec::RelayData self_{};
  policy::BurnView view_;
  validate::PushCheck push_check_;
  StreamWorker streams_;
  std::vector<codec::RelayData> relayers_;  // of the push being relayed (≤ 16)
  std::vector<SharedBuf*> resign_old_;  // distinct queued buffers when the burn view moves (sorted)
  std::vector<SharedBuf*> resign_new_;  // their re-signed replacements
  dedup::TagCache dedup_;
  std::unique_ptr<BufPool> rx_pool_;
  RxSource rx_source_;
  SessionTable sessions_;
  std::unordered_map<ConnId, std::uint64_t> dialing_;  // conn → the control plane's dial token
  struct Pending {
    link::DpMsg kind;
    std::uint32_t sid;
    Bytes body;
  };
  std::deque<Pending> pending_;  // events waiting for ring credit (kept in order)
  std::size_t pending_bytes_ = 0;
  bool ctl_seen_ = false;
  std::uint64_t rx_ns_ = 0;  // when the current batch of receives was reaped (relay latency)
  int pin_error_ = 0;
};

}  // namespace relay::dp

#include "dataplane/engine/relay_engine_impl.hpp"
