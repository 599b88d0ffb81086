#include "control/engine/control_engine.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <set>

#include "control/store/store_push.hpp"
#include "relay/net/dialogue.hpp"
#include "relay/net/socks5.hpp"

namespace relay::ctl {

namespace {

constexpr std::uint64_t kTickNs = 100'000'000;  // conversation timers: 5 s deadlines, 30 min pings
constexpr std::uint64_t kFillNs = 1'000'000'000;            // outbound count checked every second
constexpr std::uint64_t kSampleNs = 10'000'000'000;         // GetNeighbors answer refreshed
constexpr std::uint64_t kFlushNs = 5'000'000'000;           // table changes written
constexpr std::uint64_t kBootstrapNs = 1'800'000'000'000;   // bootstrap names re-resolved
constexpr std::size_t kMaxDialsPerFill = 4;                 // new outbound dials per second
constexpr std::size_t kMaxNeighbors = 128;                  // a Neighbors reply's limit

Bytes encode(auto&& fn) {
  Bytes b;
  {
    Writer w(b);
    fn(w);
  }
  return b;
}

}  // namespace

ControlEngine::ControlEngine(link::Ends link, ControlOptions opts)
    : link_(link),
      out_(link.out),
      opts_(std::move(opts)),
      vote_(opts_.burn_view_quorum, opts_.local != nullptr ? opts_.local->stable_confirmations : 7) {
  // The view we last used: a real, if old, view passes every node's check (hashes are
  // compared only for heights a node holds), so a restart never starts from whichever
  // peer happens to connect first.
  if (!opts_.view_path.empty())
    if (auto v = load_burn_view(opts_.view_path)) view_ = *v;
  for (const auto& spec : opts_.peers) {
    Dial d;
    d.spec = spec;
    dials_.push_back(std::move(d));
  }
  // A pair partner: one dial, over each of its paths in turn.
  for (const auto& spec : opts_.pairs) {
    if (!spec.pinned) continue;  // (the configuration requires the key)
    const auto pk = spec.pinned->compressed();
    const codec::Hash20 pkh = crypto::hash160(ByteSpan(pk.data(), pk.size()));
    if (Dial* d = pair_dial(pkh)) {
      d->paths.push_back(spec);
      continue;
    }
    Dial d;
    d.spec = spec;
    d.pair = true;
    d.paths = {spec};
    d.pkh = pkh;
    dials_.push_back(std::move(d));
  }
  if (opts_.local != nullptr) {
    auto pk = opts_.local->key.public_key().compressed();
    our_pkh_ = crypto::hash160(ByteSpan(pk.data(), pk.size()));
  }
}

std::int64_t ControlEngine::wall() const noexcept {
  return opts_.wall_clock != nullptr ? opts_.wall_clock() : static_cast<std::int64_t>(::time(nullptr));
}

std::size_t ControlEngine::outbound_sessions() const noexcept {
  std::size_t n = 0;
  for (const auto& [sid, p] : peers_) n += p->info.outbound && !p->closing;
  return n;
}

std::size_t ControlEngine::authenticated_sessions() const noexcept {
  std::size_t n = 0;
  for (const auto& [sid, p] : peers_) n += p->pkh.has_value();
  return n;
}

void ControlEngine::start(std::uint64_t incarnation, std::uint64_t now_ns) {
  send(link::CtlMsg::kHello, 0, encode([&](Writer& w) { w.u64(incarnation); }));
  send_state();
  shm::cnc_beat(*link_.own_cnc, shm::CncState::kRun, static_cast<std::uint32_t>(::getpid()), now_ns);
}

// What the dataplane must hold whatever happened before: the reward set and our view.
void ControlEngine::send_state() {
  send_reward_sets();
  if (view_.height != 0) send(link::CtlMsg::kBurnView, 0, encode([&](Writer& w) { link::put_view(w, view_); }));
}

void ControlEngine::set_reward_sets(std::vector<validate::RewardSetSigner> current,
                                    std::vector<validate::RewardSetSigner> previous, std::uint64_t cycle,
                                    std::vector<validate::RewardSetSigner> next) {
  opts_.reward_set = std::move(current);
  previous_reward_set_ = std::move(previous);
  reward_cycle_ = cycle;
  next_reward_set_ = std::move(next);
  send_reward_sets();
}

void ControlEngine::send_reward_sets() {
  send(link::CtlMsg::kRewardSet, 0, encode([&](Writer& w) {
         link::put_reward_sets(w, {opts_.reward_set, previous_reward_set_, reward_cycle_, next_reward_set_});
       }));
}

void ControlEngine::originate(ByteSpan payload) {
  Bytes body(4 + payload.size(), 0);  // no relayers yet: the dataplane appends us
  std::memcpy(body.data() + 4, payload.data(), payload.size());
  send(link::CtlMsg::kOriginate, 0, std::move(body));
}

void ControlEngine::send(link::CtlMsg kind, std::uint32_t sid, Bytes body) {
  out_.queue(static_cast<std::uint16_t>(kind), sid, std::move(body));
}


ControlEngine::Dial* ControlEngine::dial_by_token(std::uint64_t token) {
  for (auto& d : dials_)
    if (d.token == token && token != 0) return &d;
  return nullptr;
}

// how_to_reach: the configured connection options, and the proxy for this peer: the
// onion proxy for an onion address, else the proxy for everything (if any); with its
// own isolation login unless the proxy has a login of its own.
net::ConnectOptions ControlEngine::how_to_reach(const net::PeerAddress& addr, const DialSpec* spec) const {
  net::ConnectOptions how = opts_.outbound;
  if (spec != nullptr && !spec->via_device.empty()) how.bind_device = spec->via_device;
  if (spec != nullptr && spec->via_source) how.bind_source = spec->via_source;
  if (spec != nullptr && spec->mptcp) how.mptcp = *spec->mptcp;
  if (addr.kind() == net::HostKind::kI2p) {
    how.sam = i2p_;  // dialed only while the session is up (dial_peers)
    return how;
  }
  const auto& proxy = addr.kind() == net::HostKind::kOnion ? opts_.onion_proxy : opts_.proxy;
  if (proxy) {
    how.socks5 = *proxy;
    if (opts_.isolate && !how.socks5->login) how.socks5->login = net::socks5::isolation_login(addr, opts_.isolation_salt);
  }
  return how;
}

// connect: the dataplane dials `addr` as how_to_reach says (for a configured peer, with
// its own way in, `spec`).
void ControlEngine::connect(std::uint64_t token, const net::PeerAddress& addr, const DialSpec* spec) {
  send_connect(token, addr, how_to_reach(addr, spec));
}

void ControlEngine::send_connect(std::uint64_t token, const net::PeerAddress& addr, const net::ConnectOptions& how) {
  send(link::CtlMsg::kConnect, 0, encode([&](Writer& w) {
         w.u64(token);
         addr.put(w);
         how.put(w);
       }));
}

// The configured peers: dialed while down, every redial_ns. DNS names are resolved off
// this thread (the table and the address policies need the address) and the dial goes
// out when the answer comes back (on_resolved) — unless a proxy is set: then the name
// goes to the proxy, as onion and I2P names always do (asking the local resolver would
// tell it, and whoever watches it, who the relay talks to).
void ControlEngine::dial_peers(std::uint64_t now_ns) {
  // Not before the dataplane has answered our Hello: the sessions it hands back (after
  // this process restarted) include peers we would otherwise dial a second time.
  if (!dp_answered_) return;
  for (auto& d : dials_) {
    if (d.state != Dial::State::kIdle || now_ns < d.next_ns) continue;
    if (d.pair) {
      if (pair_session(d.pkh) != nullptr) continue;  // it dialed us
      d.spec = d.paths[d.path];
    }
    if (d.spec.addr.kind() == net::HostKind::kI2p && !i2p_) continue;  // once the I2P session is up
    d.next_ns = now_ns + opts_.redial_ns;
    if (d.spec.addr.kind() == net::HostKind::kName && !opts_.proxy) {
      d.state = Dial::State::kResolving;
      resolver_.request(d.spec.addr.name());
      continue;
    }
    if (d.spec.addr.is_ip()) d.addr = d.spec.addr.addr();
    d.token = next_token_++;
    d.state = Dial::State::kDialing;
    ++stats_.dials;
    connect(d.token, d.spec.addr, &d.spec);
  }
}

void ControlEngine::on_resolved(const Resolver::Answer& a, std::uint64_t now_ns) {
  for (auto& d : dials_) {
    if (d.state != Dial::State::kResolving || d.spec.addr.name() != a.host) continue;
    if (!a.addr || !family_allowed(*a.addr)) {  // no address, or of a family privacy.onlynet leaves out
      ++stats_.dial_failures;
      d.state = Dial::State::kIdle;
      d.next_ns = now_ns + opts_.redial_ns;
      if (d.pair) pair_next_path(d, now_ns);
      continue;
    }
    d.addr = a.addr;
    d.token = next_token_++;
    d.state = Dial::State::kDialing;
    ++stats_.dials;
    connect(d.token, net::PeerAddress::ip(*d.addr, d.spec.addr.port()), &d.spec);
  }
  if (opts_.frontier == nullptr || !a.addr) return;
  for (const auto& b : opts_.bootstrap) {
    if (b.addr.host() != a.host) continue;
    codec::Hash20 pkh{};
    if (b.pinned) {
      auto pk = b.pinned->compressed();
      pkh = crypto::hash160(ByteSpan(pk.data(), pk.size()));
    }
    opts_.frontier->learn(frontier::PeerKey{opts_.local->network_id, *a.addr, b.addr.port()}, pkh, wall(), true);
    fill_due_ = true;
  }
}

bool ControlEngine::configured_addr(const codec::Addr16& a) const noexcept {
  for (const auto& d : dials_) {
    if (d.addr && *d.addr == a) return true;
    for (const auto& p : d.paths)
      if (p.addr.is_ip() && p.addr.addr() == a) return true;
  }
  return false;
}

// refuse_inbound: why a new inbound session may not stay (nullptr: it may), as a node's
// register_peer decides (PROTOCOL.md §4.1), with the operator's lists and limits.
const char* ControlEngine::refuse_inbound(const link::SessionInfo& info) {
  // An onion (or I2P) session comes from Tor's (the bridge's) own loopback connection:
  // its address is not the peer's, so neither the address rules nor the per-address
  // limit apply (they would refuse every onion peer, or lump them all together). The
  // table's limit does.
  const bool hidden = info.via != link::Via::kDirect;
  if (!hidden && !family_allowed(info.addr)) {
    ++stats_.refused_network;
    return "a network privacy.onlynet leaves out";
  }
  const bool configured = !hidden && configured_addr(info.addr);
  bool exempt = configured;
  if (opts_.frontier != nullptr && !hidden) {
    switch (opts_.frontier->judge(info.addr, wall(), configured)) {
      case frontier::Frontier::Verdict::kOk: break;
      case frontier::Frontier::Verdict::kDenied: ++stats_.refused_denied; return "address on the deny list";
      case frontier::Frontier::Verdict::kBanned: ++stats_.refused_banned; return "address banned";
      case frontier::Frontier::Verdict::kPrivate: ++stats_.refused_private; return "private address";
      case frontier::Frontier::Verdict::kUnroutable: ++stats_.refused_unroutable; return "unroutable address";
    }
    exempt |= opts_.frontier->allowed(info.addr);
  }
  if (exempt) return nullptr;
  std::size_t inbound = 0, same_ip = 0;
  for (const auto& [sid, p] : peers_) {
    if (p->info.outbound || p->closing || p->pair) continue;  // a pair partner is not counted
    ++inbound;
    same_ip += net::host_block(p->info.addr) == net::host_block(info.addr);  // an IPv6 /64 counts as one address
  }
  if (opts_.max_inbound != 0 && inbound >= opts_.max_inbound) {
    ++stats_.refused_full;
    return "max_inbound reached";
  }
  if (!hidden && opts_.max_inbound_per_ip != 0 && same_ip >= opts_.max_inbound_per_ip) {
    ++stats_.refused_per_ip;
    return "max_inbound_per_ip reached";
  }
  return nullptr;
}

void ControlEngine::on_dp_hello(std::uint64_t now_ns) {
  // A new dataplane: every connection died with the old one. Commands still queued were
  // for those sessions; the state it needs is sent again.
  ++stats_.dp_restarts;
  peers_.clear();
  dp_answered_ = true;  // a new dataplane has no sessions to hand back
  // Drop what was meant for the old dataplane; keep our own Hello if it has not gone
  // out yet (the new dataplane must still hear of us). The state follows again below.
  out_.discard_all_but(static_cast<std::uint16_t>(link::CtlMsg::kHello));
  for (auto& d : dials_) {
    if (d.state == Dial::State::kResolving) continue;  // the answer still dials it
    d.state = Dial::State::kIdle;
    d.sid = 0;
    d.next_ns = now_ns;
  }
  walk_dialing_.clear();
  i2p_accepts_.clear();  // they died with the old dataplane: new ones at the next tick
  next_i2p_accept_ns_ = now_ns;
  to_ask_.clear();
  fill_due_ = true;
  send_state();
}

void ControlEngine::add_peer(std::uint32_t sid, const link::SessionInfo& info, bool restored, std::uint64_t now_ns) {
  if (restored && peers_.count(sid) != 0) return;  // already told of it (kOpened after our start)
  if (!info.outbound && !restored) {
    if (refuse_inbound(info) != nullptr) {
      send(link::CtlMsg::kClose, sid, encode([](Writer& w) { w.u8(0); }));
      return;
    }
  }
  std::optional<crypto::PublicKey> pinned;
  // An inbound I2P peer on one of our STREAM ACCEPTs: wait for the next one at once.
  if (!info.outbound && info.dial_token != 0 && i2p_accepts_.erase(info.dial_token) != 0) i2p_accept_more(now_ns);
  Dial* d = info.outbound ? dial_by_token(info.dial_token) : nullptr;
  if (d != nullptr) {
    d->state = Dial::State::kUp;
    d->sid = sid;
    pinned = d->spec.pinned;
    if (d->last_err != 0 && opts_.log) opts_.log("dial " + d->spec.addr.to_string() + " connected");
    d->last_err = 0;
  }
  auto p = std::make_unique<Peer>(opts_.local, info, now_ns, pinned);
  p->configured = d != nullptr;
  if (info.outbound) {
    if (auto it = walk_dialing_.find(info.dial_token); it != walk_dialing_.end()) {
      p->table_key = it->second;
      walk_dialing_.erase(it);
    }
  }
  p->conv.set_burn_view(view_);
  if (opts_.frontier != nullptr) p->conv.set_neighbor_source(&neighbor_sample_);
  if (!inv_answer_)
    inv_answer_ = [this](const codec::Hash20& ch) -> std::optional<codec::BitVec> {
      return inv_ ? inv::answer(*inv_, ch) : std::nullopt;
    };
  p->conv.set_inventory(&inv_answer_);
  Peer& ref = *p;
  peers_[sid] = std::move(p);
  ++stats_.sessions;
  actions_.clear();
  if (restored) ++stats_.restored;
  if (info.key) {  // handed back by the dataplane after we restarted
    ref.conv.restore(*info.key);
    auto pk = info.key->compressed();
    ref.pkh = crypto::hash160(ByteSpan(pk.data(), pk.size()));
    pair_authenticated(sid, ref, now_ns);  // a partner's session stays the pair's
    return;
  }
  // New, or handed back mid-handshake: an outbound session (re)sends our Handshake (an
  // accept of the old one is ignored as unsolicited); an inbound one waits for the
  // peer's, under a fresh 5 s deadline.
  ref.conv.start(now_ns, actions_);
  apply(sid, ref, actions_);
}

void ControlEngine::on_closed(std::uint32_t sid, bool misbehaved, std::uint64_t now_ns) {
  if (auto it = peers_.find(sid); it != peers_.end()) {
    Peer& p = *it->second;
    // Misbehaviour counts against the address (the dataplane's verdicts and ours both
    // arrive here, once); the operator's own peers are never banned.
    if (misbehaved && opts_.frontier != nullptr && !p.configured && p.info.via == link::Via::kDirect &&
        !net::is_unspecified(p.info.addr))
      (void)opts_.frontier->misbehaved(p.info.addr, frontier::kPointsMisbehaviour, wall());
    if (p.table_key && !p.pkh && opts_.frontier != nullptr) {  // a walk dial that never handshook
      ++stats_.walk_dial_failures;
      opts_.frontier->dial_failed(*p.table_key, wall());
    }
    if (p.table_key) fill_due_ = true;
    if (p.pair && !p.superseded) {
      ++stats_.pair_lost;
      if (Dial* d = pair_dial(*p.pkh)) {
        ++d->lost;
        d->was_up = false;
        d->since_ns = now_ns;
      }
    }
    peers_.erase(it);
    vote_.forget(sid);
    reconsider_view();
  }
  for (auto& d : dials_) {
    if (d.state == Dial::State::kUp && d.sid == sid) {
      d.state = Dial::State::kIdle;
      d.sid = 0;
      d.next_ns = now_ns + opts_.redial_ns;
      if (d.pair) pair_next_path(d, now_ns);  // at once, over the next path
    }
  }
}

void ControlEngine::on_message(std::uint32_t sid, Reader& r, std::uint64_t now_ns) {
  auto it = peers_.find(sid);
  const std::uint8_t flags = r.u8();
  codec::Hash32 digest = r.array<32>();
  ByteSpan raw = r.take(r.remaining());
  if (!r.ok()) return void(++stats_.link_corrupt);
  if (it == peers_.end() || it->second->closing) return;  // the session closed meanwhile
  Peer& p = *it->second;
  auto m = codec::decode_message(raw);
  if (!m.ok()) {
    ++stats_.undecodable;
    ++stats_.closed_misbehaved;
    p.closing = true;  // forgotten when the dataplane reports it closed
    send(link::CtlMsg::kClose, sid, encode([](Writer& w) { w.u8(1); }));
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
        Bytes body(pk.begin(), pk.end());
        std::uint8_t flags = pair_dial(*p.pkh) != nullptr ? link::kAuthPairPartner : 0;  // no per-sender allowances
        if (trusted(*p.pkh)) flags |= link::kAuthTrusted;                                 // first in line for large pushes
        if (flags != 0) body.push_back(flags);
        send(link::CtlMsg::kAuthenticated, sid, std::move(body));
        on_authenticated(sid, p);
        pair_authenticated(sid, p, now_ns_);
        break;
      }
      case Action::Kind::kClose:
        if (a.misbehaved) ++stats_.closed_misbehaved;
        if (p.pair && std::strcmp(a.reason, kNoPongReason) == 0) {
          ++stats_.pair_ping_timeouts;
          if (Dial* d = pair_dial(*p.pkh)) ++d->ping_timeouts;
          if (opts_.log) opts_.log("pair partner " + net::PeerAddress::ip(p.info.addr, p.info.port).to_string() + ": no Pong in time; dialing it again");
        }
        p.closing = true;
        send(link::CtlMsg::kClose, sid, encode([&](Writer& w) { w.u8(a.misbehaved ? 1 : 0); }));
        break;
      case Action::Kind::kNeighbors:
        ++stats_.walk_replies;
        on_neighbors(a.neighbors);
        break;
      case Action::Kind::kRequestFailed: ++stats_.walk_failures; break;
      case Action::Kind::kRelay:
        // The peer pushed before the dataplane learnt its key (it may push as soon as it
        // has our HandshakeAccept): hand the push back for the relay path.
        ++stats_.relays_handed_back;
        send(link::CtlMsg::kRelay, sid, std::move(a.bytes));
        break;
      case Action::Kind::kBurnView: adopt_view(sid, p, a.view); break;
    }
  }
}

void ControlEngine::set_view(const BurnView& v) {
  view_ = v;
  ++stats_.view_updates;
  if (!opts_.view_path.empty() && !save_burn_view(opts_.view_path, v)) ++stats_.view_save_failures;
  for (auto& [sid, p] : peers_) p->conv.set_burn_view(v);
  send(link::CtlMsg::kBurnView, 0, encode([&](Writer& w) { link::put_view(w, v); }));
}

// trusted: whether `pkh` is one of p2p.trusted_peers.
bool ControlEngine::trusted(const codec::Hash20& pkh) const noexcept {
  return std::find(opts_.trusted_pkhs.begin(), opts_.trusted_pkhs.end(), pkh) != opts_.trusted_pkhs.end();
}

// A peer's preambles carry `v`: its vote (BurnViewVote decides which view we use).
void ControlEngine::adopt_view(std::uint32_t sid, const Peer& p, const BurnView& v) {
  if (!p.pkh) return;
  // (A pair partner is as trusted as a trusted node.)
  vote_.report(sid, p.info.addr, v, p.pair || trusted(*p.pkh));
  reconsider_view();
}

void ControlEngine::reconsider_view() {
  if (auto v = vote_.decide(view_.height != 0); v && *v != view_) set_view(*v);
}

// A block push the dataplane relayed: keep its blocks (off the relay path: the
// dataplane has already forwarded it).
void ControlEngine::on_relayed(ByteSpan payload) {
  if (opts_.store == nullptr) return;
  const auto fed = store::store_push(*opts_.store, payload, push_scratch_);
  if (!fed.decoded) ++stats_.link_corrupt;
  stats_.blocks_stored += fed.stored;
  stats_.store_errors += fed.errors;
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
      return on_closed(f.session, misbehaved, now_ns);
    }
    case link::DpMsg::kConnectFailed: {
      std::uint64_t token = r.u64();
      const std::uint32_t err = r.u32();
      if (!r.ok()) break;
      if (i2p_accepts_.erase(token) != 0) {  // a STREAM ACCEPT that failed: another, a little later
        next_i2p_accept_ns_ = now_ns + 1'000'000'000ull;
        return;
      }
      if (auto it = walk_dialing_.find(token); it != walk_dialing_.end()) {
        ++stats_.walk_dial_failures;
        if (opts_.frontier != nullptr) opts_.frontier->dial_failed(it->second, wall());
        walk_dialing_.erase(it);
        fill_due_ = true;
        return;
      }
      ++stats_.dial_failures;
      if (Dial* d = dial_by_token(token); d != nullptr && d->state == Dial::State::kDialing) {
        d->state = Dial::State::kIdle;
        d->next_ns = now_ns + opts_.redial_ns;
        if (d->pair) {
          ++d->dial_failures;
          pair_next_path(*d, now_ns);
        }
        // The operator hears of a configured peer's failure once, and again if it changes.
        if (static_cast<int>(err) != d->last_err && opts_.log) {
          const auto how = how_to_reach(d->spec.addr, &d->spec);
          std::string via;
          if (how.socks5) via = " via SOCKS5 proxy " + net::PeerAddress::ip(how.socks5->addr, how.socks5->port).to_string();
          opts_.log(std::string(d->pair ? "pair partner: dial " : "dial ") + d->spec.addr.to_string() + via + " failed: " +
                    net::describe_dial_error(static_cast<int>(err)) +
                    (d->pair ? std::string("; dialing it again (over its next path, if it has one)")
                             : "; retrying every " + std::to_string(opts_.redial_ns / 1'000'000'000ull) + " s"));
        }
        d->last_err = static_cast<int>(err);
      }
      return;
    }
    case link::DpMsg::kMessage: return on_message(f.session, r, now_ns);
    case link::DpMsg::kRelayed: return on_relayed(f.payload);
    case link::DpMsg::kView: {
      auto v = link::get_view(r);
      if (!v) break;
      if (f.session == 0) {  // the dataplane's own view: its answer to our Hello (its sessions follow)
        dp_answered_ = true;
        if (view_.height == 0 && v->height != 0) {
          view_ = *v;
          for (auto& [sid, p] : peers_) p->conv.set_burn_view(*v);
        }
        return;
      }
      if (auto it = peers_.find(f.session); it != peers_.end()) adopt_view(f.session, *it->second, *v);
      return;
    }
  }
  ++stats_.link_corrupt;
}

bool ControlEngine::poll(std::uint64_t now_ns) {
  bool any = false;
  now_ns_ = now_ns;
  for (int i = 0; i < 256; ++i) {
    shm::Frag f;
    auto r = link_.in.poll(f);
    if (r == shm::RingConsumer::Poll::kEmpty) break;
    any = true;
    if (r != shm::RingConsumer::Poll::kFrag) {
      ++stats_.link_corrupt;
      continue;
    }
    on_frag(f, now_ns);
    link_.in.release();
  }
  if (now_ns >= next_tick_ns_) {
    next_tick_ns_ = now_ns + kTickNs;
    for (auto& [sid, p] : peers_) {
      actions_.clear();
      p->conv.on_tick(now_ns, actions_);
      if (!actions_.empty()) apply(sid, *p, actions_);
    }
    for (const auto& a : resolver_.take()) on_resolved(a, now_ns);
    pair_tick(now_ns);
    dial_peers(now_ns);
    walk(now_ns);
    i2p_accept_more(now_ns);
  }
  if (!to_ask_.empty()) {
    std::vector<std::uint32_t> sids;
    sids.swap(to_ask_);
    for (std::uint32_t sid : sids)
      if (auto it = peers_.find(sid); it != peers_.end()) ask_neighbors(sid, *it->second, now_ns);
  }
  any |= out_.flush();
  shm::cnc_beat(*link_.own_cnc, shm::CncState::kRun, static_cast<std::uint32_t>(::getpid()), now_ns);
  return any;
}

// ---- I2P ----------------------------------------------------------------------------

void ControlEngine::set_i2p(std::optional<net::SamBridge> session, std::uint64_t now_ns) {
  if (session) session->accept = false;
  if (session == i2p_) return;
  i2p_ = std::move(session);
  // Accepts on the old session end with it (the bridge closes them); new ones follow.
  i2p_accepts_.clear();
  next_i2p_accept_ns_ = now_ns;
  i2p_accept_more(now_ns);
  for (auto& d : dials_)  // I2P peers: dialed now
    if (d.spec.addr.kind() == net::HostKind::kI2p && d.state == Dial::State::kIdle) d.next_ns = now_ns;
}

// i2p_accept_more: keep kI2pAccepts STREAM ACCEPTs waiting on the session. Each is a
// connection the dataplane makes to the bridge; when a peer comes through one, the
// session it becomes carries the accept's token.
void ControlEngine::i2p_accept_more(std::uint64_t now_ns) {
  if (!i2p_ || now_ns < next_i2p_accept_ns_) return;
  while (i2p_accepts_.size() < kI2pAccepts) {
    net::ConnectOptions how = opts_.outbound;
    how.sam = i2p_;
    how.sam->accept = true;
    const std::uint64_t token = next_token_++;
    i2p_accepts_.insert(token);
    send_connect(token, net::PeerAddress::ip(i2p_->addr, i2p_->port), how);  // to the bridge itself
  }
}

// ---- the frontier -------------------------------------------------------------------

void ControlEngine::on_authenticated(std::uint32_t sid, Peer& p) {
  if (opts_.frontier == nullptr || !p.conv.peer_key()) return;
  // The table holds IP peers: not an onion or I2P session, nor a peer dialed by name
  // through a proxy (its address is not known here).
  const bool ip_peer = p.info.via == link::Via::kDirect && !net::is_unspecified(p.info.addr);
  const auto pk = p.conv.peer_key()->compressed();
  const auto& hs = p.conv.peer_handshake();
  const std::uint32_t net = opts_.local->network_id;
  if (p.info.outbound) {
    // We reached it: the row (the one the walk dialed, or the address a configured
    // peer resolved to) is fresh, with the key it proved.
    const frontier::PeerKey key = p.table_key ? *p.table_key : frontier::PeerKey{net, p.info.addr, p.info.port};
    if (ip_peer)
      opts_.frontier->contacted(key, pk, p.conv.peer_version(), hs ? hs->services : 0,
                                hs ? hs->expire_block_height : 0, wall());
    if (opts_.walk) to_ask_.push_back(sid);  // a walk step: what does it know?
    return;
  }
  if (!ip_peer) return;
  // An inbound peer told us where it listens: worth dialing later (it becomes fresh,
  // and is advertised, only once we have reached it ourselves).
  if (!hs || hs->port == 0) return;
  const codec::Addr16 addr = net::is_unspecified(hs->addrbytes) ? p.info.addr : hs->addrbytes;
  opts_.frontier->learn(frontier::PeerKey{net, addr, hs->port}, *p.pkh, wall());
}

void ControlEngine::on_neighbors(const std::vector<codec::NeighborAddress>& list) {
  if (opts_.frontier == nullptr) return;
  const std::int64_t now_s = wall();
  for (const auto& n : list) {
    if (n.public_key_hash == our_pkh_) continue;
    const frontier::PeerKey key{opts_.local->network_id, n.addrbytes, n.port};
    if (opts_.frontier->learn(key, n.public_key_hash, now_s) == frontier::Frontier::Learn::kAdded) ++stats_.walk_learned;
  }
  fill_due_ = true;
}

void ControlEngine::ask_neighbors(std::uint32_t sid, Peer& p, std::uint64_t now_ns) {
  if (p.closing) return;
  actions_.clear();
  if (!p.conv.request_neighbors(now_ns, actions_)) return;
  ++stats_.walk_asks;
  apply(sid, p, actions_);
}

// walk: every walk_interval one authenticated peer is asked for its neighbors (outbound
// ones are asked as soon as they authenticate); every second, and whenever the table
// or the sessions changed, the outbound count is topped up from the table.
void ControlEngine::walk(std::uint64_t now_ns) {
  if (opts_.frontier == nullptr) return;
  if (now_ns >= next_sample_ns_) {
    next_sample_ns_ = now_ns + kSampleNs;
    neighbor_sample_ = opts_.frontier->sample(kMaxNeighbors, wall(), view_.height,
                                              frontier::network_epoch_at(opts_.local->network_id, view_.height));
    std::erase_if(neighbor_sample_, [&](const codec::NeighborAddress& n) { return !family_allowed(n.addrbytes); });
  }
  if (now_ns >= next_flush_ns_) {
    next_flush_ns_ = now_ns + kFlushNs;
    (void)opts_.frontier->flush();  // failures are counted in the frontier's stats
  }
  if (now_ns >= next_bootstrap_ns_) {
    next_bootstrap_ns_ = now_ns + kBootstrapNs;
    // (Not with a proxy: a name would be resolved outside it. Bootstrap IPs still count.)
    for (const auto& b : opts_.bootstrap)
      if (b.addr.is_ip() || (b.addr.kind() == net::HostKind::kName && !opts_.proxy))
        resolver_.request(b.addr.host());  // an IP literal is answered at once
  }
  if (!opts_.walk) return;
  if (now_ns >= next_ask_ns_) {
    next_ask_ns_ = now_ns + opts_.walk_interval_ns;
    std::vector<std::uint32_t> ready;
    for (const auto& [sid, p] : peers_)
      if (p->pkh && !p->closing && !p->conv.neighbors_pending()) ready.push_back(sid);
    if (!ready.empty()) {
      std::uint32_t pick = 0;
      crypto::fill_random(reinterpret_cast<std::uint8_t*>(&pick), sizeof pick);
      const std::uint32_t sid = ready[pick % ready.size()];
      ask_neighbors(sid, *peers_[sid], now_ns);
    }
  }
  if (fill_due_ || now_ns >= next_fill_ns_) {
    fill_due_ = false;
    next_fill_ns_ = now_ns + kFillNs;
    fill_outbound();
  }
}

// fill_outbound: dial table peers until target_outbound sessions are up or being dialed.
void ControlEngine::fill_outbound() {
  std::size_t outbound = outbound_sessions() + walk_dialing_.size();
  for (const auto& [sid, p] : peers_) outbound -= p->pair && p->info.outbound && !p->closing;  // not counted
  for (const auto& d : dials_) outbound += !d.pair && (d.state == Dial::State::kDialing || d.state == Dial::State::kResolving);
  const std::size_t target = std::min(opts_.target_outbound, opts_.max_outbound);
  if (outbound >= target) return;
  // Already talking to it (either direction), or about to.
  std::set<frontier::PeerKey> busy_keys;
  std::set<codec::Hash20> busy_pkhs;
  const std::uint32_t net = opts_.local->network_id;
  for (const auto& [sid, p] : peers_) {
    if (p->closing) continue;
    if (p->info.outbound) busy_keys.insert(p->table_key ? *p->table_key : frontier::PeerKey{net, p->info.addr, p->info.port});
    if (p->pkh) busy_pkhs.insert(*p->pkh);
  }
  for (const auto& [token, key] : walk_dialing_) busy_keys.insert(key);
  for (const auto& d : dials_)
    if (d.addr) busy_keys.insert(frontier::PeerKey{net, *d.addr, d.spec.addr.port()});
  auto busy = [&](const frontier::PeerRow& r) {
    return busy_keys.count(r.key) != 0 || (r.pkh != codec::Hash20{} && busy_pkhs.count(r.pkh) != 0) ||
           !family_allowed(r.key.addr) ||
           (r.key.addr == opts_.local->addrbytes && r.key.port == opts_.local->port);
  };
  const auto picks = opts_.frontier->dial_candidates(std::min(target - outbound, kMaxDialsPerFill), wall(), our_pkh_, busy);
  for (const auto& r : picks) {
    const std::uint64_t token = next_token_++;
    walk_dialing_[token] = r.key;
    ++stats_.walk_dials;
    connect(token, net::PeerAddress::ip(r.key.addr, r.key.port));
  }
}

// ---- the pair -----------------------------------------------------------------------

const ControlEngine::Peer* ControlEngine::pair_session(const codec::Hash20& pkh) const {
  for (const auto& [sid, p] : peers_)
    if (p->pair && !p->closing && *p->pkh == pkh) return p.get();
  return nullptr;
}

ControlEngine::Dial* ControlEngine::pair_dial(const codec::Hash20& pkh) {
  for (auto& d : dials_)
    if (d.pair && d.pkh == pkh) return &d;
  return nullptr;
}

// pair_next_path: the partner's session failed or ended: dial it again at once over its
// next path; once every path has failed in a row, wait pair_redial_ns first.
void ControlEngine::pair_next_path(Dial& d, std::uint64_t now_ns) {
  d.path = (d.path + 1) % d.paths.size();
  d.next_ns = d.path == 0 ? now_ns + opts_.pair_redial_ns : now_ns;
}

// pair_authenticated: a session proved it is a pair partner (whichever side dialed). It
// is kept alive with pings, trusted, and never banned; of two sessions with the same
// partner, the one dialed by the smaller key stays (both relays decide the same).
void ControlEngine::pair_authenticated(std::uint32_t sid, Peer& p, std::uint64_t now_ns) {
  Dial* d = p.pkh ? pair_dial(*p.pkh) : nullptr;
  if (d == nullptr) return;
  p.pair = true;
  p.configured = true;
  p.conv.set_liveness(opts_.pair_ping_interval_ns, opts_.pair_ping_timeout_ns);
  if (const auto& hs = p.conv.peer_handshake(); hs && !hs->data_url.empty()) d->data_url = hs->data_url;
  ++stats_.pair_sessions;
  ++d->sessions;
  for (auto& [other_sid, o] : peers_) {
    if (other_sid == sid || !o->pair || o->closing || *o->pkh != *p.pkh) continue;
    bool keep_new;
    if (o->info.outbound == p.info.outbound) {
      keep_new = true;  // the same direction twice: the older one is stale
    } else {
      const auto ours = opts_.local->key.public_key().compressed();
      const auto theirs = p.conv.peer_key()->compressed();
      const bool we_are_smaller = std::lexicographical_compare(ours.begin(), ours.end(), theirs.begin(), theirs.end());
      keep_new = p.info.outbound == we_are_smaller;  // the new one was dialed by the smaller key
    }
    Peer& loser = keep_new ? *o : p;
    const std::uint32_t loser_sid = keep_new ? other_sid : sid;
    loser.superseded = true;
    loser.closing = true;
    ++stats_.pair_duplicates;
    send(link::CtlMsg::kClose, loser_sid, encode([](Writer& w) { w.u8(0); }));
    if (!keep_new) return;  // the partner was already up
  }
  if (!d->was_up && opts_.log)
    opts_.log("pair partner " + net::PeerAddress::ip(p.info.addr, p.info.port).to_string() + " up (" + (p.info.outbound ? "we dialed" : "it dialed") + ")");
  d->was_up = true;
  d->since_ns = now_ns;
}

// pair_tick: each partner is asked for its neighbors every pair_neighbors_ns, so the
// survivor of a pair knows (and its walk can reach) the peers the other had.
void ControlEngine::pair_tick(std::uint64_t now_ns) {
  if (opts_.pairs.empty() || now_ns < next_pair_ask_ns_) return;
  next_pair_ask_ns_ = now_ns + opts_.pair_neighbors_ns;
  for (auto& [sid, p] : peers_)
    if (p->pair && !p->closing && !p->conv.neighbors_pending()) ask_neighbors(sid, *p, now_ns);
}

std::vector<PairView> ControlEngine::pairs_view(std::uint64_t now_ns) const {
  std::vector<PairView> out;
  for (const auto& d : dials_) {
    if (!d.pair) continue;
    PairView v;
    v.key = d.spec.pinned->compressed();
    v.paths = d.paths.size();
    v.path = d.paths[d.path].addr.to_string();
    v.data_url = d.data_url;
    for (const auto& path : d.paths)
      if (!path.http.empty()) v.data_url = path.http;  // the operator's word over the handshake's
    if (const Peer* p = pair_session(d.pkh)) {
      v.up = true;
      v.outbound = p->info.outbound;
      v.rtt_ns = p->conv.last_rtt_ns();
      if (p->info.outbound) v.path = d.spec.addr.to_string();
    }
    v.since_ns = d.since_ns != 0 && now_ns > d.since_ns ? now_ns - d.since_ns : 0;
    v.sessions = d.sessions;
    v.lost = d.lost;
    v.ping_timeouts = d.ping_timeouts;
    v.dial_failures = d.dial_failures;
    out.push_back(std::move(v));
  }
  return out;
}

NeighborsView ControlEngine::neighbors_view() const {
  NeighborsView v;
  const std::int64_t now_s = wall();
  const std::uint32_t net = opts_.local != nullptr ? opts_.local->network_id : 0;
  if (opts_.frontier != nullptr) {
    v.table_size = opts_.frontier->size();
    v.bans_in_force = opts_.frontier->bans_in_force(now_s);
    for (const auto& r : opts_.frontier->rows()) {
      if (!r.initial) continue;
      v.bootstrap.push_back(NeighborEntry{r.key.network_id, r.peer_version, r.key.addr, r.key.port, r.pkh, false,
                                          r.last_contact_s != 0 ? now_s - r.last_contact_s : -1});
    }
    for (const auto& n : neighbor_sample_) {
      NeighborEntry e{net, 0, n.addrbytes, n.port, n.public_key_hash, false, -1};
      if (const auto* r = opts_.frontier->find(frontier::PeerKey{net, n.addrbytes, n.port})) {
        e.peer_version = r->peer_version;
        e.age_s = r->last_contact_s != 0 ? now_s - r->last_contact_s : -1;
      }
      v.sample.push_back(e);
    }
  }
  for (const auto& [sid, p] : peers_) {
    if (p->closing) continue;
    NeighborEntry e{net, p->conv.peer_version(), p->info.addr, p->info.port, p->pkh.value_or(codec::Hash20{}),
                    p->pkh.has_value(), -1};
    (p->info.outbound ? v.outbound : v.inbound).push_back(e);
  }
  return v;
}

}  // namespace relay::ctl
