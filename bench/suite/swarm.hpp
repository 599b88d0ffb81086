// bench/suite/swarm.hpp — K simulated stock nodes on one io_uring transport, cheap enough
// that hundreds fit a small machine: each connection handshakes with the control
// plane's Conversation (the stock protocol), and once authenticated reads pushes with a
// skimming framer that only finds message boundaries and hashes the payload (xxh3)
// to recognise it. Every push is timed twice on the receiving side (its first byte and
// its last byte arriving) and every send on the sending side (its last byte written).
//
// Two topologies:
//   relay  — every peer dials the relay; pushes go peer → relay → every other peer;
//   direct — peer 0 (the origin) dials every other peer itself (the no-relay floor).
// Single-threaded; time is CLOCK_MONOTONIC ns.
#pragma once

#include <xxhash.h>

#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "control/session/conversation.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/codec/framer.hpp"

namespace relay::bench {

// A push as one receiving peer saw it.
struct Arrival {
  std::uint32_t peer;
  std::uint64_t key;       // xxh3 of the payload (type byte onwards): the same at every hop
  std::uint64_t first_ns;  // first byte read
  std::uint64_t last_ns;   // last byte read
  std::uint32_t bytes;     // whole message
};

class Swarm {
 public:
  // create: `peers` identities (keys derived from `tag`), one transport.
  static Result<std::unique_ptr<Swarm>> create(std::size_t peers, std::uint8_t tag);
  ~Swarm();

  std::size_t size() const noexcept { return peers_.size(); }
  const ctl::LocalPeer& identity(std::size_t p) const { return *peers_[p].id; }

  // Relay topology: every peer dials `relay` (`how`: e.g. from another source address).
  void dial_all(const sockaddr_in6& relay, const net::ConnectOptions& how = {});
  // dial: peer `p` dials `relay` (an IP, or a name such as an onion service reached
  // through how.socks5); a peer may dial once. False when the transport refused it.
  bool dial(std::size_t p, const net::PeerAddress& relay, const net::ConnectOptions& how);
  // Direct topology: listen on loopback; peer 0 dials every other peer (they accept).
  Status connect_direct();
  // wait_up: pump until every link has authenticated (false on timeout or a failure).
  bool wait_up(std::uint64_t timeout_ns);
  // wait_links: until `want` links are up (peers may have several: one per relay they
  // dialed), whatever failed before; false at the deadline.
  bool wait_links(std::size_t want, std::uint64_t timeout_ns);
  std::size_t links_up() const noexcept;

  // pump: handle what the transport has; waits up to timeout_ms when idle.
  void pump(int timeout_ms);

  // push: peer `p` sends `payload` (type byte + body) as one signed push, to every link
  // it has (relay: the relay; direct: every other peer), the same bytes to each. The
  // message is signed now; returns the payload key. `tag` comes back in on_sent.
  std::uint64_t push(std::size_t p, ByteSpan payload, std::uint64_t tag);
  // sign_push: the signed message peer `p` would send (to pre-sign before a timed run).
  Bytes sign_push(std::size_t p, ByteSpan payload, std::uint32_t seq) const;
  // send_signed: send bytes signed by sign_push, on every link of `p`.
  void send_signed(std::size_t p, const Bytes& msg, std::uint64_t tag);
  // set_uplink: peer `p`'s sends are paced by the kernel to `bytes_per_s` in all (each of
  // its links gets an equal share: in the direct topology the origin's copies share one
  // uplink); 0 removes the cap.
  Status set_uplink(std::size_t p, std::uint64_t bytes_per_s);
  // timestamp_wire: from now on, peer `p`'s sends also report when their last byte left
  // the host (the kernel's software transmit timestamp, SO_TIMESTAMPING): on_wire. A
  // completed send only means the bytes are in the socket buffer; behind a paced link
  // the last byte leaves much later.
  Status timestamp_wire(std::size_t p);
  // pending_wire: sends whose transmit timestamp has not been read yet.
  std::size_t pending_wire() const noexcept { return wire_pending_; }
  // pending_sends: sends queued in the transport and not yet completed.
  std::size_t pending_sends() const noexcept { return pending_sends_; }

  std::function<void(const Arrival&)> on_arrival;
  std::function<void(std::uint64_t tag, std::uint64_t ns)> on_sent;  // the send's last byte written (last link)
  std::function<void(std::uint64_t tag, std::uint64_t ns)> on_wire;  // its last byte left the host (last link)

  std::uint64_t errors() const noexcept { return errors_; }
  std::uint64_t send_refusals() const noexcept { return refusals_; }

  static std::uint64_t payload_key(ByteSpan payload) noexcept { return XXH3_64bits(payload.data(), payload.size()); }

 private:
  struct Peer {
    std::unique_ptr<ctl::LocalPeer> id;
    std::vector<dp::ConnId> links;
  };
  struct Link {
    std::uint32_t peer = 0;
    bool outbound = false;
    std::unique_ptr<ctl::Conversation> conv;
    std::unique_ptr<codec::Framer> framer;  // until authenticated
    bool up = false;
    bool failed = false;
    // The skimming reader (authenticated links).
    std::uint8_t pre[codec::kPreambleSize];
    std::size_t pre_have = 0;
    std::uint64_t body_left = 0, body_len = 0;
    std::uint32_t relayers_left_bytes = 0;  // of the 4-byte count plus entries still to skip
    std::uint8_t count_buf[4];
    std::size_t count_have = 0;
    XXH3_state_t* hash = nullptr;
    std::uint64_t first_ns = 0;
    // Transmit timestamps (timestamp_wire): bytes handed to the socket since they were
    // turned on, and the sends waiting for the timestamp of their last byte.
    bool wire = false;
    std::uint64_t wire_bytes = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> wire_waits;  // (offset of the last byte, record)
  };
  struct SendRec {
    std::uint64_t tag;
    std::uint32_t left;       // links still sending it
    std::uint32_t wire_left;  // links whose transmit timestamp is still to come
    std::uint64_t wire_ns;    // the latest of those seen
  };

  Swarm() = default;
  void on_event(const dp::Event& e, std::uint64_t now);
  void start_link(dp::ConnId c, std::uint32_t peer, bool outbound, std::uint64_t now);
  void feed_handshake(dp::ConnId c, Link& l, ByteSpan d, std::uint64_t now);
  void feed_skim(Link& l, ByteSpan d, std::uint64_t now);
  void send_on(dp::ConnId c, dp::SharedBuf* b, std::uint64_t rec);
  void read_wire_stamps();
  void rec_done(std::unordered_map<std::uint64_t, SendRec>::iterator it);

  std::unique_ptr<dp::UringTransport> t_;
  std::vector<Peer> peers_;
  std::unordered_map<dp::ConnId, Link> links_;
  std::unordered_map<dp::ConnId, std::uint32_t> dialing_;  // conn → peer
  std::vector<std::uint32_t> accept_order_;                // direct: who takes the next accept
  std::unordered_map<std::uint64_t, SendRec> sends_;       // record id → tag, links left
  std::uint64_t next_rec_ = 1;
  std::size_t pending_sends_ = 0;
  std::size_t wire_pending_ = 0;
  std::uint16_t listen_port_ = 0;
  std::uint64_t errors_ = 0, refusals_ = 0;
};

}  // namespace relay::bench
