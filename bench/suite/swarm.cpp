#include "bench/suite/swarm.hpp"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ctime>
#include <optional>

#include <cstring>

#include "bench/sim/sim_data.hpp"
#include "relay/shm/cnc.hpp"
#include "relay/validate/validate.hpp"

namespace relay::bench {

Result<std::unique_ptr<Swarm>> Swarm::create(std::size_t peers, std::uint8_t tag) {
  std::unique_ptr<Swarm> s(new Swarm());
  dp::UringConfig c;
  c.max_conns = static_cast<std::uint32_t>(peers * 2 + 64);
  c.sq_entries = 4096;
  c.buf_count = 4096;  // 64 MiB of 16 KiB receive buffers, recycled as they are read
  c.buf_size = 16 * 1024;
  c.max_queued_sends = 4096;
  c.send_pool = {{4096, 8192}, {64 * 1024, 256}, {2 * 1024 * 1024, 32}};  // registered, like the relay's
  auto t = dp::UringTransport::create(c);
  if (!t.ok()) return t.error();
  s->t_ = std::move(*t);
  for (std::size_t i = 0; i < peers; ++i) {
    Peer p;
    p.id = std::make_unique<ctl::LocalPeer>(
        sim::make_local_peer(static_cast<std::uint8_t>(i % 250 + 1), static_cast<std::uint8_t>(tag + i / 250)));
    s->peers_.push_back(std::move(p));
  }
  return s;
}

Swarm::~Swarm() {
  for (auto& [c, l] : links_)
    if (l.hash != nullptr) XXH3_freeState(l.hash);
}

void Swarm::dial_all(const sockaddr_in6& relay, const net::ConnectOptions& how) {
  for (std::size_t p = 0; p < peers_.size(); ++p) (void)dial(p, net::from_sockaddr(relay), how);
}

bool Swarm::dial(std::size_t p, const net::PeerAddress& relay, const net::ConnectOptions& how) {
  auto c = t_->connect(relay, how);
  if (!c.ok()) {
    ++errors_;
    return false;
  }
  dialing_[*c] = static_cast<std::uint32_t>(p);
  return true;
}

Status Swarm::connect_direct() {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  ::inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr);
  auto port = t_->listen(a);
  if (!port.ok()) return port.error();
  listen_port_ = *port;
  a.sin6_port = htons(listen_port_);
  for (std::uint32_t p = 1; p < peers_.size(); ++p) {
    accept_order_.push_back(p);
    auto c = t_->connect(net::from_sockaddr(a), {});
    if (!c.ok()) return c.error();
    dialing_[*c] = 0;
  }
  return Ok{};
}

Status Swarm::set_uplink(std::size_t p, std::uint64_t bytes_per_s) {
  const auto& links = peers_.at(p).links;
  if (links.empty()) return make_error(Errc::kBadValue, "peer has no links");
  // SO_MAX_PACING_RATE takes an unsigned long (bytes/s; ~0: no cap).
  const unsigned long each = bytes_per_s == 0 ? ~0ul : static_cast<unsigned long>(std::max<std::uint64_t>(1, bytes_per_s / links.size()));
  for (dp::ConnId c : links)
    if (auto st = t_->set_option(c, SOL_SOCKET, SO_MAX_PACING_RATE, &each, sizeof each); !st.ok()) return st;
  return Ok{};
}

Status Swarm::timestamp_wire(std::size_t p) {
  const unsigned flags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
                         SOF_TIMESTAMPING_OPT_TSONLY;
  for (dp::ConnId c : peers_.at(p).links) {
    if (auto st = t_->set_option(c, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags); !st.ok()) return st;
    Link& l = links_.at(c);
    l.wire = true;
    l.wire_bytes = 0;  // OPT_ID counts bytes from here
    l.wire_waits.clear();
  }
  return Ok{};
}

// The kernel queues one timestamp per send call, keyed by the offset of its last byte;
// a send whose write was split shows up once per piece, the last piece's key being the
// send's own last byte. Every wait up to the key seen is over (bytes leave in order).
void Swarm::read_wire_stamps() {
  timespec real{}, mono{};
  ::clock_gettime(CLOCK_REALTIME, &real);
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  const std::int64_t real_minus_mono = (real.tv_sec - mono.tv_sec) * 1'000'000'000ll + (real.tv_nsec - mono.tv_nsec);
  for (auto& [conn, l] : links_) {
    if (!l.wire || l.wire_waits.empty()) continue;
    const int fd = t_->native_fd(conn);
    if (fd < 0) continue;
    for (;;) {
      alignas(cmsghdr) char ctrl[512];
      char data[16];
      iovec iov{data, sizeof data};
      msghdr m{};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = ctrl;
      m.msg_controllen = sizeof ctrl;
      if (::recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
      std::int64_t ns = -1;
      std::optional<std::uint32_t> key;
      for (cmsghdr* cm = CMSG_FIRSTHDR(&m); cm != nullptr; cm = CMSG_NXTHDR(&m, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPING) {
          scm_timestamping t;
          std::memcpy(&t, CMSG_DATA(cm), sizeof t);
          ns = t.ts[0].tv_sec * 1'000'000'000ll + t.ts[0].tv_nsec - real_minus_mono;
        } else if ((cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR) ||
                   (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR)) {
          sock_extended_err e;
          std::memcpy(&e, CMSG_DATA(cm), sizeof e);
          if (e.ee_origin == SO_EE_ORIGIN_TIMESTAMPING && e.ee_info == SCM_TSTAMP_SND) key = e.ee_data;
        }
      }
      if (ns < 0 || !key) continue;
      // Keys are 32-bit byte offsets: compare within the window of bytes in flight.
      std::size_t done = 0;
      while (done < l.wire_waits.size() &&
             static_cast<std::int32_t>(static_cast<std::uint32_t>(l.wire_waits[done].first) - *key) <= 0)
        ++done;
      for (std::size_t i = 0; i < done; ++i) {
        --wire_pending_;
        auto it = sends_.find(l.wire_waits[i].second);
        if (it == sends_.end()) continue;
        it->second.wire_ns = std::max(it->second.wire_ns, static_cast<std::uint64_t>(ns));
        if (--it->second.wire_left == 0 && on_wire) on_wire(it->second.tag, it->second.wire_ns);
        if (it->second.left == 0 && it->second.wire_left == 0) sends_.erase(it);
      }
      l.wire_waits.erase(l.wire_waits.begin(), l.wire_waits.begin() + static_cast<std::ptrdiff_t>(done));
    }
  }
}

std::size_t Swarm::links_up() const noexcept {
  std::size_t n = 0;
  for (const auto& [c, l] : links_) n += l.up && !l.failed;
  return n;
}

bool Swarm::wait_up(std::uint64_t timeout_ns) {
  const std::size_t want = accept_order_.empty() && listen_port_ == 0 ? peers_.size() : 2 * (peers_.size() - 1);
  const std::uint64_t deadline = shm::monotonic_ns() + timeout_ns;
  while (shm::monotonic_ns() < deadline) {
    pump(1);
    if (links_up() == want) return true;
    if (errors_ != 0) return false;
  }
  return false;
}

bool Swarm::wait_links(std::size_t want, std::uint64_t timeout_ns) {
  const std::uint64_t deadline = shm::monotonic_ns() + timeout_ns;
  while (shm::monotonic_ns() < deadline) {
    pump(1);
    if (links_up() >= want) return true;
  }
  return false;
}

void Swarm::pump(int timeout_ms) {
  dp::Event evs[256];
  for (std::size_t n; (n = t_->poll(evs, timeout_ms)) > 0; timeout_ms = 0) {
    for (std::size_t i = 0; i < n; ++i) {
      on_event(evs[i], shm::monotonic_ns());
      if (evs[i].kind == dp::EventKind::kData) t_->release(evs[i]);
    }
    if (n < std::size(evs)) break;
  }
  if (wire_pending_ > 0) read_wire_stamps();
}

void Swarm::start_link(dp::ConnId c, std::uint32_t peer, bool outbound, std::uint64_t now) {
  Link& l = links_[c];
  l.peer = peer;
  l.outbound = outbound;
  l.conv = std::make_unique<ctl::Conversation>(peers_[peer].id.get(), outbound, now);
  l.conv->set_burn_view(sim::sim_burn_view());
  l.framer = std::make_unique<codec::Framer>();
  l.hash = XXH3_createState();
  peers_[peer].links.push_back(c);
  std::vector<ctl::Action> acts;
  l.conv->start(now, acts);
  for (auto& a : acts)
    if (a.kind == ctl::Action::Kind::kSend) send_on(c, dp::SharedBuf::make(a.bytes), 0);
}

void Swarm::send_on(dp::ConnId c, dp::SharedBuf* b, std::uint64_t rec) {
  if (b == nullptr) return;
  if (t_->send(c, b, rec).ok()) {
    ++pending_sends_;
    if (auto lt = links_.find(c); lt != links_.end() && lt->second.wire) {
      Link& l = lt->second;
      l.wire_bytes += b->bytes().size();
      l.wire_waits.emplace_back(l.wire_bytes - 1, rec);
      ++wire_pending_;
      if (auto it = sends_.find(rec); it != sends_.end()) ++it->second.wire_left;
    }
  } else {
    ++refusals_;
    if (auto it = sends_.find(rec); it != sends_.end() && --it->second.left == 0 && it->second.wire_left == 0)
      sends_.erase(it);
  }
  b->unref();
}

void Swarm::on_event(const dp::Event& e, std::uint64_t now) {
  switch (e.kind) {
    case dp::EventKind::kConnected: {
      auto it = dialing_.find(e.conn);
      if (it == dialing_.end()) return;
      const std::uint32_t p = it->second;
      dialing_.erase(it);
      return start_link(e.conn, p, true, now);
    }
    case dp::EventKind::kAccepted: {
      if (accept_order_.empty()) return t_->close(e.conn);
      const std::uint32_t p = accept_order_.front();
      accept_order_.erase(accept_order_.begin());
      return start_link(e.conn, p, false, now);
    }
    case dp::EventKind::kConnectFailed:
      ++errors_;
      dialing_.erase(e.conn);
      return;
    case dp::EventKind::kClosed:
      if (auto it = links_.find(e.conn); it != links_.end() && !it->second.failed) {
        it->second.failed = true;
        ++errors_;
        std::erase(peers_[it->second.peer].links, e.conn);  // nothing more is sent on it
      }
      return;
    case dp::EventKind::kSent: {
      if (pending_sends_ > 0) --pending_sends_;
      auto it = sends_.find(e.user);
      if (it == sends_.end()) return;
      if (--it->second.left == 0) {
        if (on_sent) on_sent(it->second.tag, now);
        if (it->second.wire_left == 0) sends_.erase(it);
      }
      return;
    }
    case dp::EventKind::kData: {
      auto it = links_.find(e.conn);
      if (it == links_.end() || it->second.failed) return;
      if (it->second.up) return feed_skim(it->second, e.data, now);
      return feed_handshake(e.conn, it->second, e.data, now);
    }
  }
}

void Swarm::feed_handshake(dp::ConnId c, Link& l, ByteSpan d, std::uint64_t now) {
  while (!d.empty()) {
    d = d.subspan(l.framer->feed(d));
    if (l.framer->state() == codec::Framer::State::kError) {
      l.failed = true;
      ++errors_;
      return;
    }
    if (l.framer->state() != codec::Framer::State::kDone) continue;
    Bytes raw(l.framer->preamble_bytes().begin(), l.framer->preamble_bytes().end());
    raw.insert(raw.end(), l.framer->body().begin(), l.framer->body().end());
    l.framer->next();
    auto m = codec::decode_message(raw);
    if (!m.ok()) {
      l.failed = true;
      ++errors_;
      return;
    }
    std::vector<ctl::Action> acts;
    l.conv->on_message(raw, *m, now, acts);
    for (auto& a : acts) {
      if (a.kind == ctl::Action::Kind::kSend) send_on(c, dp::SharedBuf::make(a.bytes), 0);
      if (a.kind == ctl::Action::Kind::kAuthenticated) l.up = true;
      if (a.kind == ctl::Action::Kind::kClose) {
        l.failed = true;
        ++errors_;
      }
    }
    if (l.up) return feed_skim(l, d, now);  // from here on only pushes are expected
  }
}

// The skimming reader: the preamble (for payload_len), the relayer count and entries
// (skipped), the payload (hashed, never stored).
void Swarm::feed_skim(Link& l, ByteSpan d, std::uint64_t now) {
  while (!d.empty()) {
    if (l.pre_have < codec::kPreambleSize) {
      if (l.pre_have == 0) l.first_ns = now;
      const std::size_t n = std::min(codec::kPreambleSize - l.pre_have, d.size());
      std::memcpy(l.pre + l.pre_have, d.data(), n);
      l.pre_have += n;
      d = d.subspan(n);
      if (l.pre_have < codec::kPreambleSize) return;
      l.body_len = l.body_left = load_be32(l.pre + codec::kPreamblePayloadLenOffset);
      l.count_have = 0;
      l.relayers_left_bytes = 0;
      XXH3_64bits_reset(l.hash);
      if (l.body_len < 5) {  // not a push: nothing we could have sent
        l.failed = true;
        ++errors_;
        return;
      }
      continue;
    }
    std::size_t n;
    if (l.count_have < 4) {
      n = std::min<std::size_t>(4 - l.count_have, d.size());
      std::memcpy(l.count_buf + l.count_have, d.data(), n);
      l.count_have += n;
      if (l.count_have == 4) l.relayers_left_bytes = load_be32(l.count_buf) * static_cast<std::uint32_t>(codec::kRelayDataSize);
    } else if (l.relayers_left_bytes > 0) {
      n = std::min<std::size_t>(l.relayers_left_bytes, d.size());
      l.relayers_left_bytes -= static_cast<std::uint32_t>(n);
    } else {
      n = static_cast<std::size_t>(std::min<std::uint64_t>(l.body_left, d.size()));
      XXH3_64bits_update(l.hash, d.data(), n);
    }
    if (n > l.body_left) {  // relayers claimed more than the body holds
      l.failed = true;
      ++errors_;
      return;
    }
    l.body_left -= n;
    d = d.subspan(n);
    if (l.body_left == 0) {
      if (on_arrival)
        on_arrival(Arrival{l.peer, XXH3_64bits_digest(l.hash), l.first_ns, now,
                           static_cast<std::uint32_t>(codec::kPreambleSize + l.body_len)});
      l.pre_have = 0;
    }
  }
}

Bytes Swarm::sign_push(std::size_t p, ByteSpan payload, std::uint32_t seq) const {
  const ctl::LocalPeer& id = *peers_[p].id;
  const ctl::BurnView v = sim::sim_burn_view();
  codec::Preamble pre;
  pre.peer_version = id.peer_version;
  pre.network_id = id.network_id;
  pre.seq = seq;
  pre.burn_block_height = v.height;
  pre.burn_block_hash = v.hash;
  pre.burn_stable_block_height = v.stable_height;
  pre.burn_stable_block_hash = v.stable_hash;
  pre.payload_len = static_cast<std::uint32_t>(4 + payload.size());
  Bytes msg(codec::kPreambleSize + 4 + payload.size(), 0);
  codec::write_preamble_to(msg.data(), pre);  // signature zero
  std::memcpy(msg.data() + codec::kPreambleSize + 4, payload.data(), payload.size());  // no relayers
  const codec::Sig65 sig = id.key.sign(validate::message_digest(ByteSpan(msg.data(), codec::kPreambleSize),
                                                                 ByteSpan(msg.data() + codec::kPreambleSize, 4 + payload.size())));
  std::memcpy(msg.data() + codec::kPreambleSignatureOffset, sig.data(), sig.size());
  return msg;
}

void Swarm::send_signed(std::size_t p, const Bytes& msg, std::uint64_t tag) {
  const auto& links = peers_[p].links;
  if (links.empty()) return;
  dp::SharedBuf* b = t_->alloc(msg.size());
  if (b == nullptr) return void(++refusals_);
  std::memcpy(b->fill().data(), msg.data(), msg.size());
  const std::uint64_t rec = next_rec_++;
  sends_[rec] = SendRec{tag, static_cast<std::uint32_t>(links.size()), 0, 0};
  for (dp::ConnId c : links) {
    b->ref();
    send_on(c, b, rec);
  }
  b->unref();
}

std::uint64_t Swarm::push(std::size_t p, ByteSpan payload, std::uint64_t tag) {
  std::uint32_t seq = 0;
  crypto::fill_random(reinterpret_cast<std::uint8_t*>(&seq), sizeof seq);
  send_signed(p, sign_push(p, payload, seq), tag);
  return payload_key(payload);
}

}  // namespace relay::bench
