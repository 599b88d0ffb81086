// dataplane/transport/mem/mem_transport.hpp — an in-memory network of transports for
// tests of the session and relay logic (no sockets, deterministic), with fault
// injection: deliveries split into small chunks, connections reset after N bytes,
// connects refused. Satisfies the same `Transport` concept as the io_uring backend.
//
// Single-threaded: every endpoint of one MemNetwork must be used from one thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "dataplane/transport/transport.hpp"

namespace relay::dp {

struct MemFaults {
  std::size_t max_chunk = 0;            // split every delivery into chunks ≤ this (0: whole)
  std::uint64_t reset_after_bytes = 0;  // reset a connection once this many bytes crossed it (0: never)
  bool refuse_connects = false;         // every connect() fails with ECONNREFUSED
  std::uint64_t seed = 1;               // chunk sizes are pseudo-random in [1, max_chunk]
};

class MemTransport;

class MemNetwork {
 public:
  MemNetwork() = default;
  MemNetwork(const MemNetwork&) = delete;
  MemNetwork& operator=(const MemNetwork&) = delete;
  MemFaults faults;

 private:
  friend class MemTransport;
  struct Pipe;  // one direction of a connection
  std::map<std::uint16_t, MemTransport*> listeners_;
  std::map<std::uint16_t, std::uint8_t> listener_tags_;
};

class MemTransport {
 public:
  // listen_port: accept connections to that port (0: dial only). The endpoint's address
  // is ::ffff:127.0.0.1 unless set_address() says otherwise.
  MemTransport(MemNetwork& net, std::uint16_t listen_port = 0);
  ~MemTransport();
  MemTransport(const MemTransport&) = delete;
  MemTransport& operator=(const MemTransport&) = delete;

  // listen_also: accept connections to `port` as well, their kAccepted events carrying
  // `tag` (as UringTransport::listen's tag: e.g. the onion listener's).
  void listen_also(std::uint16_t port, std::uint8_t tag);

  std::size_t poll(std::span<Event> evs, int timeout_ms);
  void release(const Event& ev);
  Status send(ConnId c, SharedBuf* buf, std::uint64_t tag);
  Result<ConnId> connect(const net::PeerAddress& addr, const net::ConnectOptions& how = {});
  // dials: every connect() asked of this endpoint, with its options (tests check what
  // reached the transport).
  struct Dial {
    net::PeerAddress addr;
    net::ConnectOptions how;
  };
  const std::vector<Dial>& dials() const noexcept { return dials_; }
  void close(ConnId c);
  void hold(const Event& ev, std::size_t from);
  void resume(ConnId c);
  void trust_reads(ConnId) noexcept {}  // deliveries are whole sends or fault-injected chunks
  bool paused(ConnId c) const noexcept { return c < conns_.size() && conns_[c].paused; }
  // alloc: heap buffers, counted until their last reference goes (live_buffers()), so a
  // test can tell that whoever took one let go of it. They must not outlive this endpoint.
  SharedBuf* alloc(std::size_t n);
  std::size_t live_buffers() const noexcept { return live_bufs_; }
  void flush() noexcept {}  // sends are delivered by the network's pump
  void wake_after(ConnId, std::size_t) noexcept {}  // reads are delivered whole by the pump

  net::PeerAddress remote(ConnId c) const noexcept;
  // set_address: this endpoint's IP as its peers see it (an IPv4-mapped or IPv6 address).
  void set_address(const in6_addr& a) noexcept { addr_ = a; }

  std::uint32_t open_conns() const noexcept;
  // stall_sends: hold this endpoint's sends (no delivery, no kSent) until turned off; the
  // held ones then go out in order at the next poll(). A peer that stops reading.
  void stall_sends(bool on) noexcept { stall_ = on; }
  std::size_t stalled_sends() const noexcept { return stalled_.size(); }  // held by stall_sends
  // stall_conn: the same for one connection's sends (a peer whose copy is still going
  // while the others' complete).
  void stall_conn(ConnId c, bool on) noexcept {
    if (c < conns_.size()) conns_[c].stalled = on;
  }
  // set_rtt_us: the round trip a peer's rtt_us() reports for its connections to this
  // endpoint (tests of ordering by round trip).
  void set_rtt_us(std::uint32_t us) noexcept { rtt_us_ = us; }
  std::uint32_t rtt_us(ConnId c) const noexcept {
    return c < conns_.size() && conns_[c].open && conns_[c].peer != nullptr ? conns_[c].peer->rtt_us_ : 0;
  }

 private:
  struct Conn {
    bool open = false;
    MemTransport* peer = nullptr;
    ConnId peer_conn = kNoConn;
    std::uint64_t crossed = 0;  // bytes sent + received
    std::uint16_t remote_port = 0;
    bool paused = false;         // hold(): no kData or kClosed until resume()
    std::deque<Event> backlog;   // its events meanwhile, in order
    bool stalled = false;        // stall_conn(): its sends held
  };
  ConnId add_conn();
  void deliver(ConnId c, ByteSpan bytes);
  void remote_closed(ConnId c, int err);
  void reset(ConnId c);
  void drop_backlog(ConnId c);
  void transmit(ConnId c, ByteSpan b, std::uint64_t tag);
  struct Stalled {
    ConnId conn;
    SharedBuf* buf;
    std::uint64_t tag;
  };
  std::deque<Stalled> stalled_;
  bool stall_ = false;
  std::uint32_t rtt_us_ = 0;

  MemNetwork& net_;
  std::uint16_t port_;
  in6_addr addr_{};
  std::vector<Conn> conns_;
  std::vector<Dial> dials_;
  std::size_t live_bufs_ = 0;
  std::deque<Event> events_;
  std::map<std::uint32_t, Bytes> held_;  // data of kData events until release()
  std::uint32_t next_buf_ = 1;
  std::uint64_t rng_;
};

static_assert(Transport<MemTransport>);

}  // namespace relay::dp
