// dataplane/engine/relay_engine_impl.hpp — RelayEngine's template definitions.
#pragma once

#include <cstring>

namespace relay::dp {

template <Transport T>
RelayEngine<T>::RelayEngine(T& transport, EngineOptions opts)
    : t_(transport), opts_(std::move(opts)), dedup_(opts_.dedup_depth, [] {
        std::uint64_t seed = 0;
        crypto::fill_random(reinterpret_cast<std::uint8_t*>(&seed), sizeof seed);
        return seed;
      }()) {
  auto pk = opts_.local->key.public_key().compressed();
  our_pkh_ = crypto::hash160(ByteSpan(pk.data(), pk.size()));
  self_.peer.addrbytes = opts_.local->addrbytes;
  self_.peer.port = opts_.local->port;
  self_.peer.public_key_hash = our_pkh_;
  self_.seq = 0;  // as stacks-core's sign_relay
}

template <Transport T>
RelayEngine<T>::~RelayEngine() {
  for (auto& [c, s] : sessions_)
    while (auto p = s->pacer.next()) reinterpret_cast<SharedBuf*>(p->handle)->unref();
}

template <Transport T>
std::size_t RelayEngine<T>::authenticated_sessions() const {
  std::size_t n = 0;
  for (const auto& [c, s] : sessions_) n += s->peer_pkh.has_value();
  return n;
}

template <Transport T>
Result<ConnId> RelayEngine<T>::dial(const sockaddr_in6& addr, std::optional<crypto::PublicKey> pinned) {
  auto c = t_.connect(addr);
  if (c.ok()) dialing_[*c] = pinned;
  return c;
}

template <Transport T>
void RelayEngine<T>::arm_forward(Session& s) {
  codec::ForwardTemplate ft;
  ft.preamble.peer_version = opts_.local->peer_version;
  ft.preamble.network_id = opts_.local->network_id;
  crypto::fill_random(reinterpret_cast<std::uint8_t*>(&ft.preamble.seq), sizeof ft.preamble.seq);
  ft.preamble.burn_block_height = opts_.view.height;
  ft.preamble.burn_block_hash = opts_.view.hash;
  ft.preamble.burn_stable_block_height = opts_.view.stable_height;
  ft.preamble.burn_stable_block_hash = opts_.view.stable_hash;
  ft.self = self_;
  s.framer.set_forward(ft);
}

template <Transport T>
void RelayEngine<T>::new_session(ConnId c, bool outbound, std::uint64_t now_ns, std::optional<crypto::PublicKey> pinned) {
  auto s = std::make_unique<Session>(c, opts_, outbound, now_ns, pinned);
  s->conv.set_burn_view(opts_.view);
  arm_forward(*s);
  actions_.clear();
  s->conv.start(now_ns, actions_);
  Session& ref = *s;
  sessions_[c] = std::move(s);
  apply(ref, actions_);
}

template <Transport T>
void RelayEngine<T>::send_now(Session& s, ByteSpan bytes) {
  SharedBuf* b = SharedBuf::make(bytes);
  if (b == nullptr) return;
  (void)t_.send(s.conn, b, 0);  // a full queue closes nothing: the conversation retries by timer
  b->unref();
}

template <Transport T>
void RelayEngine<T>::drain(Session& s) {
  while (s.inflight < opts_.max_inflight_sends) {
    auto p = s.pacer.next();
    if (!p) break;
    auto* buf = reinterpret_cast<SharedBuf*>(p->handle);
    if (t_.send(s.conn, buf, p->handle).ok()) ++s.inflight;
    buf->unref();  // the transport holds its own reference now
  }
}

template <Transport T>
bool RelayEngine<T>::validate_and_dedup(const codec::Message& m) {
  using namespace relay::codec;
  std::vector<Hash32> ids;
  switch (payload_id(m.payload)) {
    case MsgId::kTransaction: {
      const auto& tx = std::get<Transaction>(m.payload).tx;
      if (!validate::verify_transaction(tx).ok) return ++stats_.invalid, false;
      ids.push_back(tx.txid);
      break;
    }
    case MsgId::kNakamotoBlocks: {
      if (opts_.reward_set.empty()) return ++stats_.no_reward_set, false;
      for (const auto& b : std::get<NakamotoBlocks>(m.payload).blocks) {
        if (!validate::verify_signer_signatures(b, opts_.reward_set).ok) return ++stats_.invalid, false;
        ids.push_back(b.block_id);
      }
      break;
    }
    case MsgId::kStackerDBPushChunk:
      ids.push_back(crypto::sha512_256(std::get<StackerDBPushChunk>(m.payload).chunk.data));
      break;
    case MsgId::kBlocks:
      for (const auto& b : std::get<Blocks>(m.payload).blocks) ids.push_back(block_index_hash(b.block.block_hash, b.consensus_hash));
      break;
    case MsgId::kMicroblocks:
      for (const auto& mb : std::get<Microblocks>(m.payload).microblocks) ids.push_back(mb.block_hash);
      break;
    default: {  // BlocksAvailable / MicroblocksAvailable: the body's hash
      Bytes body = encode_body({}, m.payload);
      ids.push_back(crypto::sha512_256(body));
      break;
    }
  }
  bool any_new = false;
  for (const auto& id : ids) any_new |= dedup_.insert(id);
  if (!any_new) ++stats_.dup;
  return any_new;
}

template <Transport T>
void RelayEngine<T>::relay(Session& from, const codec::Message& m) {
  auto prio = policy::push_priority(codec::payload_id(m.payload), opts_.relay_2x);
  if (!prio) return void(++stats_.not_relayed_type);
  switch (policy::check_relayers(m.relayers, our_pkh_)) {
    case policy::RelayersVerdict::kOk: break;
    case policy::RelayersVerdict::kContainsUs: return void(++stats_.relayers_rejected);  // came back round
    default:  // a cycle: a node would drop this peer too
      ++stats_.relayers_rejected;
      ++stats_.sessions_closed_misbehaved;
      t_.close(from.conn);
      return;
  }
  if (!policy::can_append_self(m.relayers) || !from.framer.forward_digest()) return void(++stats_.relayers_rejected);
  if (opts_.view.height == 0) return void(++stats_.no_burn_view);  // every node would refuse our preamble
  if (!validate_and_dedup(m)) return;

  // Sign once: the forward digest was computed while the bytes arrived — unless our burn
  // view moved since this message started, then the forward is rebuilt and hashed now.
  Bytes fwd;
  const codec::Preamble& used = from.framer.forward_template().preamble;
  if (used.burn_block_height == opts_.view.height && used.burn_block_hash == opts_.view.hash) {
    from.framer.write_forward(fwd, opts_.local->key.sign(*from.framer.forward_digest()));
  } else {
    codec::Message out = m;
    out.preamble = used;
    out.preamble.burn_block_height = opts_.view.height;
    out.preamble.burn_block_hash = opts_.view.hash;
    out.preamble.burn_stable_block_height = opts_.view.stable_height;
    out.preamble.burn_stable_block_hash = opts_.view.stable_hash;
    out.relayers.push_back(self_);
    fwd = validate::sign_message(out, opts_.local->key);
  }
  SharedBuf* buf = SharedBuf::make(fwd);
  if (buf == nullptr) return;
  std::vector<codec::RelayData> after = m.relayers;
  after.push_back(self_);
  const codec::Hash20 sender = from.peer_pkh.value_or(codec::Hash20{});
  for (auto& [c, s] : sessions_) {
    if (s.get() == &from || !s->peer_pkh || !policy::may_send_to(after, *s->peer_pkh, sender)) continue;
    buf->ref();  // the pacer's reference
    auto r = s->pacer.admit({reinterpret_cast<std::uint64_t>(buf), *prio});
    if (r.dropped) {
      reinterpret_cast<SharedBuf*>(r.dropped->handle)->unref();
      ++stats_.pacer_dropped_tx;
    }
    if (r.result == policy::SessionPacer::Admit::kRefused) {
      buf->unref();
      ++stats_.pacer_refused;
      continue;
    }
    ++stats_.fanout_sends;
    drain(*s);
  }
  buf->unref();
  ++stats_.relayed;
}

template <Transport T>
void RelayEngine<T>::apply(Session& s, std::vector<ctl::Action>& actions) {
  for (auto& a : actions) {
    switch (a.kind) {
      case ctl::Action::Kind::kSend: send_now(s, a.bytes); break;
      case ctl::Action::Kind::kAuthenticated: {
        auto pk = a.key->compressed();
        s.peer_pkh = crypto::hash160(ByteSpan(pk.data(), pk.size()));
        break;
      }
      case ctl::Action::Kind::kClose:
        if (a.misbehaved) ++stats_.sessions_closed_misbehaved;
        t_.close(s.conn);
        break;
      case ctl::Action::Kind::kRelay: break;  // handled by the caller with the decoded message
      case ctl::Action::Kind::kBurnView: adopt_view(s, a.view); break;
    }
  }
}

// Our preambles carry the newest burn view a trusted node reported; until one has, the
// first authenticated peer's view is better than none (a zero view fails every node's
// preamble check). Every conversation signs with the new view at once; the forward
// template picks it up with the next message.
template <Transport T>
void RelayEngine<T>::adopt_view(const Session& s, const ctl::BurnView& v) {
  if (!s.peer_pkh || v == opts_.view) return;
  bool trusted = false;
  for (const auto& t : opts_.trusted_pkhs) trusted |= t == *s.peer_pkh;
  const bool bootstrap = opts_.view.height == 0 && !view_from_trusted_;
  const bool newer_trusted = trusted && (v.height > opts_.view.height || !view_from_trusted_);
  if (!bootstrap && !newer_trusted) return;
  opts_.view = v;
  view_from_trusted_ |= trusted;
  ++stats_.burn_view_updates;
  for (auto& [c, other] : sessions_) {
    other->conv.set_burn_view(v);
    arm_forward(*other);  // messages whose relayers have not arrived yet use the new view
  }
}

template <Transport T>
void RelayEngine<T>::drop_session(ConnId c) {
  auto it = sessions_.find(c);
  if (it == sessions_.end()) return;
  while (auto p = it->second->pacer.next()) reinterpret_cast<SharedBuf*>(p->handle)->unref();
  sessions_.erase(it);
}

template <Transport T>
void RelayEngine<T>::on_event(const Event& e, std::uint64_t now_ns) {
  switch (e.kind) {
    case EventKind::kAccepted: new_session(e.conn, false, now_ns, std::nullopt); break;
    case EventKind::kConnected: {
      std::optional<crypto::PublicKey> pinned;
      if (auto it = dialing_.find(e.conn); it != dialing_.end()) {
        pinned = it->second;
        dialing_.erase(it);
      }
      new_session(e.conn, true, now_ns, pinned);
      break;
    }
    case EventKind::kConnectFailed: dialing_.erase(e.conn); break;
    case EventKind::kClosed: drop_session(e.conn); break;
    case EventKind::kSent: {
      auto it = sessions_.find(e.conn);
      if (it != sessions_.end() && e.user != 0) {
        --it->second->inflight;
        drain(*it->second);
      }
      break;
    }
    case EventKind::kData: {
      auto it = sessions_.find(e.conn);
      if (it == sessions_.end()) break;
      Session& s = *it->second;
      ByteSpan d = e.data;
      while (!d.empty()) {
        std::size_t used = s.framer.feed(d);
        d = d.subspan(used);
        if (s.framer.state() == codec::Framer::State::kError) {
          ++stats_.framing_errors;
          ++stats_.sessions_closed_misbehaved;
          t_.close(s.conn);
          break;
        }
        if (s.framer.state() != codec::Framer::State::kDone) continue;
        Bytes raw(s.framer.preamble_bytes().begin(), s.framer.preamble_bytes().end());
        raw.insert(raw.end(), s.framer.body().begin(), s.framer.body().end());
        codec::Message m;
        m.preamble = s.framer.preamble();
        auto st = codec::decode_body(s.framer.body(), m.relayers, m.payload, codec::kPreambleSize);
        if (!st.ok()) {
          ++stats_.sessions_closed_misbehaved;
          t_.close(s.conn);
          break;
        }
        actions_.clear();
        s.conv.on_message(raw, m, now_ns, actions_, &s.framer.verify_digest());  // streamed: not hashed again
        bool push = false, closing = false;
        for (auto& a : actions_) {
          push |= a.kind == ctl::Action::Kind::kRelay;
          closing |= a.kind == ctl::Action::Kind::kClose;
        }
        apply(s, actions_);
        if (push && !closing) relay(s, m);
        if (closing) break;
        s.framer.next();
        arm_forward(s);  // a fresh random seq for the next message we may forward
      }
      break;
    }
  }
}

template <Transport T>
void RelayEngine<T>::run_once(std::uint64_t now_ns, int timeout_ms) {
  Event evs[64];
  std::size_t n = t_.poll(evs, timeout_ms);
  for (std::size_t i = 0; i < n; ++i) {
    on_event(evs[i], now_ns);
    if (evs[i].kind == EventKind::kData) t_.release(evs[i]);
  }
  for (auto& [c, s] : sessions_) {
    actions_.clear();
    s->conv.on_tick(now_ns, actions_);
    if (!actions_.empty()) apply(*s, actions_);
  }
}

}  // namespace relay::dp
