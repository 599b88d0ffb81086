// dataplane/transport/dpdk/dpdk_transport.hpp — kernel bypass: TCP in user space (lwIP
// 2.1.3, built from Debian's source with our lwipopts.h) on a DPDK port, behind the same
// `Transport` concept as the io_uring backend (ARCHITECTURE.md §5, issue 19).
//
// One instance per process (DPDK's EAL and lwIP are both process-wide), owned by one
// poll-mode thread:
//   receive  rte_eth_rx_burst → each mbuf wrapped as an lwIP custom pbuf (the pbuf lives
//            in the mbuf's private area) → ethernet_input → TCP → kData events that point
//            into the mbuf: no copy. release() frees the mbuf and opens the window
//            (tcp_recved). hold() copies what is kept out of the mbufs (a paused
//            connection pins no packet buffer) and leaves the window closed, so a paused
//            peer is held back by TCP itself; resume() hands the copy back first.
//   send     tcp_write without a copy: lwIP's segments reference the SharedBuf, which
//            stays referenced until the peer acknowledged every byte (kSent then), and
//            after a close until lwIP is done with it (a lingering close).
//   wire     a segment goes out in bursts as a copied header mbuf chained to an mbuf
//            attached to the SharedBuf's bytes (zero_copy, where the device takes frames
//            in pieces: output_pieces), or else written whole into one mbuf (on AF_XDP
//            an mbuf of the driver's UMEM, which it then sends in place). Copies are
//            counted (copied_tx_bytes).
//   accept   SYNs to a listener pass admit_syn() (half-open limits: lwIP has no SYN
//            cookies).
//   loss     besides lwIP's fast retransmit and timer: a tail-loss probe (probe_tails)
//            when a flight stops being acknowledged, well before the timer's 200 ms.
//   time     lwIP's timers run from poll(); when idle, poll() spins briefly, then sleeps in
//            growing steps (at most `idle_sleep_max_us`, never past the caller's timeout):
//            an idle relay does not hold a core.
//
// Only IPv4 on one port (a NIC, or a vdev: net_af_packet, net_af_xdp, net_tap). Names,
// proxies, MPTCP and interface binding are the kernel's: connect() refuses them
// (EDESTADDRREQ / EOPNOTSUPP) and the configuration check says so at start.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/memory_plan.hpp"
#include "dataplane/transport/buf_pool.hpp"
#include "dataplane/transport/transport.hpp"
#include "relay/link/port_counters.hpp"

struct tcp_pcb;
struct pbuf;

namespace relay::dp {

struct DpdkConfig {
  // EAL's arguments (the program name is added), e.g. {"--in-memory", "--no-huge", "-m",
  // "512", "--no-pci"}. The EAL is set up once per process: later transports reuse it.
  std::vector<std::string> eal_args;
  // port: a device DPDK already has (its name, e.g. "0000:03:00.0" or "net_af_packet0"),
  // or a virtual device to create ("net_af_packet0,iface=veth0"), removed again when the
  // transport goes; empty: the only port there is.
  std::string port;
  std::uint32_t ipv4 = 0;  // the relay's own address on that port (network byte order)
  std::uint8_t prefix_len = 24;
  std::uint32_t gateway = 0;  // network byte order; 0: none (peers on the link only)
  std::uint16_t mtu = 1500;
  std::uint32_t mbufs = 0;  // receive and send mbufs; 0: sized from max_conns (mbufs_for())
  std::uint16_t rx_desc = 1024;
  std::uint16_t tx_desc = 1024;
  std::uint32_t max_conns = 1024;        // connection table size (≤ 4096; lwIP's pcb pool has room for closing ones too)
  std::uint32_t max_queued_sends = 256;  // per connection, before send() refuses (backpressure)
  bool cautious_reads = false;           // new connections get a 64 KiB window until trust_reads()
  // held_max: bytes copied aside, across every paused connection (hold(): a body
  // waiting for a home), from data already handed out or arriving within the window
  // already offered. Past it, frames already handed out wait in their mbufs, and a paused
  // connection's new data stays with lwIP, unread (one segment): lwIP drops that
  // connection's further data until resume() takes it, and its peer sends it again. The
  // kernel holds such bytes in socket buffers under a global limit; a user-space stack
  // holds them here, so without this a few hundred stalled peers could make it hold a
  // window (4 MiB) each.
  std::size_t held_max = std::size_t{16} << 20;
  std::vector<BufPool::Class> send_pool = MemoryPlan::small().send;
  std::uint32_t idle_spin_us = 200;       // after the last packet, poll without sleeping this long
  std::uint32_t idle_sleep_max_us = 1000;  // then sleep in steps doubling up to this
  std::uint64_t linger_ms = 5000;          // a closed connection's unacknowledged sends, at most
  // zero_copy: send a message's bytes to the device from the buffer they were written to
  // (an mbuf that references the shared buffer, behind a copied header) when the device
  // takes frames in several pieces and DMA addresses are virtual ones (IOVA as VA);
  // false, or a device without that: each frame is copied whole into an mbuf.
  bool zero_copy = true;
  // host_iface: on a port that takes every frame (a NIC on vfio-pci, net_tap), the
  // exception path: a kernel interface of this name (a TAP the transport makes, with the
  // port's MAC) gets every frame that is not the relay's (IPv4 to another address, ARP
  // for another address, IPv6, ...), and what the kernel sends on it goes out the port.
  // The host gives it its own address and stays reachable on the NIC. Empty: none (the
  // port's other frames are dropped). Refused on net_af_xdp and net_af_packet, where the
  // kernel keeps the interface anyway.
  std::string host_iface;
  // steer: on a net_af_xdp port, attach the relay's XDP program (only frames for `ipv4`
  // leave the kernel); false: the driver's own (every frame of the queue).
  bool steer = true;
  // Half-open handshakes (SYN received, SYN-ACK sent), against SYN floods: lwIP has no
  // SYN cookies, so each holds a pcb until its handshake ends or 20 s pass. Past
  // half_open_max the oldest is dropped (silently: its source may be forged) for each
  // new SYN; once a quarter of that is taken, a source with half_open_per_source pending
  // gets no more (one host opening many connections at once is no attack). An honest
  // handshake completes as long as fewer than half_open_max SYNs arrive within its
  // round trip. Kept below lwIP's pcb pool, which also holds every connection.
  std::uint32_t half_open_max = 1024;
  std::uint32_t half_open_per_source = 16;
  // TCP keep-alive on every connection: a peer that vanished while idle is found after
  // idle + interval × probes (0: off).
  std::uint32_t keepalive_idle_ms = 60'000;
  std::uint32_t keepalive_interval_ms = 10'000;
  std::uint32_t keepalive_probes = 4;
};

// frame_is_relays: whether an Ethernet frame is for the relay's stack at `ipv4` (network
// byte order): IPv4 to that address, or ARP whose target is that address. Everything
// else is the host's (host_iface).
bool frame_is_relays(const std::uint8_t* frame, std::size_t len, std::uint32_t ipv4) noexcept;

// mbufs_for: the default mbuf count for `max_conns` connections: every window a cautious
// connection can fill (64 KiB, 45 full frames), the rings, and room for bursts.
std::uint32_t mbufs_for(std::uint32_t max_conns) noexcept;

// The port's counters (relay/link/port_counters.hpp names and explains them).
using DpdkStats = link::PortValues;

class DpdkTransport {
 public:
  // create: the EAL (first time), the port, its mbuf pool, lwIP's interface. Errors name
  // the step; the errno is in the offset.
  static Result<std::unique_ptr<DpdkTransport>> create(const DpdkConfig& cfg);
  ~DpdkTransport();
  DpdkTransport(const DpdkTransport&) = delete;
  DpdkTransport& operator=(const DpdkTransport&) = delete;

  // listen: accept TCP connections to `port` on the relay's address (0: a free port);
  // kAccepted events carry `tag`. Returns the port.
  Result<std::uint16_t> listen(std::uint16_t port, int backlog = 255, std::uint8_t tag = 0);

  std::size_t poll(std::span<Event> evs, int timeout_ms);
  void release(const Event& ev);
  Status send(ConnId c, SharedBuf* buf, std::uint64_t tag);
  Result<ConnId> connect(const net::PeerAddress& addr, const net::ConnectOptions& how = {});
  void close(ConnId c);
  void hold(const Event& ev, std::size_t from);
  void resume(ConnId c);
  void trust_reads(ConnId c);
  void flush() noexcept;
  void wake_after(ConnId, std::size_t) noexcept {}  // lwIP hands over whatever arrived; nothing to tune
  net::PeerAddress remote(ConnId c) const noexcept;
  SharedBuf* alloc(std::size_t n);

  std::uint32_t open_conns() const noexcept { return open_; }
  const BufPool* pool() const noexcept { return pool_.get(); }
  DpdkStats stats() const noexcept;
  std::string describe() const;  // the port: driver, MAC, address, queues, mbufs
  std::size_t held_bytes() const noexcept { return held_bytes_; }
  // rto_ms: connection c's retransmission timeout now (0: no such connection).
  std::uint32_t rto_ms(ConnId c) const noexcept;
  // rtt_us: connection c's smoothed round trip, as the tail-loss probe measures it (0:
  // no sample yet).
  std::uint32_t rtt_us(ConnId c) const noexcept {
    return c < conns_.size() && conns_[c].pcb != nullptr ? static_cast<std::uint32_t>(std::min<std::uint64_t>(conns_[c].srtt_ns / 1000, UINT32_MAX)) : 0;
  }

  // lwIP's callbacks (dpdk_transport.cpp), not for callers.
  struct Hooks;
  bool admit_syn(const void* src_ip) noexcept;  // a SYN to a listener (an ip_addr_t source): let it open a half-open pcb?

 private:
  friend struct Hooks;
  struct PendingSend {
    SharedBuf* buf;
    std::uint64_t tag;
    std::uint32_t written;  // bytes handed to lwIP
    std::uint32_t acked;    // bytes the peer acknowledged
  };
  enum class State : std::uint8_t { kFree, kConnecting, kOpen, kClosed };
  struct Conn {
    tcp_pcb* pcb = nullptr;
    State state = State::kFree;
    std::uint32_t gen = 0;
    bool paused = false;
    bool eof_held = false;       // the peer closed while paused
    bool refusing = false;       // paused past held_max (counted once until it reads again)
    bool close_pending = false;  // kClosed queued; the id is free once it is handed out
    bool touched = false;        // in touched_: tcp_output at the end of the poll
    bool in_retry = false;       // sends waiting for lwIP memory
    bool trusted = false;        // trust_reads() came: the full window (applied at resume() when paused)
    std::uint8_t nrtx_seen = 0;  // the pcb's retransmission count when last looked at (count_timeouts)
    // Tail-loss probe (probe_tails): when the last ACK that moved came, the round trip
    // measured here (lwIP's own is in 100 ms ticks), and a probe's recovery.
    bool probe_listed = false;   // in probe_list_ (the list's own mark: survives the id's reuse)
    bool probed = false;         // a probe went since the last ACK that moved
    bool recovering = false;     // a probe went; an ACK short of `recover` means the rest was lost
    bool rtt_timing = false;     // a round trip being timed: to snd_nxt `rtt_seq`, from rtt_t0_ns
    std::uint32_t rtt_seq = 0, recover = 0;
    std::uint32_t probe_end = 0;  // the end of what the probe resent: an ACK short of it is older than the probe
    std::uint32_t sent_nxt = 0;   // snd_nxt when last looked at: new data sent restarts the probe's wait
    std::uint64_t rtt_t0_ns = 0, srtt_ns = 0;  // srtt_ns 0: no sample yet (no probe)
    std::uint64_t progress_ns = 0;
    net::PeerAddress remote;
    std::vector<PendingSend> sendq;  // ring, capacity max_queued_sends
    std::uint32_t sq_head = 0, sq_len = 0, sq_write = 0;  // sq_write: first not fully written (offset from head)
    Bytes stash;  // bytes kept while paused (their window not yet given back)
    // Past held_max, frames handed out before the pause wait as they are (their slots and
    // mbufs kept), after the stash and in order; while any do, later data is refused.
    std::vector<Event> kept_frames;
  };
  struct Linger {  // a closed connection whose sends lwIP has not delivered yet
    tcp_pcb* pcb = nullptr;
    std::vector<PendingSend> bufs;
    std::uint32_t head = 0, len = 0;
    std::uint64_t deadline_ns = 0;
    bool in_use = false;
  };
  struct RxSlot {
    pbuf* p = nullptr;  // the frame's pbuf; nullptr: the data is `owned` (a stash resume() handed back)
    ConnId conn = kNoConn;
    std::uint32_t gen = 0;
    std::uint32_t credit = 0;  // bytes to give back to the window on release
    bool in_use = false;
    Bytes owned;
  };

  explicit DpdkTransport(const DpdkConfig& cfg);
  Status init();
  void push(const Event& e);
  void input_burst();
  void pump(ConnId c);
  void on_acked(ConnId c, std::uint32_t n);
  void deliver(ConnId c, pbuf* p, std::uint32_t off, std::uint32_t credit);
  std::uint32_t take_slot(ConnId c, pbuf* p, std::uint32_t credit);  // ~0u: none free
  void free_slot(std::uint32_t s) noexcept;
  void open_window(tcp_pcb* pcb) noexcept;
  void take_data(ConnId c, pbuf* p);
  void finish(ConnId c, int err, bool connect_failed);
  void drop_kept(Conn& k) noexcept;
  void keep(Conn& k, ByteSpan bytes);
  bool past_held_max(Conn& k, std::size_t n) noexcept;
  bool acceptable(tcp_pcb* pcb) noexcept;
  void unref_sends(std::vector<PendingSend>& q, std::uint32_t head, std::uint32_t len) noexcept;
  bool linger_or_close(ConnId c);  // true: it had to abort the pcb (a callback must return ERR_ABRT)
  void end_linger(std::uint32_t i, bool abort);
  void expire_lingers(std::uint64_t now_ns);
  void window_back(ConnId c, std::uint32_t gen, std::uint32_t n);
  void setup_pcb(ConnId c, tcp_pcb* pcb);
  void cautious(tcp_pcb* pcb) noexcept;
  void touch(ConnId c);
  void tx_flush() noexcept;
  void stash_rx() noexcept;
  void input_stash() noexcept;
  void input_frame(void* frame);
  std::int8_t output_pieces(pbuf* p) noexcept;  // zero_copy_'s netif output (an lwIP err_t)
  bool setup_zero_copy(const void* info) noexcept;  // info: the port's rte_eth_dev_info
  void abort_all() noexcept;
  void count_timeouts() noexcept;
  void probe_tails(std::uint64_t now) noexcept;
  void after_output(ConnId c) noexcept;
  void on_progress(ConnId c) noexcept;
  Status open_host_port();
  void host_exchange() noexcept;  // frames to the host's interface, and from it out the port

  DpdkConfig cfg_;
  std::uint16_t port_id_ = 0;
  bool port_started_ = false;
  std::string probed_;  // the vdev we created (removed at the end)
  void* pool_mb_ = nullptr;     // rte_mempool*: received frames
  void* pool_tx_ = nullptr;     // rte_mempool*: frames sent (apart, so receiving cannot starve sending;
                                // on AF_XDP it is pool_mb_, the driver's UMEM)
  void* pool_ext_ = nullptr;    // rte_mempool*: data-less mbufs that reference send buffers (zero_copy_)
  bool zero_copy_ = false;      // frames go out as a copied header and the shared buffer's own bytes
  bool extmem_ = false;         // pool_'s arena is registered with DPDK
  void* dma_dev_ = nullptr;     // rte_device* the arena is DMA-mapped for (nullptr: none needed)
  std::string zc_why_;          // why zero_copy_ is off, for describe()
  int xsk_fd_ = -1;              // AF_XDP: the driver's socket, for its statistics
  // The exception path (cfg_.host_iface): a TAP port for the host's frames.
  std::uint16_t host_port_ = 0;
  bool host_started_ = false;
  std::string host_probed_;       // its vdev
  void* pool_host_ = nullptr;     // rte_mempool*: frames the host sends
  std::vector<void*> to_host_;    // frames from the port for the host, sent at the end of input_burst()
  std::uint64_t host_polled_ns_ = 0;  // when the host's interface was last read
  bool host_busy_ = false;            // that read found frames: read again at the next pass
  void* netif_ = nullptr;       // struct netif*
  std::vector<tcp_pcb*> listeners_;
  std::vector<Conn> conns_;
  std::vector<ConnId> free_;
  std::vector<ConnId> free_next_;  // ids whose kClosed the last poll() handed out: free at the next
  std::vector<Linger> lingers_;
  std::vector<std::uint32_t> linger_free_;
  std::vector<RxSlot> rx_slots_;
  std::vector<std::uint32_t> rx_free_;
  std::vector<Event> q_;  // events waiting for poll()
  std::size_t q_head_ = 0;
  std::vector<ConnId> touched_;  // connections that received or wrote this poll (ACK and send at its end)
  std::vector<ConnId> retry_;  // connections whose sends wait for lwIP memory
  std::uint64_t probe_resends_ = 0;  // segments the probes resent (lwIP's MIB counts them with fast retransmits)
  std::vector<ConnId> probe_list_;  // connections that had unacknowledged data when last sending (probe_tails)
  std::vector<ConnId> retry_run_;  // the list being retried (swapped with retry_: no allocation)
  std::vector<void*> tx_;      // mbufs waiting for the device
  std::vector<void*> rx_stash_;  // mbufs read while sending, for the next input_burst()
  std::vector<void*> rx_run_;    // the stash being handed to lwIP
  std::uint64_t frames_seen_ = 0, frames_sent_seen_ = 0;  // st_.rx/tx_packets when the loop last looked
  std::unique_ptr<BufPool> pool_;
  std::uint32_t open_ = 0;
  std::size_t held_bytes_ = 0;
  std::uint64_t last_activity_ns_ = 0;
  std::uint32_t sleep_us_ = 0;
  std::uint32_t last_timer_ms_ = 0;
  std::uint32_t tcp_ticks_seen_ = 0;  // lwIP's slow-timer tick when count_timeouts last ran
  DpdkStats st_;
  std::string mac_;
  std::string driver_;
  bool steered_ = false;
};

static_assert(Transport<DpdkTransport>);

}  // namespace relay::dp
