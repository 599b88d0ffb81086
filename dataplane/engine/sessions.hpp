// dataplane/engine/sessions.hpp — the dataplane's sessions: one per connection, each
// with its framer, the key the control plane installed, its pacer (the pushes waiting
// to go to that node), and what runs beside the message arriving on it.
//
// SessionTable holds every session the dataplane can have, built at start-up (framers,
// pacer queues), indexed by connection and by session id; nothing is allocated when a
// peer connects or leaves. A session id is (generation << 16 | slot), so a command for
// a session that is gone never reaches the next one in its slot.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "dataplane/engine/stream_worker.hpp"
#include "dataplane/transport/transport.hpp"
#include "relay/codec/framer.hpp"
#include "relay/link/link.hpp"
#include "relay/policy/allowance.hpp"
#include "relay/policy/relay_policy.hpp"

namespace relay::dp {

// Arrival: what runs beside one message while its bytes arrive: a large block push's
// checks (a stream checker) and its forward, written as it arrives into a buffer of
// ours (the framer's sink). Both belong to the message: end() lets go of whatever was
// not taken, before the next message starts or when the session goes.
struct Arrival {
  StreamWorker::Slot* stream = nullptr;
  SharedBuf* forward = nullptr;  // our reference
  bool decided = false;          // whether this message gets them is settled

  // take_forward: the forward buffer, now the caller's reference (nullptr: none).
  SharedBuf* take_forward() noexcept {
    SharedBuf* f = forward;
    forward = nullptr;
    return f;
  }
  void end(StreamWorker& w) noexcept {
    decided = false;
    if (forward != nullptr) take_forward()->unref();
    if (stream != nullptr) w.release(stream);
    stream = nullptr;
  }
};

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
  // What goes out to this peer passes two bounded stages. The pacer is where relayed
  // pushes wait under policy (blocks first, transactions dropped oldest-first, at most
  // pacer_budget). The transport's queue is the send window: at most
  // max_inflight_sends pushes the kernel is being handed, in order, plus the control
  // plane's own messages (send_now), which are not paced.
  policy::SessionPacer pacer;  // handles are SharedBuf*, one reference each
  std::uint32_t inflight = 0;  // pushes handed to the transport, not yet completed
  policy::BurnView last_hint;  // the view this peer's preambles last carried
  bool closing = false;
  bool misbehaved = false;
  bool pair_partner = false;  // a partner relay of a pair: no per-sender allowances
  bool trusted = false;       // a trusted peer (p2p.trusted_peers)
  // Large pushes, a few peers at a time (DpOptions::large_sends_at_once): this session
  // waits for a slot; holds one whose push it has not handed over yet; and which of its
  // sends in flight are large ones (bit i: the i-th oldest), each holding a slot.
  bool large_waiting = false;
  bool large_granted = false;
  std::uint32_t rtt_us = 0;  // its round trip when it began waiting (0: unknown)
  std::uint32_t large_order = 0;  // the fan-out number of the push it waits to send
  std::uint64_t large_bits = 0;
  std::uint64_t large_deadline_ns = 0;  // its oldest large copy in flight gives up its slot then
  std::uint64_t large_since_ns = 0;     // when its oldest large copy in flight started (its clock)
  const char* why = "";
  std::uint64_t last_rx_ns = 0;    // when bytes last arrived (silence)
  std::uint32_t invalid_points = 0;  // invalid pushes, halved every minute
  std::uint64_t body_deadline_ns = 0;  // a large body being read must be in by then (0: none)
  std::uint64_t body_start_ns = 0;     // when that body began (its rate, under memory pressure)
  policy::Allowance chunk_bytes;    // StackerDB chunk bytes it may have relayed
  policy::Allowance chunk_msgs;     // and chunks
  policy::Allowance tx_bytes;       // transaction bytes it may have relayed
  policy::Allowance tx_checks;      // transaction signature checks it may cost
  std::uint64_t last_tx_ns = 0;    // when a send last completed, or the first was queued (write timeout)
  PathState path;              // MPTCP or not, and its subflows (as last sampled)
  bool held = false;           // its connection is paused: the current body waits for a home
  bool in_waiting = false;     // in the engine's list of sessions waiting for memory
  Arrival arrival;
  explicit Session(std::uint32_t budget) : pacer(budget) {}
};

// prefetch_for_copy: ask for the lines of `s` that a copy past an empty pacer reads or
// writes (its connection, whether it has a key, its key hash, the pacer's count, its send
// count, flags and write clock), without waiting for them.
inline void prefetch_for_copy(const Session& s) noexcept {
  __builtin_prefetch(&s.conn);
  __builtin_prefetch(&s.pkh);  // (with the key's engaged flag before it and the pacer's count after)
  __builtin_prefetch(&s.pacer);
  __builtin_prefetch(&s.inflight);
  __builtin_prefetch(&s.closing);
  __builtin_prefetch(&s.last_tx_ns);
}

class SessionTable {
 public:
  // At most 65536 sessions; connection ids below max_conns. Each framer keeps bodies up
  // to rx_own_bytes in its own buffer and borrows larger ones from `rx`.
  SessionTable(std::size_t max_sessions, std::size_t max_conns, std::uint32_t budget, codec::BodySource* rx,
               std::size_t rx_own_bytes);
  ~SessionTable();  // what waits in the pacers is let go
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  Session* open(ConnId c, const link::SessionInfo& info) noexcept;  // nullptr: full, or c out of range
  // close: the session is gone: its pacer emptied, its framer's lease returned, its
  // slot free for the next connection.
  void close(Session& s) noexcept;
  Session* by_conn(ConnId c) noexcept { return c < by_conn_.size() && by_conn_[c] != nullptr ? by_conn_[c] : nullptr; }
  Session* by_sid(std::uint32_t sid) noexcept {
    const std::uint32_t slot = sid & 0xffff;
    if (slot >= slots_.size()) return nullptr;
    Session* s = slots_[slot].get();
    return s->conn != kNoConn && s->sid == sid ? s : nullptr;
  }
  std::size_t size() const noexcept { return live_.size(); }
  std::size_t authenticated() const noexcept;
  std::span<Session* const> live() const noexcept { return live_; }  // the open sessions
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

// Pacer handles are SharedBuf references.
inline SharedBuf* buf_of(const policy::QueuedPush& q) noexcept { return reinterpret_cast<SharedBuf*>(q.handle); }
inline std::uint64_t handle_of(SharedBuf* b) noexcept { return reinterpret_cast<std::uint64_t>(b); }
// drop_queued: let go of every push waiting in `s`'s pacer.
inline void drop_queued(Session& s) noexcept {
  while (auto p = s.pacer.next()) buf_of(*p)->unref();
}

}  // namespace relay::dp
