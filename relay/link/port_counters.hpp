// relay/link/port_counters.hpp — the DPDK port's counters: one list for the transport
// that counts them (DpdkStats), the region that publishes them (DpCounters::port), and
// every reader (/status, /metrics, `stacks-relay status`, the benchmark).
//
// X(name, kind, help): kind is kCounter (only grows) or kGauge (a level).
#pragma once

#include <cstdint>

namespace relay::link {
enum class CounterKind { kCounter, kGauge };
}  // namespace relay::link

#define RELAY_PORT_COUNTERS(X)                                                                           \
  X(rx_packets, kCounter, "frames received on the DPDK port")                                          \
  X(tx_packets, kCounter, "frames handed to the DPDK port's device")                                   \
  X(tx_bytes, kCounter, "bytes of the frames sent (headers and payload)")                              \
  X(copied_tx_bytes, kCounter, "bytes the dataplane copied into frames to send (the rest went out by reference)") \
  X(rx_dropped, kCounter, "frames received and dropped (refused by lwIP, or in several segments)")    \
  X(rx_missed, kCounter, "frames the device dropped before the relay read them (its receive ring was full)") \
  X(rx_stash_full, kCounter, "bursts sent while the frames read during sending filled their stash (4096): the device's ring went unread until the stack took them") \
  X(xdp_rx_ring_full, kCounter, "AF_XDP: frames the kernel dropped because the socket's receive ring was full (the relay read it too late)") \
  X(xdp_fill_ring_empty, kCounter, "AF_XDP: times the kernel found no free buffer in the fill ring for a frame") \
  X(xdp_tx_invalid, kCounter, "AF_XDP: frames the kernel refused to send as invalid descriptors (a buffer outside the UMEM; each one a lost segment)") \
  X(host_frames_in, kCounter, "frames not for the relay handed to the host's interface (dpdk host_iface)") \
  X(host_frames_out, kCounter, "frames the host sent on its interface, out the DPDK port (dpdk host_iface)") \
  X(host_dropped, kCounter, "frames between the port and the host's interface dropped (a queue full)") \
  X(tx_dropped, kCounter, "frames not sent (no mbuf, or the device's ring stayed full)")              \
  X(no_mbuf, kCounter, "times an mbuf was wanted and its pool was empty")                              \
  X(tcp_retransmits, kCounter, "TCP segments fast-retransmitted on duplicate ACKs (not those resent by a timeout or a probe)") \
  X(tcp_loss_probes, kCounter, "TCP tail-loss probes: a connection's first two unacknowledged segments resent after no ACK for max(2 x its round trip, 10 ms)") \
  X(tcp_probe_recoveries, kCounter, "TCP losses a probe found (its ACK fell short of what had been sent): the rest resent at once, the congestion window halved") \
  X(tcp_timeouts, kCounter, "TCP retransmission timeouts on connections and dials (each resends every unacknowledged segment)") \
  X(tcp_checksum_errors, kCounter, "TCP segments received with a bad checksum")                        \
  X(tcp_drops, kCounter, "TCP segments the user-space stack dropped")                                  \
  X(ip_drops, kCounter, "IP packets the user-space stack dropped")                                     \
  X(arp_requests_answered, kCounter, "ARP frames sent (answers and our own requests)")                \
  X(icmp_echo_answered, kCounter, "ICMP echo requests answered")                                       \
  X(syn_evicted, kCounter, "half-open handshakes dropped, oldest first, to make room for new ones (a SYN flood)") \
  X(syn_refused_per_source, kCounter, "SYNs dropped: their source already had as many handshakes half-open as allowed") \
  X(refused_tiny_mss, kCounter, "handshakes refused: an MSS or first window too small to carry segments") \
  X(linger_aborted, kCounter, "lingering closes cut short (deadline, or no room for more)")            \
  X(idle_sleeps, kCounter, "times the poll loop slept, idle")                                          \
  X(idle_poll_ns, kCounter, "nanoseconds the poll loop spent in passes that found nothing to do (spinning before it sleeps)") \
  X(rx_refused_held, kCounter, "times a paused connection went past held_max: its frames wait uncopied, its new data is left with the stack (the peer sends it again)") \
  X(rx_held_bytes, kGauge, "bytes of paused connections kept aside until their bodies have a home (at most about dpdk held_max)") \
  X(lingering, kGauge, "closed connections whose unacknowledged sends the stack still holds")        \
  X(mbufs_free, kGauge, "mbufs free in the receive pool (frames received and, on AF_XDP, sent come from it)")

namespace relay::link {
// PortValues: one reading of every port counter.
struct PortValues {
#define RELAY_X(name, kind, help) std::uint64_t name = 0;
  RELAY_PORT_COUNTERS(RELAY_X)
#undef RELAY_X
};
}  // namespace relay::link
