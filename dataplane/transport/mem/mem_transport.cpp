#include "dataplane/transport/mem/mem_transport.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace relay::dp {

MemTransport::MemTransport(MemNetwork& net, std::uint16_t listen_port)
    : net_(net), port_(listen_port), rng_(net.faults.seed | 1) {
  ::inet_pton(AF_INET6, "::ffff:127.0.0.1", &addr_);
  if (port_ != 0) net_.listeners_[port_] = this;
}

void MemTransport::listen_also(std::uint16_t port, std::uint8_t tag) {
  net_.listeners_[port] = this;
  net_.listener_tags_[port] = tag;
}

MemTransport::~MemTransport() {
  for (auto it = net_.listeners_.begin(); it != net_.listeners_.end();) {
    if (it->second == this) {
      net_.listener_tags_.erase(it->first);
      it = net_.listeners_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& h : stalled_) h.buf->unref();
  for (ConnId c = 0; c < conns_.size(); ++c)
    if (conns_[c].open) reset(c);
}

ConnId MemTransport::add_conn() {
  for (ConnId c = 0; c < conns_.size(); ++c)
    if (!conns_[c].open && conns_[c].peer == nullptr && !conns_[c].paused) return c;
  conns_.emplace_back();
  return static_cast<ConnId>(conns_.size() - 1);
}

net::PeerAddress MemTransport::remote(ConnId c) const noexcept {
  if (c >= conns_.size() || conns_[c].peer == nullptr) return {};
  codec::Addr16 a{};
  std::memcpy(a.data(), &conns_[c].peer->addr_, 16);
  return net::PeerAddress::ip(a, conns_[c].remote_port);
}

std::uint32_t MemTransport::open_conns() const noexcept {
  return static_cast<std::uint32_t>(std::count_if(conns_.begin(), conns_.end(), [](const Conn& c) { return c.open; }));
}

Result<ConnId> MemTransport::connect(const net::PeerAddress& addr, const net::ConnectOptions& how) {
  if (how.socks5 || how.sam) {  // recorded (what the engine asked for), but there are no proxies here
    dials_.push_back({addr, how});
    return make_error(Errc::kBadValue, "the in-memory transport has no proxies", EPROTONOSUPPORT);
  }
  if (!addr.is_ip()) return make_error(Errc::kBadValue, "cannot connect to a name", EDESTADDRREQ);
  dials_.push_back({addr, how});
  ConnId c = add_conn();
  auto it = net_.listeners_.find(addr.port());
  if (net_.faults.refuse_connects || it == net_.listeners_.end()) {
    conns_[c] = Conn{};
    events_.push_back(Event{EventKind::kConnectFailed, c, ECONNREFUSED, {}, 0, 0});
    return c;
  }
  MemTransport* srv = it->second;
  ConnId s = srv->add_conn();
  // The dialer's port as the listener sees it: ephemeral-looking, unique per connection.
  srv->conns_[s] = Conn{true, this, c, 0, static_cast<std::uint16_t>(40000 + c % 20000), false, {}};
  conns_[c] = Conn{true, srv, s, 0, srv->port_, false, {}};
  const auto tag = net_.listener_tags_.find(addr.port());
  srv->events_.push_back(Event{EventKind::kAccepted, s, 0, {}, 0, tag == net_.listener_tags_.end() ? 0u : tag->second});
  events_.push_back(Event{EventKind::kConnected, c, 0, {}, 0, 0});
  return c;
}

void MemTransport::deliver(ConnId c, ByteSpan bytes) {
  // Split into pseudo-random chunks when asked to, like TCP segments would arrive.
  std::size_t off = 0;
  while (off < bytes.size()) {
    std::size_t n = bytes.size() - off;
    if (net_.faults.max_chunk != 0) {
      rng_ ^= rng_ << 13;
      rng_ ^= rng_ >> 7;
      rng_ ^= rng_ << 17;
      n = std::min<std::size_t>(n, 1 + rng_ % net_.faults.max_chunk);
    }
    std::uint32_t id = next_buf_++;
    Bytes& held = held_[id];
    held.assign(bytes.begin() + static_cast<long>(off), bytes.begin() + static_cast<long>(off + n));
    events_.push_back(Event{EventKind::kData, c, 0, ByteSpan(held.data(), held.size()), id, 0});
    off += n;
  }
}

SharedBuf* MemTransport::alloc(std::size_t n) {
  if (n > UINT32_MAX) return nullptr;
  void* mem = std::malloc(SharedBuf::header_size() + std::max<std::size_t>(n, 16));
  if (mem == nullptr) return nullptr;
  ++live_bufs_;
  return SharedBuf::place(
      mem, n,
      [](void* ctx, SharedBuf* b) noexcept {
        --static_cast<MemTransport*>(ctx)->live_bufs_;
        std::free(b);
      },
      this);
}

Status MemTransport::send(ConnId c, SharedBuf* buf, std::uint64_t tag) {
  if (c >= conns_.size() || !conns_[c].open) return make_error(Errc::kBadValue, "no such connection");
  if (stall_ || conns_[c].stalled || !stalled_.empty()) {  // held, in order, until the fault clears
    buf->ref();
    stalled_.push_back({c, buf, tag});
    return Ok{};
  }
  transmit(c, buf->bytes(), tag);
  return Ok{};
}

void MemTransport::transmit(ConnId c, ByteSpan b, std::uint64_t tag) {
  if (c >= conns_.size() || !conns_[c].open) return;
  Conn& k = conns_[c];
  const std::uint64_t limit = net_.faults.reset_after_bytes;
  if (limit != 0 && k.crossed + b.size() > limit) {
    // Deliver what fits, then the connection resets on both sides.
    std::size_t fits = static_cast<std::size_t>(limit - std::min<std::uint64_t>(limit, k.crossed));
    k.peer->deliver(k.peer_conn, b.first(fits));
    reset(c);
    return;
  }
  k.crossed += b.size();
  k.peer->conns_[k.peer_conn].crossed += b.size();
  k.peer->deliver(k.peer_conn, b);
  events_.push_back(Event{EventKind::kSent, c, 0, {}, 0, tag});
}

void MemTransport::remote_closed(ConnId c, int err) {
  if (c >= conns_.size() || !conns_[c].open) return;
  conns_[c].open = false;
  conns_[c].peer = nullptr;
  events_.push_back(Event{EventKind::kClosed, c, err, {}, 0, 0});
}

void MemTransport::reset(ConnId c) {
  Conn& k = conns_[c];
  if (!k.open) return;
  MemTransport* peer = k.peer;
  ConnId pc = k.peer_conn;
  k.open = false;
  k.peer = nullptr;
  events_.push_back(Event{EventKind::kClosed, c, ECONNRESET, {}, 0, 0});
  if (peer != nullptr) peer->remote_closed(pc, ECONNRESET);
}

// drop_backlog: a paused connection is being closed: what it kept is dropped, a close
// that was waiting in it is delivered.
void MemTransport::drop_backlog(ConnId c) {
  Conn& k = conns_[c];
  for (const Event& e : k.backlog) {
    if (e.kind == EventKind::kData) held_.erase(e.buf_id);
    else events_.push_back(e);
  }
  k.backlog.clear();
  k.paused = false;
}

void MemTransport::hold(const Event& ev, std::size_t from) {
  if (ev.kind != EventKind::kData) return;
  if (ev.conn >= conns_.size() || !conns_[ev.conn].open || from >= ev.data.size()) {
    release(ev);
    if (ev.conn < conns_.size() && conns_[ev.conn].open) conns_[ev.conn].paused = true;
    return;
  }
  Conn& k = conns_[ev.conn];
  k.paused = true;
  Event kept = ev;
  kept.data = ev.data.subspan(from);
  k.backlog.push_back(kept);
}

void MemTransport::resume(ConnId c) {
  if (c >= conns_.size() || !conns_[c].paused) return;
  Conn& k = conns_[c];
  k.paused = false;
  // Ahead of everything not yet polled, in their order.
  for (auto it = k.backlog.rbegin(); it != k.backlog.rend(); ++it) events_.push_front(*it);
  k.backlog.clear();
}

void MemTransport::close(ConnId c) {
  if (c < conns_.size() && conns_[c].paused) drop_backlog(c);
  if (c >= conns_.size() || !conns_[c].open) return;
  Conn& k = conns_[c];
  MemTransport* peer = k.peer;
  ConnId pc = k.peer_conn;
  k.open = false;
  k.peer = nullptr;
  events_.push_back(Event{EventKind::kClosed, c, 0, {}, 0, 0});
  if (peer != nullptr) peer->remote_closed(pc, 0);  // orderly close: the peer sees EOF
}

std::size_t MemTransport::poll(std::span<Event> evs, int /*timeout_ms*/) {
  if (!stall_ && !stalled_.empty()) {  // what is no longer held goes out, each connection's in order
    std::deque<Stalled> still;
    for (const Stalled& h : stalled_) {
      if (h.conn < conns_.size() && conns_[h.conn].stalled) {
        still.push_back(h);
        continue;
      }
      transmit(h.conn, h.buf->bytes(), h.tag);
      h.buf->unref();
    }
    stalled_.swap(still);
  }
  std::size_t n = 0;
  while (n < evs.size() && !events_.empty()) {
    const Event e = events_.front();
    events_.pop_front();
    if (e.conn < conns_.size() && conns_[e.conn].paused && (e.kind == EventKind::kData || e.kind == EventKind::kClosed)) {
      conns_[e.conn].backlog.push_back(e);  // a paused connection reads nothing, EOF included
      continue;
    }
    evs[n++] = e;
  }
  return n;
}

void MemTransport::release(const Event& ev) {
  if (ev.kind == EventKind::kData) held_.erase(ev.buf_id);
}

}  // namespace relay::dp
