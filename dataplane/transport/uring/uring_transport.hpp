// dataplane/transport/uring/uring_transport.hpp — kernel TCP through io_uring.
//
// One ring per dataplane core. Multishot accept on the listener; every connection's
// socket is installed in the ring's registered file table (sends and receives use the
// fixed index, no fd lookup per operation); one multishot receive per connection draws
// from a provided-buffer ring (liburing 2.3 has no io_uring_setup_buf_ring: we map and
// register the ring ourselves); sends reference a SharedBuf, so one signed message goes
// to many sockets without a copy per peer. SINGLE_ISSUER|DEFER_TASKRUN are used when
// the kernel has them (probed at start; what was missing is reported in features()).
//
// Thread model: one thread owns the transport (SINGLE_ISSUER). Hot path (poll/send/
// release) makes one io_uring_enter per poll and no allocation.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/memory_plan.hpp"
#include "dataplane/transport/buf_pool.hpp"
#include "dataplane/transport/transport.hpp"
#include "dataplane/transport/uring/mptcp.hpp"
#include "relay/net/dialogue.hpp"

// liburing's types, kept out of this header: users see the Transport, not the ring.
struct io_uring;
struct io_uring_sqe;
struct io_uring_cqe;
struct io_uring_buf_ring;

namespace relay::dp {

struct UringConfig {
  std::uint32_t max_conns = 1024;        // registered file slots = connection table size
  std::uint32_t sq_entries = 1024;       // submission queue depth
  std::uint32_t buf_count = 1024;        // provided receive buffers (power of two)
  std::uint32_t buf_size = 16 * 1024;    // bytes per receive buffer
  std::uint32_t max_queued_sends = 256;  // per connection, before send() refuses (backpressure)
  bool cautious_reads = false;           // new connections read one buffer at a time until trust_reads()
  // Send buffers registered with the kernel (alloc()), by slot size (the largest must
  // hold the largest message sent). Empty: no pool, alloc() uses the heap.
  std::vector<BufPool::Class> send_pool = MemoryPlan::small().send;
  // Pool buffers at least this big go out as zero-copy sends; smaller ones are copied by
  // the kernel (for a transaction, pinning pages and waiting for the notification costs
  // more than copying 300 bytes; on loopback the kernel copies zero-copy sends anyway).
  std::uint32_t zc_min_bytes = 16 * 1024;
  // How long a proxy's handshake may take (SOCKS5: to the end of its CONNECT reply). Tor
  // gives an onion connection two minutes itself (SocksTimeout).
  std::uint64_t dialogue_timeout_ms = 120'000;
  // notsent_lowat: TCP_NOTSENT_LOWAT on every connection (0: the kernel's default, none).
  // A send then completes once all but about this much of it is on the wire rather than
  // as soon as the socket buffer holds it: what a sender that paces large copies by
  // their completions (p2p.large_sends_at_once) needs.
  std::uint32_t notsent_lowat = 0;
};

struct UringFeatures {
  bool single_issuer = false;
  bool defer_taskrun = false;
  bool fixed_buffers = false;  // the send pool is registered; its buffers go out as zero-copy sends
  // restricted: the ring accepts only the operations the transport submits (receive,
  // send, accept, connect, cancel) and the one registration it makes after start-up
  // (the file table's updates): with io_uring_enter allowed by the system-call filter, a
  // compromised process could otherwise open files or run anything else through the ring.
  bool restricted = false;
  std::string missing;  // human-readable list of what the kernel lacked
};

class UringTransport {
 public:
  // create: set up the ring, the file table and the buffer ring. Errors name the step.
  static Result<std::unique_ptr<UringTransport>> create(const UringConfig& cfg);
  ~UringTransport();
  UringTransport(const UringTransport&) = delete;
  UringTransport& operator=(const UringTransport&) = delete;

  // listen: bind (port 0 = any free port) and accept; returns the bound port. There may
  // be several listeners: each accepted connection's kAccepted event carries its
  // listener's `tag` in `user` (e.g. the onion service's own listener). With `mptcp` the
  // listener is an MPTCP socket (plain TCP peers are served as ever; a plain TCP
  // listener when the kernel has no MPTCP: see mptcp()).
  Result<std::uint16_t> listen(const sockaddr_in6& addr, int backlog = 1024, std::uint8_t tag = 0, bool mptcp = false);

  // mptcp: what the kernel offers MPTCP sockets, probed on first use (or now). Probe
  // before a sandbox closes /proc: the reason MPTCP is off is read there.
  const MptcpSupport& mptcp();
  // path_state: how connection `c` runs now (plain TCP, MPTCP and its subflows, or an
  // MPTCP socket fallen back to TCP).
  PathState path_state(ConnId c) const noexcept {
    return c < conns_.size() && conns_[c].in_use ? dp::path_state(conns_[c].fd, conns_[c].mptcp_asked) : PathState{};
  }

  std::size_t poll(std::span<Event> evs, int timeout_ms);
  void release(const Event& ev);
  Status send(ConnId c, SharedBuf* buf, std::uint64_t tag);
  // prefetch_send (SendPrefetch): the lines of connection c's entry that send() reads
  // (kSendState bytes from its start).
  void prefetch_send(ConnId c) const noexcept {
    if (c >= conns_.size()) return;
    const auto* k = reinterpret_cast<const char*>(&conns_[c]);
    __builtin_prefetch(k);
    __builtin_prefetch(k + kSendState - 1);
  }
  Result<ConnId> connect(const net::PeerAddress& addr, const net::ConnectOptions& how = {});
  void close(ConnId c);
  // hold/resume (the Transport concept): the connection's multishot receive is
  // cancelled. What is kept is copied out of the provided buffers at once (they go back
  // to the ring, so paused connections never starve the others of receive buffers), with
  // whatever the receive still completes before the cancel; resume() hands it back as
  // one kData event.
  void hold(const Event& ev, std::size_t from);
  void resume(ConnId c);
  // trust_reads: with UringConfig::cautious_reads, a new connection reads one buffer at a
  // time (the next read is made once the last one was released or held), so one that has
  // not shown who it is can put at most one buffer's worth ahead of a pause; from this
  // call on it reads everything the socket has at once (multishot).
  void trust_reads(ConnId c);
  std::size_t held_bytes() const noexcept { return held_bytes_; }  // in every paused connection's stash
  SharedBuf* alloc(std::size_t n);
  void flush() noexcept;
  // wake_after: SO_RCVLOWAT on the connection's socket, so its receives complete only
  // once that many bytes are in (TCP wakes the reader no sooner). Applied before the next
  // wait, and only when the value changed: a large body costs a few setsockopt calls
  // instead of a wake-up per packet.
  void wake_after(ConnId c, std::size_t bytes) noexcept;

  const UringFeatures& features() const noexcept { return features_; }
  // submit_op_for_test: submit one bare operation `opcode` and wait for its result (the
  // CQE's res; -EACCES when the ring's restrictions refuse it). Tests only, on a
  // transport with nothing else in flight.
  int submit_op_for_test(std::uint8_t opcode);
  std::uint32_t open_conns() const noexcept { return open_; }
  // remote: the connection's other end (the accepted peer, or the address dialed).
  // (Through a proxy: the peer the proxy was asked for, not the proxy.)
  net::PeerAddress remote(ConnId c) const noexcept {
    if (c < conns_.size() && conns_[c].target) return *conns_[c].target;
    return net::from_sockaddr(c < conns_.size() ? conns_[c].peer : sockaddr_in6{});
  }
  // set_option: setsockopt on the connection's socket (e.g. SO_MAX_PACING_RATE, which the
  // benchmark models a node's uplink with).
  Status set_option(ConnId c, int level, int name, const void* value, socklen_t len);
  // native_fd: the connection's socket, for what io_uring does not do (reading its error
  // queue, e.g. send timestamps); -1 when there is no such connection.
  int native_fd(ConnId c) const noexcept { return c < conns_.size() && conns_[c].in_use ? conns_[c].fd : -1; }
  // rtt_us: the kernel's smoothed round trip for connection c (TCP_INFO; 0: unknown).
  std::uint32_t rtt_us(ConnId c) const noexcept;
  // counters
  std::uint64_t dialogues_failed() const noexcept { return dialogues_failed_; }  // proxy handshakes that failed
  std::uint64_t recv_nobufs() const noexcept { return recv_nobufs_; }
  std::uint64_t lowat_sets() const noexcept { return lowat_sets_; }
  std::uint64_t fixed_sends() const noexcept { return fixed_sends_; }
  const BufPool* pool() const noexcept { return pool_.get(); }

 private:
  struct PendingSend {
    SharedBuf* buf;
    std::uint64_t tag;
  };

  struct Conn {
    int fd = -1;
    std::uint32_t gen = 0;
    bool in_use = false;
    bool connecting = false;
    bool closing = false;
    bool recv_armed = false;
    std::uint32_t inflight = 0;
    int close_err = 0;
    sockaddr_in6 peer{};
    std::vector<PendingSend> sendq;  // ring buffer: max_queued_sends, rounded up to a power of two
    std::uint32_t sq_head = 0, sq_len = 0;
    std::uint32_t sq_mask() const noexcept { return static_cast<std::uint32_t>(sendq.size()) - 1; }
    PendingSend& queued(std::uint32_t i) noexcept { return sendq[(sq_head + i) & sq_mask()]; }  // i-th from the head
    std::size_t sent_off = 0;        // bytes of the head send already written
    std::uint32_t lowat = 1;         // SO_RCVLOWAT on the socket
    std::uint32_t lowat_want = 1;    // what wake_after asked for
    bool lowat_queued = false;       // in lowat_dirty_
    bool paused = false;             // hold(): not reading until resume()
    bool eof_held = false;           // the peer closed while paused
    bool one_read = false;           // cautious: one buffer per read until trust_reads()
    bool close_pending = false;      // closed; the id is reused once its kClosed was handed out
    bool stash_out = false;          // the stash is an event's data (resume()) until it is released
    bool close_after_stash = false;  // the peer closed: kClosed once the stash's event is released
    Bytes stash;                     // bytes kept while paused, then until their event is released
    // A proxy's handshake before the peer's bytes (net::Dialogue): while it runs, what
    // arrives is its answer (dlg_in) and the connection is not yet reported to the
    // application; its failure is a failed connect.
    std::unique_ptr<net::Dialogue> dlg;
    Bytes dlg_in;                     // received, not yet consumed by the dialogue
    Bytes dlg_out;                    // being written for it
    std::size_t dlg_out_off = 0;
    std::optional<net::PeerAddress> target;  // the peer behind the proxy (remote())
    std::uint64_t dlg_since_ns = 0;   // when the dialogue began (its timeout)
    bool mptcp_asked = false;         // made as an MPTCP socket, or accepted on an MPTCP listener
  };
  static constexpr std::size_t kSendState = offsetof(Conn, lowat);  // what send() reads comes before

  explicit UringTransport(const UringConfig& cfg);
  Status init();
  io_uring_sqe* sqe();
  Result<ConnId> adopt(int fd, bool connecting, const sockaddr_in6* peer, bool mptcp_asked = false);
  // mptcp_socket: an MPTCP socket, or -1 (MPTCP unavailable: noted in features().missing).
  int mptcp_socket();
  void arm_recv(ConnId c);
  void keep(Conn& k, ByteSpan bytes);
  void release_buf(std::uint32_t bid) noexcept;
  void drop_stash(Conn& k) noexcept;
  void arm_accept(std::uint32_t listener);
  void submit_send(ConnId c);
  void setup_send_pool();
  void finish_close(ConnId c);
  void begin_close(ConnId c, int err);
  void push_event(const Event& e);
  Event pop_backlog();
  void apply_wake_hints() noexcept;
  bool handle_cqe(const io_uring_cqe* cqe, std::span<Event> evs, std::size_t& n);
  void dialogue_send(ConnId c, Bytes bytes);
  void dialogue_bytes(ConnId c, ByteSpan in, std::span<Event> evs, std::size_t& n);
  void connection_ready(ConnId c, std::span<Event> evs, std::size_t& n);
  void expire_dialogues();

  UringConfig cfg_;
  Status restrict_and_enable();
  bool ring_disabled_ = false;  // created with R_DISABLED: enabled once restricted
  UringFeatures features_;
  std::unique_ptr<io_uring> ring_;
  bool ring_ok_ = false;
  std::vector<int> listen_fds_;
  std::vector<std::uint8_t> listen_tags_;
  std::vector<bool> listen_mptcp_;
  std::optional<MptcpSupport> mptcp_;  // probed on first use
  bool mptcp_zc_ = true;               // zero-copy sends on MPTCP sockets (until one is refused)
  io_uring_buf_ring* br_ = nullptr;
  std::size_t br_map_sz_ = 0;
  std::uint8_t* bufs_ = nullptr;
  std::vector<Conn> conns_;
  std::vector<ConnId> free_;
  std::vector<Event> backlog_;  // events not tied to a completion (e.g. immediate close)
  std::uint32_t open_ = 0;
  std::uint64_t recv_nobufs_ = 0;
  std::uint64_t dialogues_failed_ = 0;
  std::vector<ConnId> dialoguing_;  // connections whose dialogue may still be running
  std::size_t held_bytes_ = 0;
  std::vector<ConnId> lowat_dirty_;  // connections whose wake_after changed
  std::uint64_t lowat_sets_ = 0;
  std::unique_ptr<BufPool> pool_;
  std::uint64_t fixed_sends_ = 0;
  struct ZcRec {  // a zero-copy send whose buffer the kernel may still read
    SharedBuf* buf = nullptr;
    ConnId conn = kNoConn;
    std::uint32_t gen = 0;
  };
  std::vector<ZcRec> zc_recs_;
  std::vector<std::uint32_t> zc_free_;
};

static_assert(Transport<UringTransport>);
static_assert(SendPrefetch<UringTransport>);

}  // namespace relay::dp
