// relay/link/link.hpp — the shared region between stacks-relay-dataplane and
// stacks-relay-control (ARCHITECTURE.md §1–2), and the messages on its two rings.
//
// Layout (every part kRingAlign-aligned, addressed by offset from the region start):
//
//   LinkHeader | Cnc dataplane | Cnc control | DpCounters | ring dp→ctl | ring ctl→dp
//
// `stacks-relay run` formats the region once; both processes only join it, so either
// can be restarted alone. Both rings are lossless (credit flow control): nothing the
// dataplane hands to the control plane, nor any command coming back, is dropped
// silently. Each side announces a restart with a Hello on its ring; everything queued
// before a Hello belongs to the previous incarnation.
//
// The messages are encoded big-endian with relay/base/bytes.hpp and decoded with its
// bounds-checked Reader: the other process is trusted for liveness, never for memory
// safety, so a malformed fragment is counted and skipped, never trusted.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "relay/base/bytes.hpp"
#include "relay/base/result.hpp"
#include "relay/codec/types.hpp"
#include "relay/crypto/secp256k1.hpp"
#include "relay/link/port_counters.hpp"
#include "relay/policy/preamble.hpp"
#include "relay/shm/cnc.hpp"
#include "relay/shm/frag_ring.hpp"
#include "relay/validate/validate.hpp"

namespace relay::link {

inline constexpr std::uint64_t kLinkMagic = 0x53524c594c4e4b31ull;  // "SRLYLNK1"
// 2: relay latency histogram; 3: streamed block checks; 4: helped; 5: kConnect carries a
// PeerAddress and ConnectOptions; 6: sessions_refused_full; 7: the receive budget's counters;
// 8: per-sender transaction budgets, the relay's own verification limits, chunk signers
// (kRewardSet carries the cycle and the next cycle's set); 9: SessionInfo says which network
// a session came over (onion, I2P), the onion listener's port. 10: MPTCP gauges and counters.
// 11: kAuthenticated may carry flags (kAuthPairPartner). 12: the dataplane's backend and its
// DPDK port's counters. 24: relay_work_cpu_ns. 25: sig_checks_waited_ns. 26:
// relay_fanout_cpu_ns.
inline constexpr std::uint32_t kLinkAbiVersion = 26;

// The dataplane's counters, published in the region for the control plane, `stacks-relay
// status` and the demo. X(name, help): one list, so every reader agrees on the layout.
#define RELAY_DP_COUNTERS(X)                                                                         \
  X(sessions_opened, "sessions opened (accepted or dialed)")                                       \
  X(sessions_closed, "sessions closed")                                                            \
  X(sessions_authenticated, "sessions that completed a handshake")                                 \
  X(msgs_in, "whole messages received")                                                            \
  X(bytes_in, "bytes received")                                                                    \
  X(msgs_to_control, "messages handed to the control plane")                                       \
  X(relayed, "distinct pushes forwarded")                                                          \
  X(fanout_sends, "copies of relayed pushes queued to sessions")                                   \
  X(large_sends_waited, "copies of large pushes that waited for one of the p2p.large_sends_at_once slots") \
  X(large_sends_overdue, "large copies slower than 1 MiB/s (after a first second) that gave their slots up") \
  X(bytes_relayed_out, "bytes of relayed pushes written")                                          \
  X(resigned, "queued pushes re-signed after a burn view change")                                  \
  X(drop_dup, "pushes already relayed (dedup)")                                                    \
  X(drop_invalid, "pushes failing validation")                                                     \
  X(drop_no_reward_set, "Nakamoto blocks not checkable: no reward set yet")                        \
  X(drop_relayers, "pushes refused by the relayers rules")                                         \
  X(drop_not_relayed_type, "pushes of a kind this network does not relay")                         \
  X(drop_no_burn_view, "pushes held back: no burn view yet")                                       \
  X(drop_pacer_tx, "queued transactions dropped under pacing pressure")                            \
  X(drop_pacer_chunk, "queued StackerDB chunks dropped under pacing pressure (for a block, or a newer chunk)") \
  X(drop_chunk_throttled, "StackerDB chunks not relayed: their sender is past its chunk bandwidth (4 MiB/s, 500 chunks/s)")  \
  X(drop_tx_throttled, "transactions not relayed: their sender is past its transaction bytes or signature checks per second") \
  X(drop_chunk_signer, "StackerDB chunks of the signers' contracts not signed by their slot's signer (not relayed; no node stores them)") \
  X(chunks_signer_checked, "StackerDB chunks whose signature was checked against their slot's signer") \
  X(drop_beyond_policy, "pushes not relayed: checking them would cost more than the relay's own limits (multisig keys and fields)") \
  X(drop_pacer_refused, "pushes refused by a full session queue")                                  \
  X(drop_bad_signature, "messages whose signature does not verify (session dropped)")              \
  X(drop_bad_preamble, "messages with an invalid preamble (session dropped)")                      \
  X(drop_framing, "framing or decode errors (session dropped)")                                    \
  X(drop_ctl_ring_full, "sessions closed because the control ring was full")                       \
  X(link_corrupt, "malformed fragments from the control plane (skipped)")                          \
  X(rx_heap_bodies, "large messages read into heap within the receive budget (no receive-pool slot free)") \
  X(rx_waits_key, "messages larger than a handshake that waited for their session's handshake, unread") \
  X(rx_waits_budget, "messages that waited, unread, for the receive budget to have room")               \
  X(closed_evicted, "sessions closed under memory pressure: their large message arrived slowest, below 256 KiB/s") \
  X(store_feed_dropped, "relayed blocks not handed to the block store (control ring full)")        \
  X(originated, "pushes we originated (HTTP uploads) relayed to peers")                            \
  X(relay_work_ns, "nanoseconds spent on the relay path (checks, signing, queueing), all pushes")   \
  X(relay_work_cpu_ns, "the run loop's CPU nanoseconds on the relay path (relay_work_ns less preemption)") \
  X(relay_fanout_cpu_ns, "of relay_work_cpu_ns: queueing the copies (fan-out), after the checks and signing") \
  X(ctl_restarts, "control-plane restarts seen")                                                   \
  X(blocks_streamed, "Nakamoto block pushes checked while they arrived (passed before the last byte)") \
  X(stream_gave_up, "large Nakamoto block pushes checked whole after the last byte (stream gave up)")  \
  X(stream_none_free, "large Nakamoto block pushes checked whole: every stream checker was busy")         \
  X(sig_checks_helped, "signature checks the dataplane's second thread ran beside the relay path")           \
  X(sig_checks_waited_ns, "nanoseconds the relay path waited for checks the second thread had taken")         \
  X(sessions_refused_full, "connections closed at once: the session table was full")                   \
  X(inbound_refused_reserved, "inbound connections closed at once: the rest of the table is kept for dials") \
  X(closed_silent, "authenticated sessions closed for silence (nothing for heartbeat + 30 s)")                \
  X(closed_write_timeout, "sessions closed for not reading what we send (write timeout)")                \
  X(closed_invalid_pushes, "sessions closed for sending invalid pushes again and again (misbehaviour)") \
  X(closed_slow_body, "sessions closed: a large message (read into the receive budget) arriving too slowly") \
  X(mptcp_fallbacks, "sessions on MPTCP sockets running as plain TCP (the peer or the path has no MPTCP)")   \
  X(mptcp_subflow_changes, "MPTCP subflows opened or closed on live sessions (paths coming and going)")

// Message type ids 0..28 (PROTOCOL.md §1.6): per-type traffic counters are indexed by them.
inline constexpr std::size_t kMsgTypes = 29;

// Relay latency histogram: bucket i < kLatencyBuckets-1 counts relays that took at most
// 2^i µs (1 µs … ~1 s); the last bucket counts the slower ones.
inline constexpr std::size_t kLatencyBuckets = 22;
constexpr std::size_t latency_bucket(std::uint64_t ns) noexcept {
  const std::uint64_t us = (ns + 999) / 1000;
  std::size_t b = 0;
  for (std::uint64_t v = us > 1 ? us - 1 : 0; v != 0; v >>= 1) ++b;  // bit width of us-1
  return b < kLatencyBuckets - 1 ? b : kLatencyBuckets - 1;
}
constexpr std::uint64_t latency_bucket_le_us(std::size_t b) noexcept { return std::uint64_t{1} << b; }

// The DPDK port's counters, copied from the transport every 100 ms (zero on io_uring).
struct PortCounters {
#define RELAY_X(name, kind, help) std::atomic<std::uint64_t> name;
  RELAY_PORT_COUNTERS(RELAY_X)
#undef RELAY_X
};

enum class Backend : std::uint64_t { kUring = 0, kDpdk = 1 };

struct alignas(shm::kRingAlign) DpCounters {
#define RELAY_X(name, help) std::atomic<std::uint64_t> name;
  RELAY_DP_COUNTERS(RELAY_X)
#undef RELAY_X
  std::atomic<std::uint64_t> sessions_live;       // gauges
  std::atomic<std::uint64_t> sessions_auth_live;
  std::atomic<std::uint64_t> p2p_port;            // the port the dataplane listens on (0: not yet)
  std::atomic<std::uint64_t> onion_port;          // its onion service's own listener (0: none)
  std::atomic<std::uint64_t> mptcp_sessions;      // sessions running MPTCP now
  std::atomic<std::uint64_t> mptcp_subflows;      // their TCP subflows (sampled each second)
  std::atomic<std::uint64_t> rx_heap_bytes;       // heap bytes of bodies being received now
  std::atomic<std::uint64_t> heap_allocated;      // heap bytes the dataplane thread allocated (jemalloc
                                                  // thread.allocated, refreshed every 100 ms)
  // Whole messages and their bytes by type: received from peers, and written to them
  // (relayed pushes and everything the control plane sends).
  std::atomic<std::uint64_t> msgs_in_by_type[kMsgTypes];
  std::atomic<std::uint64_t> bytes_in_by_type[kMsgTypes];
  std::atomic<std::uint64_t> msgs_out_by_type[kMsgTypes];
  std::atomic<std::uint64_t> bytes_out_by_type[kMsgTypes];
  // Relay latency of each push we forwarded: from the moment the dataplane reaped the
  // receive that completed it to the moment its copies were queued to every recipient.
  std::atomic<std::uint64_t> relay_latency_buckets[kLatencyBuckets];
  std::atomic<std::uint64_t> relay_latency_ns_sum;
  std::atomic<std::uint64_t> backend;  // link::Backend, set when the dataplane starts
  PortCounters port;
};

// latency_quantile_us: the upper bound (µs) of the bucket holding quantile q of the
// relays counted so far (0 when none; UINT64_MAX when it is in the overflow bucket).
std::uint64_t latency_quantile_us(const DpCounters& c, double q) noexcept;
// The same over bucket counts (e.g. the difference of two readings).
std::uint64_t latency_quantile_us(const std::uint64_t (&counts)[kLatencyBuckets], double q) noexcept;

struct LinkParams {
  shm::RingParams dp_to_ctl{4096, std::size_t{64} << 20, 0, true};
  shm::RingParams ctl_to_dp{4096, std::size_t{64} << 20, 0, true};
};
// default_params: rings that carry any message a node may send (MAX_MESSAGE_LEN plus
// our framing) and absorb bursts while the other side restarts.
LinkParams default_params() noexcept;

std::size_t link_footprint(const LinkParams& p) noexcept;
Status link_format(void* mem, std::size_t mem_sz, const LinkParams& p) noexcept;

// Link: one process's view of a formatted region (validated on join).
struct Link {
  shm::Cnc* dp_cnc = nullptr;
  shm::Cnc* ctl_cnc = nullptr;
  DpCounters* counters = nullptr;
  void* dp_to_ctl = nullptr;
  std::size_t dp_to_ctl_sz = 0;
  void* ctl_to_dp = nullptr;
  std::size_t ctl_to_dp_sz = 0;
};
Result<Link> link_join(void* mem, std::size_t mem_sz) noexcept;

// Ends: one process's side of a joined link: the ring it produces on, the ring it
// consumes, its own heartbeat and the other process's, and the dataplane's counters
// (written by the dataplane, read by everyone else).
enum class Side : std::uint8_t { kDataplane, kControl };
struct Ends {
  shm::RingProducer out;
  shm::RingConsumer in;
  shm::Cnc* own_cnc = nullptr;
  const shm::Cnc* peer_cnc = nullptr;
  DpCounters* counters = nullptr;
};
Result<Ends> join_ends(const Link& l, Side side) noexcept;

// ---- messages --------------------------------------------------------------------
// frag.kind is one of these; frag.session carries the session id where one applies.

enum class DpMsg : std::uint16_t {
  kHello = 1,          // u64 incarnation: the dataplane (re)started; every earlier session is gone
  kOpened = 2,         // SessionInfo: a session exists (accepted, or our dial connected)
  kClosed = 3,         // u8 misbehaved, reason string
  kConnectFailed = 4,  // u64 dial token, i32 errno
  kMessage = 5,        // u8 flags, 32-byte signing digest, the message as received
  kView = 6,           // BurnView an authenticated peer's preamble carried
  kRestored = 7,       // SessionInfo (+ key once authenticated): a live session, for a (re)started control plane
  kRelayed = 8,        // a block push just relayed (payload from its type byte), for the block store
};

enum class CtlMsg : std::uint16_t {
  kHello = 1,          // u64 incarnation: the control plane (re)started; resend state
  kConnect = 2,        // u64 dial token, net::PeerAddress, net::ConnectOptions
  kSend = 3,           // signed message bytes for the session
  kClose = 4,          // u8 misbehaved
  kAuthenticated = 5,  // 33-byte key: the session's peer is authenticated with it; then a flags byte (kAuth*)
  kBurnView = 6,       // the view our preambles carry
  kRewardSet = 7,      // signers for Nakamoto block checks
  kRelay = 8,          // a push the control plane received before the dataplane knew the key
  kOriginate = 9,      // relayers ‖ payload of a push we originate (an HTTP upload): relayed as any push, from no one
};
// kAuthenticated's flags. kAuthPairPartner: a partner relay of a pair ([pair] peers): it
// carries the pushes of all its own peers, so no per-sender allowance applies to it.
inline constexpr std::uint8_t kAuthPairPartner = 1;
// kAuthTrusted: a trusted peer (p2p.trusted_peers): first in line for large pushes.
inline constexpr std::uint8_t kAuthTrusted = 2;


inline constexpr std::uint8_t kMsgVerified = 1;  // kMessage flag: signature checked with the session key

// Via: the network a session came over. Onion and I2P sessions all arrive from loopback
// (Tor's or the SAM bridge's own connection), so their address says nothing about the
// peer: they are admitted, limited and punished by other rules than clearnet ones.
enum class Via : std::uint8_t {
  kDirect = 0,  // TCP/IP (possibly through a SOCKS5 proxy to a clearnet peer)
  kOnion = 1,   // a Tor onion service: our onion listener, or an onion peer we dialed
  kI2p = 2,     // I2P, through a SAM bridge
};
inline constexpr std::uint8_t kMaxVia = 2;

struct SessionInfo {
  bool outbound = false;
  Via via = Via::kDirect;
  std::uint64_t dial_token = 0;  // outbound: the kConnect token
  codec::Addr16 addr{};
  std::uint16_t port = 0;
  std::optional<crypto::PublicKey> key;  // kRestored only
};

void put_session_info(Writer& w, const SessionInfo& s);
std::optional<SessionInfo> get_session_info(Reader& r);
void put_view(Writer& w, const policy::BurnView& v);
std::optional<policy::BurnView> get_view(Reader& r);
void put_reward_set(Writer& w, const std::vector<validate::RewardSetSigner>& s);
std::optional<std::vector<validate::RewardSetSigner>> get_reward_set(Reader& r);
// kRewardSet carries the current reward cycle's signers and the previous cycle's
// (empty when unknown): a Nakamoto block is checked against either. Then the current
// cycle's number (0: not known, e.g. a set from a file) and the next cycle's signers
// (empty until known, in the prepare phase): with those, the owners of the signers'
// StackerDB slots (validate::slot_signers).
struct RewardSets {
  std::vector<validate::RewardSetSigner> current;
  std::vector<validate::RewardSetSigner> previous;
  std::uint64_t cycle = 0;
  std::vector<validate::RewardSetSigner> next;
};
void put_reward_sets(Writer& w, const RewardSets& s);
std::optional<RewardSets> get_reward_sets(Reader& r);

}  // namespace relay::link
