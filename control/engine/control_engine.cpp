#include "control/engine/control_engine.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>

#include <cstring>

namespace relay::ctl {

namespace {

constexpr std::uint64_t kTickNs = 100'000'000;  // conversation timers: 5 s deadlines, 30 min pings

// resolve: an IP literal or a name → IPv6 (v4-mapped) bytes. Names are resolved here,
// in the control plane, never on the dataplane's thread.
std::optional<codec::Addr16> resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET6;
  hints.ai_flags = AI_V4MAPPED | AI_ALL;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return std::nullopt;
  codec::Addr16 a{};
  std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in6*>(res->ai_addr)->sin6_addr, 16);
  ::freeaddrinfo(res);
  return a;
}

Bytes encode(auto&& fn) {
  Bytes b;
  {
    Writer w(b);
    fn(w);
  }
  return b;
}

}  // namespace

Result<CtlLinkEnds> join_ctl_link(const link::Link& l) noexcept {
  auto p = shm::RingProducer::join(l.ctl_to_dp, l.ctl_to_dp_sz);
  if (!p.ok()) return p.error();
  auto c = shm::RingConsumer::join(l.dp_to_ctl, l.dp_to_ctl_sz);
  if (!c.ok()) return c.error();
  return CtlLinkEnds{*p, *c, l.ctl_cnc, l.dp_cnc, l.counters};
}

ControlEngine::ControlEngine(CtlLinkEnds link, ControlOptions opts) : link_(link), opts_(std::move(opts)) {
  for (const auto& spec : opts_.peers) dials_.push_back(Dial{spec});
}

std::size_t ControlEngine::authenticated_sessions() const noexcept {
  std::size_t n = 0;
  for (const auto& [sid, p] : peers_) n += p->pkh.has_value();
  return n;
}

void ControlEngine::start(std::uint64_t incarnation, std::uint64_t now_ns) {
  send(link::CtlMsg::kHello, 0, encode([&](Writer& w) { w.u64(incarnation); }));
  send_state();
  shm::cnc_beat(*link_.cnc, shm::CncState::kRun, static_cast<std::uint32_t>(::getpid()), now_ns);
}

// What the dataplane must hold whatever happened before: the reward set and our view.
void ControlEngine::send_state() {
  send(link::CtlMsg::kRewardSet, 0, encode([&](Writer& w) { link::put_reward_sets(w, {opts_.reward_set, previous_reward_set_}); }));
  if (view_.height != 0) send(link::CtlMsg::kBurnView, 0, encode([&](Writer& w) { link::put_view(w, view_); }));
}

void ControlEngine::set_reward_sets(std::vector<validate::RewardSetSigner> current,
                                    std::vector<validate::RewardSetSigner> previous) {
  opts_.reward_set = std::move(current);
  previous_reward_set_ = std::move(previous);
  send(link::CtlMsg::kRewardSet, 0, encode([&](Writer& w) { link::put_reward_sets(w, {opts_.reward_set, previous_reward_set_}); }));
}

void ControlEngine::originate(ByteSpan payload) {
  Bytes body(4 + payload.size(), 0);  // no relayers yet: the dataplane appends us
  std::memcpy(body.data() + 4, payload.data(), payload.size());
  send(link::CtlMsg::kOriginate, 0, std::move(body));
}

void ControlEngine::send(link::CtlMsg kind, std::uint32_t sid, Bytes body) {
  out_.push_back(Out{kind, sid, std::move(body)});
}

// flush: as many queued commands as the ring has credit for, in order.
bool ControlEngine::flush() {
  bool any = false;
  while (!out_.empty()) {
    const Out& o = out_.front();
    if (!link_.to_dp.try_send(o.body, static_cast<std::uint16_t>(o.kind), o.sid)) break;
    out_.pop_front();
    any = true;
  }
  return any;
}

ControlEngine::Dial* ControlEngine::dial_by_token(std::uint64_t token) {
  for (auto& d : dials_)
    if (d.token == token && token != 0) return &d;
  return nullptr;
}

void ControlEngine::dial_peers(std::uint64_t now_ns) {
  for (auto& d : dials_) {
    if (d.state != Dial::State::kIdle || now_ns < d.next_ns) continue;
    d.next_ns = now_ns + opts_.redial_ns;
    auto addr = resolve(d.spec.host);
    if (!addr) {
      ++stats_.dial_failures;
      continue;
    }
    d.token = next_token_++;
    d.state = Dial::State::kDialing;
    ++stats_.dials;
    send(link::CtlMsg::kConnect, 0, encode([&](Writer& w) {
           w.u64(d.token);
           w.array(*addr);
           w.u16(d.spec.port);
         }));
  }
}

void ControlEngine::on_dp_hello(std::uint64_t now_ns) {
  // A new dataplane: every connection died with the old one. Commands still queued were
  // for those sessions; the state it needs is sent again.
  ++stats_.dp_restarts;
  peers_.clear();
  // Drop what was meant for the old dataplane; keep our own Hello if it has not gone
  // out yet (the new dataplane must still hear of us). The state follows again below.
  std::erase_if(out_, [](const Out& o) { return o.kind != link::CtlMsg::kHello; });
  for (auto& d : dials_) {
    d.state = Dial::State::kIdle;
    d.sid = 0;
    d.next_ns = now_ns;
  }
  send_state();
}

void ControlEngine::add_peer(std::uint32_t sid, const link::SessionInfo& info, bool restored, std::uint64_t now_ns) {
  if (restored && peers_.count(sid) != 0) return;  // already told of it (kOpened after our start)
  std::optional<crypto::PublicKey> pinned;
  Dial* d = info.outbound ? dial_by_token(info.dial_token) : nullptr;
  if (d != nullptr) {
    d->state = Dial::State::kUp;
    d->sid = sid;
    pinned = d->spec.pinned;
  }
  auto p = std::make_unique<Peer>(opts_.local, info, now_ns, pinned);
  p->conv.set_burn_view(view_);
  Peer& ref = *p;
  peers_[sid] = std::move(p);
  ++stats_.sessions;
  actions_.clear();
  if (restored) ++stats_.restored;
  if (info.key) {  // handed back by the dataplane after we restarted
    ref.conv.restore(*info.key);
    auto pk = info.key->compressed();
    ref.pkh = crypto::hash160(ByteSpan(pk.data(), pk.size()));
    return;
  }
  // New, or handed back mid-handshake: an outbound session (re)sends our Handshake (an
  // accept of the old one is ignored as unsolicited); an inbound one waits for the
  // peer's, under a fresh 5 s deadline.
  ref.conv.start(now_ns, actions_);
  apply(sid, ref, actions_);
}

void ControlEngine::on_closed(std::uint32_t sid, std::uint64_t now_ns) {
  peers_.erase(sid);
  for (auto& d : dials_) {
    if (d.state == Dial::State::kUp && d.sid == sid) {
      d.state = Dial::State::kIdle;
      d.sid = 0;
      d.next_ns = now_ns + opts_.redial_ns;
    }
  }
}

void ControlEngine::on_message(std::uint32_t sid, Reader& r, std::uint64_t now_ns) {
  auto it = peers_.find(sid);
  const std::uint8_t flags = r.u8();
  codec::Hash32 digest = r.array<32>();
  ByteSpan raw = r.take(r.remaining());
  if (!r.ok()) return void(++stats_.link_corrupt);
  if (it == peers_.end()) return;  // the session closed meanwhile
  Peer& p = *it->second;
  auto m = codec::decode_message(raw);
  if (!m.ok()) {
    ++stats_.undecodable;
    ++stats_.closed_misbehaved;
    send(link::CtlMsg::kClose, sid, encode([](Writer& w) { w.u8(1); }));
    peers_.erase(it);
    return;
  }
  actions_.clear();
  p.conv.on_message(raw, *m, now_ns, actions_, &digest, (flags & link::kMsgVerified) != 0);
  apply(sid, p, actions_);
}

void ControlEngine::apply(std::uint32_t sid, Peer& p, std::vector<Action>& actions) {
  for (auto& a : actions) {
    switch (a.kind) {
      case Action::Kind::kSend: send(link::CtlMsg::kSend, sid, std::move(a.bytes)); break;
      case Action::Kind::kAuthenticated: {
        auto pk = a.key->compressed();
        p.pkh = crypto::hash160(ByteSpan(pk.data(), pk.size()));
        ++stats_.authenticated;
        send(link::CtlMsg::kAuthenticated, sid, Bytes(pk.begin(), pk.end()));
        break;
      }
      case Action::Kind::kClose:
        if (a.misbehaved) ++stats_.closed_misbehaved;
        send(link::CtlMsg::kClose, sid, encode([&](Writer& w) { w.u8(a.misbehaved ? 1 : 0); }));
        break;
      case Action::Kind::kRelay:
        // The peer pushed before the dataplane learnt its key (it may push as soon as it
        // has our HandshakeAccept): hand the push back for the relay path.
        ++stats_.relays_handed_back;
        send(link::CtlMsg::kRelay, sid, std::move(a.bytes));
        break;
      case Action::Kind::kBurnView: adopt_view(p, a.view); break;
    }
  }
}

void ControlEngine::set_view(const BurnView& v) {
  view_ = v;
  ++stats_.view_updates;
  for (auto& [sid, p] : peers_) p->conv.set_burn_view(v);
  send(link::CtlMsg::kBurnView, 0, encode([&](Writer& w) { link::put_view(w, v); }));
}

// Our preambles carry the newest burn view a trusted node reported; until one has, the
// first authenticated peer's view is better than none (a zero view fails every node's
// preamble check).
void ControlEngine::adopt_view(const Peer& p, const BurnView& v) {
  if (!p.pkh || v == view_) return;
  bool trusted = false;
  for (const auto& t : opts_.trusted_pkhs) trusted |= t == *p.pkh;
  const bool bootstrap = view_.height == 0 && !view_from_trusted_;
  const bool newer_trusted = trusted && (v.height > view_.height || !view_from_trusted_);
  if (!bootstrap && !newer_trusted) return;
  view_from_trusted_ |= trusted;
  set_view(v);
}

namespace {
// Puts every block of a relayed push into the store, by the id the relay keys it on.
class StoreFeeder final : public codec::PushVisitor {
 public:
  StoreFeeder(store::BlockStore& s, ControlStats& st) : store_(s), stats_(st) {}
  void transaction(const codec::StacksTransaction&, ByteSpan) override {}
  void chunk(const codec::StackerDBPushChunk&) override {}
  void available(codec::MsgId, std::span<const codec::BlockAvailable>) override {}
  void nakamoto_block(const codec::NakamotoBlock& b, ByteSpan raw) override {
    store::BlockMeta m;
    m.kind = store::BlockKind::kNakamoto;
    m.height = b.header.chain_length;
    m.consensus_hash = b.header.consensus_hash;
    m.parent = b.header.parent_block_id;
    put(b.block_id, m, raw);
  }
  void block(const codec::Hash20& consensus_hash, const codec::StacksBlock& b, ByteSpan raw) override {
    store::BlockMeta m;
    m.kind = store::BlockKind::kStacks;
    m.consensus_hash = consensus_hash;
    m.parent = b.header.parent_block;
    put(codec::block_index_hash(b.block_hash, consensus_hash), m, raw);
  }
  void microblock(const codec::Hash32&, const codec::StacksMicroblock& mb, ByteSpan raw) override {
    store::BlockMeta m;
    m.kind = store::BlockKind::kMicroblock;
    m.height = mb.header.sequence;
    m.parent = mb.header.prev_block;
    put(mb.block_hash, m, raw);
  }

 private:
  void put(const codec::Hash32& id, const store::BlockMeta& m, ByteSpan raw) {
    auto r = store_.put(id, m, raw);
    if (!r.ok()) ++stats_.store_errors;
    else if (*r) ++stats_.blocks_stored;
  }
  store::BlockStore& store_;
  ControlStats& stats_;
};
}  // namespace

// A block push the dataplane relayed: keep its blocks (off the relay path: the
// dataplane has already forwarded it).
void ControlEngine::on_relayed(ByteSpan payload) {
  if (opts_.store == nullptr) return;
  StoreFeeder feeder(*opts_.store, stats_);
  if (!codec::read_push(payload, 0, push_scratch_, feeder).ok()) ++stats_.link_corrupt;
}

void ControlEngine::on_frag(const shm::Frag& f, std::uint64_t now_ns) {
  Reader r(f.payload);
  switch (static_cast<link::DpMsg>(f.kind)) {
    case link::DpMsg::kHello:
      (void)r.u64();
      if (!r.ok()) break;
      return on_dp_hello(now_ns);
    case link::DpMsg::kOpened:
    case link::DpMsg::kRestored: {
      auto info = link::get_session_info(r);
      if (!info || f.session == 0) break;
      return add_peer(f.session, *info, static_cast<link::DpMsg>(f.kind) == link::DpMsg::kRestored, now_ns);
    }
    case link::DpMsg::kClosed: {
      const bool misbehaved = r.u8() == 1;
      if (!r.ok()) break;
      if (misbehaved) ++stats_.closed_misbehaved;
      return on_closed(f.session, now_ns);
    }
    case link::DpMsg::kConnectFailed: {
      std::uint64_t token = r.u64();
      (void)r.u32();
      if (!r.ok()) break;
      ++stats_.dial_failures;
      if (Dial* d = dial_by_token(token); d != nullptr && d->state == Dial::State::kDialing) {
        d->state = Dial::State::kIdle;
        d->next_ns = now_ns + opts_.redial_ns;
      }
      return;
    }
    case link::DpMsg::kMessage: return on_message(f.session, r, now_ns);
    case link::DpMsg::kRelayed: return on_relayed(f.payload);
    case link::DpMsg::kView: {
      auto v = link::get_view(r);
      if (!v) break;
      if (f.session == 0) {  // the dataplane's own view, after we restarted
        if (view_.height == 0 && v->height != 0) {
          view_ = *v;
          for (auto& [sid, p] : peers_) p->conv.set_burn_view(*v);
        }
        return;
      }
      if (auto it = peers_.find(f.session); it != peers_.end()) adopt_view(*it->second, *v);
      return;
    }
  }
  ++stats_.link_corrupt;
}

bool ControlEngine::poll(std::uint64_t now_ns) {
  bool any = false;
  for (int i = 0; i < 256; ++i) {
    shm::Frag f;
    auto r = link_.from_dp.poll(f);
    if (r == shm::RingConsumer::Poll::kEmpty) break;
    any = true;
    if (r != shm::RingConsumer::Poll::kFrag) {
      ++stats_.link_corrupt;
      continue;
    }
    on_frag(f, now_ns);
    link_.from_dp.release();
  }
  if (now_ns >= next_tick_ns_) {
    next_tick_ns_ = now_ns + kTickNs;
    for (auto& [sid, p] : peers_) {
      actions_.clear();
      p->conv.on_tick(now_ns, actions_);
      if (!actions_.empty()) apply(sid, *p, actions_);
    }
    dial_peers(now_ns);
  }
  any |= flush();
  shm::cnc_beat(*link_.cnc, shm::CncState::kRun, static_cast<std::uint32_t>(::getpid()), now_ns);
  return any;
}

}  // namespace relay::ctl
