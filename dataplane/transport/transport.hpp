// dataplane/transport/transport.hpp — the byte-stream interface every dataplane backend
// implements (ARCHITECTURE.md §5): io_uring on kernel sockets today, DPDK later, an
// in-memory pair for tests. The run loop is a template over a type satisfying
// `Transport`, chosen once at start-up: no virtual call per packet.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "relay/base/bytes.hpp"
#include "relay/base/result.hpp"
#include "relay/net/peer_address.hpp"

namespace relay::dp {

using ConnId = std::uint32_t;
inline constexpr ConnId kNoConn = ~ConnId{0};

enum class EventKind : std::uint8_t {
  kAccepted,       // a peer connected to our listener
  kConnected,      // an outbound connect() finished
  kConnectFailed,  // it did not (err = errno)
  kData,           // bytes arrived (data; give the buffer back with release())
  kSent,           // a send() completed in full
  kClosed,         // the connection is gone (err = errno, 0 for an orderly close)
};

struct Event {
  EventKind kind = EventKind::kClosed;
  ConnId conn = kNoConn;
  int err = 0;
  ByteSpan data;            // kData only; valid until release(event)
  std::uint32_t buf_id = 0;  // backend's handle for release()
  std::uint64_t user = 0;    // kSent: the caller's tag from send(); kAccepted: the listener's tag
};

// PathState: how a connection runs, for transports on kernel sockets (path_state(c)):
// plain TCP, MPTCP with its subflows, or an MPTCP socket that fell back to plain TCP
// (the peer or a middlebox has no MPTCP).
struct PathState {
  enum class Kind : std::uint8_t { kTcp, kMptcp, kFallback };
  Kind kind = Kind::kTcp;
  std::uint8_t subflows = 0;  // kMptcp: TCP subflows alive now
};

// PathAware: a transport that reports each connection's PathState (optional: the
// in-memory transport has no paths).
template <class T>
concept PathAware = requires(const T& t, ConnId c) {
  { t.path_state(c) } -> std::same_as<PathState>;
};

// SendPrefetch: a transport that can be asked, ahead of a send() on a connection, for
// the state that send will read, without waiting for it (optional: a fan-out to hundreds
// of connections then overlaps its cache misses instead of taking them one at a time).
template <class T>
concept SendPrefetch = requires(const T& t, ConnId c) {
  { t.prefetch_send(c) } -> std::same_as<void>;
};

// RttAware: a transport that reports a connection's smoothed round trip in µs (0: not
// known), e.g. from TCP_INFO or its own stack (optional).
template <class T>
concept RttAware = requires(const T& t, ConnId c) {
  { t.rtt_us(c) } -> std::same_as<std::uint32_t>;
};

// SharedBuf: one immutable, reference-counted payload that many sends can reference
// without copying (the fan-out of one signed message to every eligible peer). It lives
// on the heap, or in a transport's pool of registered buffers (see alloc()), in which
// case the last unref() hands the slot back to the pool.
//
// A SharedBuf belongs to the thread that runs its transport: only that thread takes or
// drops references (as a pool's free list, the transport's queues and its completions
// are that thread's alone). The count is a plain integer: a fan-out takes and drops
// three references per copy, and a locked add would wait each time for every store
// before it (the copies' submission entries, to lines not in cache) to finish.
class SharedBuf {
 public:
  using Releaser = void (*)(void* ctx, SharedBuf* b) noexcept;

  static SharedBuf* make(ByteSpan bytes);         // heap, a copy of `bytes`; refcount 1
  static SharedBuf* make_uninit(std::size_t n);   // heap, n bytes to fill; refcount 1
  // place: construct in `mem` (at least header_size() + n bytes, 16-aligned) owned by
  // a pool; `release(ctx, b)` runs when the last reference goes.
  static SharedBuf* place(void* mem, std::size_t n, Releaser release, void* ctx) noexcept;
  static constexpr std::size_t header_size() noexcept { return 32; }

  void ref() noexcept { ++refs_; }
  void unref() noexcept {
    if (--refs_ == 0) {
      if (release_ != nullptr) return release_(ctx_, this);
      this->~SharedBuf();
      std::free(this);
    }
  }
  ByteSpan bytes() const noexcept { return ByteSpan(data_, size_); }
  // fill: the bytes to write before the buffer is shared (sends only read it).
  std::span<std::uint8_t> fill() noexcept { return std::span<std::uint8_t>(data_, size_); }
  std::uint32_t refs() const noexcept { return refs_; }

 private:
  SharedBuf() = default;
  ~SharedBuf() = default;
  std::uint32_t refs_ = 1;
  std::uint32_t size_ = 0;
  Releaser release_ = nullptr;
  void* ctx_ = nullptr;
  alignas(16) std::uint8_t data_[16];
};
static_assert(sizeof(SharedBuf) == SharedBuf::header_size() + 16);

template <typename T>
concept Transport = requires(T t, std::span<Event> evs, const Event& ev, ConnId c, SharedBuf* buf,
                             const net::PeerAddress& addr, const net::ConnectOptions& how, std::uint64_t tag,
                             int timeout_ms) {
  // poll: fill `evs` with what happened (waits up to timeout_ms when nothing did).
  { t.poll(evs, timeout_ms) } -> std::same_as<std::size_t>;
  // release: hand a kData event's buffer back.
  { t.release(ev) } -> std::same_as<void>;
  // send: queue all of `buf` on `c` (takes a reference; kSent with `tag` when done).
  { t.send(c, buf, tag) } -> std::same_as<Status>;
  // connect: start an outbound connection to `addr`, made as `how` says (kConnected /
  // kConnectFailed follow). An error (its errno in the offset) when it cannot even start:
  // EDESTADDRREQ for a name this transport cannot reach (it never resolves one).
  { t.connect(addr, how) } -> std::same_as<Result<ConnId>>;
  // flush: hand the sends queued so far to the kernel now (otherwise they go with the
  // next poll).
  { t.flush() } -> std::same_as<void>;
  // wake_after: a hint that nothing on `c` needs reading until `bytes` more have arrived
  // (1: any byte). A large message's body then comes in a few large reads instead of one
  // per packet. Never more than the bytes still due, or the rest would wait.
  { t.wake_after(c, tag) } -> std::same_as<void>;
  // hold: instead of release(): keep a kData event's bytes from offset `tag` on, and read
  // nothing more on its connection until resume(c), which hands the kept bytes back
  // first (kData events, in order) and then reads on. Meanwhile what the peer sends
  // waits in the kernel, and TCP's window holds the sender back: a session that cannot
  // take its next bytes yet costs no memory here. Later events of the connection already
  // polled are held too (hold(ev, 0)). close() drops what is kept.
  { t.hold(ev, tag) } -> std::same_as<void>;
  { t.resume(c) } -> std::same_as<void>;
  // trust_reads: the peer on `c` has shown who it is: its reads may take as much as the
  // socket has at once. Before, a backend may read an unproven connection one buffer at a
  // time, so that a pause costs at most that much.
  { t.trust_reads(c) } -> std::same_as<void>;
  // close: drop a connection (kClosed follows).
  { t.close(c) } -> std::same_as<void>;
  // remote: the other end of a connection (the accepted peer's address, or the one dialed).
  { t.remote(c) } -> std::same_as<net::PeerAddress>;
  // alloc: an unshared buffer of `tag` bytes for send(), from the transport's registered
  // pool when it has one (no allocation on the hot path), else the heap; nullptr if out
  // of memory.
  { t.alloc(tag) } -> std::same_as<SharedBuf*>;
};

}  // namespace relay::dp
