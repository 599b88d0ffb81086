// dataplane/engine/relay_engine_impl.hpp — RelayEngine's definitions (a template: the
// transport and the fanout policy are chosen at compile time, no virtual call per packet).
#pragma once

namespace relay::dp {

namespace detail {
inline std::uint64_t random_u64() noexcept {
  std::uint64_t v = 0;
  crypto::fill_random(reinterpret_cast<std::uint8_t*>(&v), sizeof v);
  return v;
}
}  // namespace detail

template <Transport T, class F>
RelayEngine<T, F>::RelayEngine(T& transport, link::Ends link, DpOptions opts)
    : t_(transport),
      opts_(std::move(opts)),
      port_(link),
      c_(link.counters),
      path_({opts_.key, opts_.net, opts_.addrbytes, opts_.port, opts_.relay_2x, opts_.hide_relayer_addresses}, opts_.dedup_depth, detail::random_u64(),
            opts_.reserve_largest_push ? validate::PushCheck::Reserve::kLargestPush : validate::PushCheck::Reserve::kOnDemand),
      streams_(opts_.stream_checkers, opts_.stream_thread, opts_.reserve_largest_push),
      rx_pool_([&]() -> std::unique_ptr<BufPool> {
        if (opts_.rx_pool.empty()) return nullptr;
        auto p = BufPool::create(opts_.rx_pool);
        return p.ok() ? std::move(*p) : nullptr;  // without it large bodies grow session buffers
      }()),
      rx_bodies_(rx_pool_.get(), opts_.rx_budget),
      sessions_(opts_.max_sessions, opts_.max_conns, opts_.pacer_budget, &rx_bodies_, opts_.rx_own_bytes) {
  waiting_.reserve(opts_.max_sessions);
  // A block's signer signatures are recovered on both threads (in order without one).
  path_.set_parallel(&streams_.board());
  if (opts_.second_thread_cpu) pin_error_ = streams_.pin(*opts_.second_thread_cpu);
  resign_old_.reserve(opts_.max_sessions * opts_.pacer_budget);
  resign_new_.reserve(opts_.max_sessions * opts_.pacer_budget);
}

// Messages still arriving let go of their stream checkers (the second thread leaves each
// first) and of the forwards being written as they land, before the session table and
// the receive pool those point into are gone.
template <Transport T, class F>
RelayEngine<T, F>::~RelayEngine() {
  for (Session* s : sessions_) s->arrival.end(streams_);
}

template <Transport T, class F>
void RelayEngine<T, F>::start(std::uint64_t incarnation) {
  port_.hello(incarnation);
  port_.beat(shm::monotonic_ns());
}

template <Transport T, class F>
void RelayEngine<T, F>::run_once(std::uint64_t now_ns, int timeout_ms) {
  now_ns_ = now_ns;
  port_.poll(*this);
  Event evs[64];
  const std::size_t n = t_.poll(evs, timeout_ms);
  if (n != 0) rx_ns_ = shm::monotonic_ns();  // what arrived in this batch arrived by now
  for (std::size_t i = 0; i < n; ++i) {
    const bool kept = on_event(evs[i]);
    if (evs[i].kind == EventKind::kData && !kept) t_.release(evs[i]);
    // The heartbeat says the loop is alive, message by message: a batch of heavy
    // messages is throughput, not a hang (the supervisor kills a loop that stops).
    if (i + 1 < n) port_.beat(now_ns + (shm::monotonic_ns() - rx_ns_));  // on the caller's clock
  }
  port_.poll(*this);
  if (rx_bodies_.freed()) resume_waiting();
  if (large_hold_until_ns_ != 0 && now_ns >= large_hold_until_ns_) dispatch_large();  // the hold ran out
  c_->rx_heap_bodies.store(rx_bodies_.heap_bodies(), std::memory_order_relaxed);
  c_->rx_heap_bytes.store(rx_bodies_.heap_bytes(), std::memory_order_relaxed);
  if (now_ns >= next_sweep_ns_) {
    next_sweep_ns_ = now_ns + 1'000'000'000ull;
    sweep(now_ns);
  }
  c_->sig_checks_helped.store(streams_.board().helped_items(), std::memory_order_relaxed);
  c_->sig_checks_waited_ns.store(streams_.board().waited_ns(), std::memory_order_relaxed);
  port_.beat(now_ns);
}

// ---- transport side ------------------------------------------------------------------

template <Transport T, class F>
bool RelayEngine<T, F>::on_event(const Event& e) {
  switch (e.kind) {
    case EventKind::kAccepted:
    case EventKind::kConnected: {
      link::SessionInfo info;
      info.outbound = e.kind == EventKind::kConnected;
      const net::PeerAddress a = t_.remote(e.conn);
      info.addr = a.addr();  // zero for a name (a peer reached through a proxy)
      info.port = a.port();
      if (info.outbound) info.via = a.kind() == net::HostKind::kOnion ? link::Via::kOnion
                                    : a.kind() == net::HostKind::kI2p ? link::Via::kI2p
                                                                      : link::Via::kDirect;
      else info.via = e.user <= link::kMaxVia ? static_cast<link::Via>(e.user) : link::Via::kDirect;
      if (auto it = dialing_.find(e.conn); it != dialing_.end()) {
        // Accepted on a connection we made: a peer that came through an I2P SAM bridge's
        // STREAM ACCEPT (the control plane asked for it with that token).
        info.dial_token = it->second;
        if (!info.outbound) info.via = link::Via::kI2p;
        dialing_.erase(it);
      }
      new_session(e.conn, info);
      break;
    }
    case EventKind::kConnectFailed: {
      std::uint64_t token = 0;
      if (auto it = dialing_.find(e.conn); it != dialing_.end()) {
        token = it->second;
        dialing_.erase(it);
      }
      port_.connect_failed(token, static_cast<std::uint32_t>(e.err));
      break;
    }
    case EventKind::kClosed: forget_session(e.conn, e.err); break;
    case EventKind::kSent:
      if (Session* s = sessions_.by_conn(e.conn); s != nullptr && e.user != 0) {
        --s->inflight;
        const bool large = (s->large_bits & 1) != 0;  // (a connection's sends complete in order)
        s->large_bits >>= 1;
        s->last_tx_ns = now_ns_;
        if (large) {
          --large_busy_;
          hold_slots(now_ns_ - s->large_since_ns);
          if (s->large_bits != 0) {  // the next one's clocks
            s->large_deadline_ns = large_deadline(opts_.large_push_bytes);
            s->large_since_ns = now_ns_;
          }
        }
        drain(*s);
        dispatch_large();  // (a slot came free, or one granted found its send refused)
      }
      break;
    case EventKind::kData:
      if (Session* s = sessions_.by_conn(e.conn); s != nullptr) {
        s->last_rx_ns = now_ns_;
        return on_data(*s, e);
      }
      break;
  }
  return false;
}

template <Transport T, class F>
void RelayEngine<T, F>::new_session(ConnId c, link::SessionInfo info) {
  // Inbound sessions stop short of the slots kept for the control plane's dials.
  Session* s = !info.outbound && inbound_live_ >= opts_.max_inbound ? nullptr : sessions_.open(c, info);
  if (s == nullptr) {  // the table is full (or the transport's id is out of range)
    bump(info.outbound || inbound_live_ < opts_.max_inbound ? c_->sessions_refused_full : c_->inbound_refused_reserved);
    t_.close(c);
    // A dial of the control plane's failed: it must hear so, or it waits for it forever.
    if (info.outbound) port_.connect_failed(info.dial_token, ENOBUFS);
    return;
  }
  s->framer.set_body_limit(opts_.rx_preauth_bytes);  // until the control plane knows the peer
  s->last_rx_ns = s->last_tx_ns = now_ns_;
  inbound_live_ += !info.outbound;
  F::arm(s->framer, path_);
  bump(c_->sessions_opened);
  track_path(*s, false);
  count_sessions();
  port_.opened(s->sid, info);
}

template <Transport T, class F>
void RelayEngine<T, F>::track_path(Session& s, bool closing) noexcept {
  if constexpr (PathAware<T>) {
    using Kind = PathState::Kind;
    const PathState before = s.path;
    const PathState now = closing ? PathState{} : t_.path_state(s.conn);
    if (before.kind == Kind::kMptcp) {
      c_->mptcp_sessions.fetch_sub(1, std::memory_order_relaxed);
      c_->mptcp_subflows.fetch_sub(before.subflows, std::memory_order_relaxed);
    }
    if (now.kind == Kind::kMptcp) {
      c_->mptcp_sessions.fetch_add(1, std::memory_order_relaxed);
      c_->mptcp_subflows.fetch_add(now.subflows, std::memory_order_relaxed);
      // A path came or went: subflows opened or closed since the last sample.
      if (before.kind == Kind::kMptcp && now.subflows != before.subflows)
        bump(c_->mptcp_subflow_changes, now.subflows > before.subflows ? now.subflows - before.subflows
                                                                         : before.subflows - now.subflows);
    }
    if (now.kind == Kind::kFallback && before.kind != Kind::kFallback) bump(c_->mptcp_fallbacks);
    if (!closing) s.path = now;
  }
}

template <Transport T, class F>
void RelayEngine<T, F>::close_session(Session& s, const char* why, bool misbehaved) {
  if (s.closing) return;
  s.closing = true;
  s.why = why;
  s.misbehaved = misbehaved;
  t_.close(s.conn);  // kClosed follows; the control plane hears of it then
}

template <Transport T, class F>
void RelayEngine<T, F>::forget_session(ConnId c, int err) {
  Session* s = sessions_.by_conn(c);
  if (s == nullptr) return;
  const char* why = s->closing ? s->why : (err == 0 ? "peer closed the connection" : std::strerror(err));
  port_.closed(s->sid, s->misbehaved, why);
  inbound_live_ -= !s->info.outbound;
  track_path(*s, true);
  s->path = {};
  s->arrival.end(streams_);
  // Its large-send slots are free again (the waiting list drops its sid by itself).
  const auto held = static_cast<std::uint32_t>(std::popcount(s->large_bits)) + (s->large_granted ? 1u : 0u);
  s->large_bits = 0;
  s->large_granted = s->large_waiting = false;
  sessions_.close(*s);
  if (held != 0) {
    large_busy_ -= held;
    dispatch_large();
  }
  bump(c_->sessions_closed);
  count_sessions();
}

template <Transport T, class F>
void RelayEngine<T, F>::count_out(ByteSpan msg) noexcept {
  if (msg.size() < codec::kPreambleSize + 4) return;
  const std::size_t t = payload_type(msg.subspan(codec::kPreambleSize), load_be32(msg.data() + codec::kPreambleSize));
  if (t == link::kMsgTypes) return;
  bump(c_->msgs_out_by_type[t]);
  bump(c_->bytes_out_by_type[t], msg.size());
}

// send_now: a control-plane message (a reply, a handshake): not paced; a full transport
// queue is retried by the control plane's timers.
template <Transport T, class F>
void RelayEngine<T, F>::send_now(Session& s, ByteSpan bytes) {
  SharedBuf* b = t_.alloc(bytes.size());
  if (b == nullptr) return;
  if (!bytes.empty()) std::memcpy(b->fill().data(), bytes.data(), bytes.size());
  if (t_.send(s.conn, b, 0).ok()) count_out(bytes);
  b->unref();
}

// drain: pushes waiting in the session's pacer go to the transport, up to
// max_inflight_sends at a time.
// A large push (large_sends_at_once) goes only with a slot: without one the session
// joins the waiting list and sends nothing more until dispatch_large() grants it one.
template <Transport T, class F>
void RelayEngine<T, F>::drain(Session& s) {
  if (s.inflight == 0) s.last_tx_ns = now_ns_;  // the write clock runs while something is outstanding
  const std::uint32_t window = send_window();
  while (s.inflight < window) {
    const policy::QueuedPush* front = s.pacer.peek();
    if (front == nullptr) break;
    const bool large = is_large(*front);
    if (large && !s.large_granted) {
      if (!s.large_waiting) {
        s.large_waiting = true;
        if constexpr (RttAware<T>) s.rtt_us = t_.rtt_us(s.conn);
        s.large_order = front->order;
        large_waiting_.push_back(s.sid);
        bump(c_->large_sends_waited);
      }
      break;
    }
    SharedBuf* buf = buf_of(*s.pacer.next());
    if (!send_paced(s, buf, large) && large) {
      s.large_granted = false;  // (not sent: the slot goes to the next)
      --large_busy_;
    }
    buf->unref();  // the transport holds its own reference now
  }
  // A grant whose large push is gone (a chunk dropped from the pacer to make room): the
  // slot goes back (the caller dispatches it).
  if (s.large_granted && !has_large(s)) {
    s.large_granted = false;
    --large_busy_;
  }
}

// send_paced: one paced copy to the transport (which takes its own reference); false
// when the transport refused it (then it is not sent). A large copy holds the slot it
// was granted until it is sent.
template <Transport T, class F>
bool RelayEngine<T, F>::send_paced(Session& s, SharedBuf* buf, bool large) {
  if (!t_.send(s.conn, buf, handle_of(buf)).ok()) return false;
  if (large) {
    s.large_granted = false;
    if (s.large_bits == 0) {
      s.large_deadline_ns = large_deadline(buf->bytes().size());
      s.large_since_ns = now_ns_;
    }
    s.large_bits |= std::uint64_t{1} << s.inflight;
  }
  ++s.inflight;
  bump(c_->bytes_relayed_out, buf->bytes().size());
  count_out(buf->bytes());
  return true;
}

// has_large: whether a push that needs a slot waits in the session's pacer.
template <Transport T, class F>
bool RelayEngine<T, F>::has_large(Session& s) noexcept {
  bool any = false;
  s.pacer.for_each([&](const policy::QueuedPush& q) { any |= is_large(q); });
  return any;
}

// large_deadline: until when a large copy of `bytes` holds its slot: a second, plus its
// size at kLargeSendMinBytesPerS.
template <Transport T, class F>
std::uint64_t RelayEngine<T, F>::large_deadline(std::size_t bytes) const noexcept {
  return now_ns_ + 1'000'000'000ull + static_cast<std::uint64_t>(bytes) * 1'000'000'000ull / kLargeSendMinBytesPerS;
}

// large_ahead: whether waiting session a goes before b: the older push first (so a near
// peer that has sent one block does not take the next before the far ones get the
// first); for the same push, pair partners and trusted peers first, then the shorter
// round trip (an unknown one last).
template <Transport T, class F>
bool RelayEngine<T, F>::large_ahead(const Session& a, const Session& b) const noexcept {
  if (a.large_order != b.large_order) return static_cast<std::int32_t>(a.large_order - b.large_order) < 0;  // (wraps)
  const bool fa = a.pair_partner || a.trusted, fb = b.pair_partner || b.trusted;
  if (fa != fb) return fa;
  const std::uint64_t ra = a.rtt_us == 0 ? UINT64_MAX : a.rtt_us, rb = b.rtt_us == 0 ? UINT64_MAX : b.rtt_us;
  return ra < rb;
}

// hold_slots: a large copy that took `took_ns` has just completed. With others still
// going, the slots it and the next ones free wait for them (DpOptions::large_sends_in_step)
// for at most a quarter of that time. (With none going, dispatch_large drops any hold.)
template <Transport T, class F>
void RelayEngine<T, F>::hold_slots(std::uint64_t took_ns) noexcept {
  if (opts_.large_sends_in_step && large_busy_ != 0 && large_hold_until_ns_ == 0)
    large_hold_until_ns_ = now_ns_ + std::max<std::uint64_t>(took_ns / 4, 1);
}

// dispatch_large: free slots to the waiting sessions that go first. (A fan-out to K
// peers makes K waiting: each grant is a pass over them, K² compares per block.) Not
// while freed slots wait for the busy ones (hold_slots).
template <Transport T, class F>
void RelayEngine<T, F>::dispatch_large() {
  if (large_hold_until_ns_ != 0) {
    if (large_busy_ != 0 && now_ns_ < large_hold_until_ns_) return;
    large_hold_until_ns_ = 0;
  }
  while (large_busy_ < opts_.large_sends_at_once) {
    std::erase_if(large_waiting_, [&](std::uint32_t sid) {  // gone, its sid reused, or its large push dropped
      Session* s = sessions_.by_sid(sid);
      if (s != nullptr && s->large_waiting && !has_large(*s)) {
        s->large_waiting = false;
        drain(*s);  // (what waited behind it)
      }
      return s == nullptr || !s->large_waiting;
    });
    if (large_waiting_.empty()) return;
    std::size_t best = 0;  // (ties: the one waiting longest, earlier in the list)
    for (std::size_t i = 1; i < large_waiting_.size(); ++i)
      if (large_ahead(*sessions_.by_sid(large_waiting_[i]), *sessions_.by_sid(large_waiting_[best]))) best = i;
    Session* s = sessions_.by_sid(large_waiting_[best]);
    large_waiting_.erase(large_waiting_.begin() + static_cast<std::ptrdiff_t>(best));
    s->large_waiting = false;
    s->large_granted = true;
    ++large_busy_;
    drain(*s);
  }
}

// sweep (once a second): sessions that stopped talking or stopped reading are closed.
template <Transport T, class F>
void RelayEngine<T, F>::sweep(std::uint64_t now_ns) {
  const bool decay = ++sweeps_ % 60 == 0;  // once a minute
  bool slots_back = false;
  for (Session* s : sessions_) {
    if (decay) s->invalid_points /= 2;
    if (s->large_bits != 0 && now_ns > s->large_deadline_ns) {
      // A large copy this slow holds its slots no longer (it goes on without them): a
      // peer that reads slowly, or not at all, must not hold back everyone else's.
      large_busy_ -= static_cast<std::uint32_t>(std::popcount(s->large_bits));
      s->large_bits = 0;
      bump(c_->large_sends_overdue);
      slots_back = true;
    }
    if (s->closing) continue;
    if (s->path.kind == PathState::Kind::kMptcp) track_path(*s, false);
    if (s->key && now_ns - s->last_rx_ns > opts_.silence_ns) {
      bump(c_->closed_silent);
      close_session(*s, "silent for longer than the heartbeat allows", false);
    } else if (s->inflight > 0 && now_ns - s->last_tx_ns > opts_.write_timeout_ns) {
      bump(c_->closed_write_timeout);
      close_session(*s, "not reading what we send (write timeout)", false);
    } else if (s->body_deadline_ns != 0 && now_ns > s->body_deadline_ns && !s->held) {
      bump(c_->closed_slow_body);
      close_session(*s, "a large message arriving too slowly", false);
    }
  }
  if (!waiting_.empty()) evict_slowest(now_ns);
  if (slots_back) dispatch_large();
}

// evict_slowest: someone waits for the receive budget: the session whose large body
// arrives slowest (below evict_min_bytes_per_s, begun at least evict_after_ns ago)
// makes room. One a second, so an honest burst is never cut down in one go.
template <Transport T, class F>
void RelayEngine<T, F>::evict_slowest(std::uint64_t now_ns) {
  Session* slowest = nullptr;
  double slowest_rate = static_cast<double>(opts_.evict_min_bytes_per_s);
  for (Session* s : sessions_) {
    if (s->closing || s->held || s->body_start_ns == 0 || now_ns - s->body_start_ns < opts_.evict_after_ns) continue;
    const double rate = static_cast<double>(s->framer.body().size()) * 1e9 / static_cast<double>(now_ns - s->body_start_ns);
    if (rate < slowest_rate) {
      slowest = s;
      slowest_rate = rate;
    }
  }
  if (slowest == nullptr) return;
  bump(c_->closed_evicted);
  close_session(*slowest, "a large message arriving too slowly while others wait for memory", false);
}

template <Transport T, class F>
bool RelayEngine<T, F>::on_data(Session& s, const Event& e) {
  if (s.held) {  // the connection is paused: bytes polled with the ones held wait too
    t_.hold(e, 0);
    return true;
  }
  ByteSpan d = e.data;
  while (!d.empty() && !s.closing) {
    d = d.subspan(s.framer.feed(d));
    if (s.framer.state() == codec::Framer::State::kWaiting) {
      bump(c_->bytes_in, e.data.size() - d.size());
      wait_for_body(s, e, e.data.size() - d.size());
      return true;
    }
    if (s.framer.state() == codec::Framer::State::kError) {
      bump(c_->drop_framing);
      close_session(s, s.framer.error().reason, true);
      break;
    }
    if (s.key) stream_step(s);
    if (s.framer.state() == codec::Framer::State::kBody && s.body_deadline_ns == 0 &&
        s.framer.preamble().payload_len > opts_.rx_own_bytes) {  // a large body: its clock starts
      s.body_deadline_ns = now_ns_ + opts_.body_grace_ns +
                           std::uint64_t{s.framer.preamble().payload_len} * 1'000'000'000ull / opts_.body_min_bytes_per_s;
      s.body_start_ns = now_ns_;
    }
    if (s.framer.state() != codec::Framer::State::kDone) continue;
    s.body_deadline_ns = s.body_start_ns = 0;
    bump(c_->msgs_in);
    const std::size_t type = payload_type(s.framer.body(), s.framer.relayer_count());
    if (type != link::kMsgTypes) {
      bump(c_->msgs_in_by_type[type]);
      bump(c_->bytes_in_by_type[type], codec::kPreambleSize + s.framer.body().size());
    }
    on_message(s, type);
    s.arrival.end(streams_);
    s.framer.next();
    F::arm(s.framer, path_);  // a fresh random seq for the next message we may forward
  }
  bump(c_->bytes_in, e.data.size() - d.size());
  if (s.closing) return false;
  std::size_t due = 0;
  if (s.framer.state() == codec::Framer::State::kBody) due = s.framer.preamble().payload_len - s.framer.body().size();
  t_.wake_after(s.conn, rx_wake_bytes(due, opts_.rx_chunk_bytes, opts_.rx_tail_bytes));
  return false;
}

// wait_for_body: the message's body has no home yet: the connection pauses with what was
// not read of this event kept by the transport, until the control plane authenticates the
// session (a body larger than a handshake before that) or memory comes back.
template <Transport T, class F>
void RelayEngine<T, F>::wait_for_body(Session& s, const Event& e, std::size_t used) {
  s.held = true;
  t_.hold(e, used);
  if (!s.key && s.framer.preamble().payload_len > s.framer.body_limit()) return bump(c_->rx_waits_key);
  bump(c_->rx_waits_budget);
  if (!s.in_waiting) {
    s.in_waiting = true;
    waiting_.push_back(s.sid);
  }
}

// try_resume: a paused session whose body now has a home reads on.
template <Transport T, class F>
void RelayEngine<T, F>::try_resume(Session& s) {
  if (!s.held || s.closing || !s.framer.find_body_home()) return;
  s.held = false;
  t_.resume(s.conn);
}

// resume_waiting: memory came back: the sessions waiting for it try again, oldest first.
template <Transport T, class F>
void RelayEngine<T, F>::resume_waiting() {
  std::size_t keep = 0;
  for (const std::uint32_t sid : waiting_) {
    Session* s = sessions_.by_sid(sid);
    if (s == nullptr || !s->in_waiting) continue;
    try_resume(*s);
    if (s->held && !s->closing) waiting_[keep++] = sid;
    else s->in_waiting = false;
  }
  waiting_.resize(keep);
}

// stream_step: a large NakamotoBlocks push from an authenticated peer is checked as its
// bytes arrive (ARCHITECTURE.md §3.2): once its payload's type byte is in, it gets a
// stream checker, which then reads whatever has arrived after every read; its forward
// is written as it arrives too (no 2 MiB copy after the last byte).
template <Transport T, class F>
void RelayEngine<T, F>::stream_step(Session& s) {
  Arrival& a = s.arrival;
  if (a.stream == nullptr && (a.decided || !s.framer.relayers_known())) return;
  const std::size_t at = 4 + std::size_t{s.framer.relayer_count()} * codec::kRelayDataSize;  // the payload's offset
  if (a.stream == nullptr) {
    if (s.framer.body().size() <= at) return;  // the type byte is not in yet
    a.decided = true;
    const std::size_t size = s.framer.preamble().payload_len - at;
    if (static_cast<codec::MsgId>(s.framer.body()[at]) != codec::MsgId::kNakamotoBlocks || size < opts_.stream_min_bytes)
      return;
    a.stream = streams_.acquire(s.framer.body().data() + at, size);
    if (a.stream == nullptr) return bump(c_->stream_none_free);
    if (s.framer.forward_active()) {
      a.forward = t_.alloc(s.framer.forward_total_size());
      if (a.forward != nullptr && !s.framer.set_forward_sink(a.forward->fill())) a.take_forward()->unref();
    }
  }
  streams_.publish(a.stream, s.framer.body().size() - at);
}

// over_allowance: the sender's token buckets (full at first use, refilled at their rates
// up to their bursts): chunk bytes and chunks; transaction bytes and signature checks
// (those charged after each check, in relay()).
template <Transport T, class F>
std::atomic<std::uint64_t>* RelayEngine<T, F>::over_allowance(Session& s, codec::MsgId type, std::size_t size) noexcept {
  if (s.pair_partner) return nullptr;  // a partner relay carries all its peers' pushes
  switch (type) {
    case codec::MsgId::kStackerDBPushChunk:
      return s.chunk_bytes.take(now_ns_, size, {opts_.chunk_bytes_per_s, opts_.chunk_burst_bytes}) &&
                     s.chunk_msgs.take(now_ns_, 1, {opts_.chunk_msgs_per_s, opts_.chunk_msgs_burst})
                 ? nullptr
                 : &c_->drop_chunk_throttled;
    case codec::MsgId::kTransaction:
      return s.tx_checks.in_credit(now_ns_, {opts_.tx_checks_per_s, opts_.tx_checks_burst}) &&
                     s.tx_bytes.take(now_ns_, size, {opts_.tx_bytes_per_s, opts_.tx_burst_bytes})
                 ? nullptr
                 : &c_->drop_tx_throttled;
    default: return nullptr;
  }
}

// view_hint: an authenticated peer's preamble carries a burn view we do not use: the
// control plane decides on adoption (told once per view a peer moves to).
template <Transport T, class F>
void RelayEngine<T, F>::view_hint(Session& s, const policy::BurnView& seen) {
  if (seen == path_.view() || seen == s.last_hint) return;
  s.last_hint = seen;
  port_.view(s.sid, seen);
}

// One whole message. Pushes from authenticated peers take the relay path; every other
// message goes to the control plane with its digest (already streamed).
template <Transport T, class F>
void RelayEngine<T, F>::on_message(Session& s, std::size_t type) {
  const codec::Preamble& p = s.framer.preamble();
  const ByteSpan body = s.framer.body();
  std::uint8_t flags = 0;
  if (s.key) {
    if (const char* why = policy::preamble_problem(p, path_.net(), path_.view())) {
      bump(c_->drop_bad_preamble);
      return close_session(s, why, true);
    }
    // A push's signature is checked on the second thread while this one checks the
    // payload; the relay path decides nothing before it has the answer (§3.3).
    SenderSignature sig(streams_.board(), s.framer.verify_digest(), p.signature, *s.key);
    if (type != link::kMsgTypes && policy::is_push(static_cast<codec::MsgId>(type))) {
      sig.post();
      if (auto* refused = over_allowance(s, static_cast<codec::MsgId>(type), body.size())) {
        if (!sig.verdict()) {
          bump(c_->*counter_of(Verdict::kBadSignature));
          return close_session(s, sender_drop_reason(Verdict::kBadSignature), true);
        }
        return bump(*refused);
      }
      // The forward digest streamed with it holds unless our burn view moved since.
      const auto& digest = s.framer.forward_digest();
      const codec::Preamble& used = s.framer.forward_template().preamble;
      const bool current = digest && used.burn_block_height == path_.view().height && used.burn_block_hash == path_.view().hash;
      relay(&s, body, s.arrival.stream, current ? &*digest : nullptr, &sig);
      if (sig.verdict()) view_hint(s, policy::burn_view_of(p));
      return;
    }
    if (!sig.verdict()) {
      bump(c_->*counter_of(Verdict::kBadSignature));
      return close_session(s, sender_drop_reason(Verdict::kBadSignature), true);
    }
    view_hint(s, policy::burn_view_of(p));
    flags = link::kMsgVerified;
  }
  if (!port_.message(s.sid, flags, s.framer.verify_digest(), s.framer.preamble_bytes(), body)) {
    bump(c_->drop_ctl_ring_full);
    return close_session(s, "control plane not keeping up", false);
  }
  bump(c_->msgs_to_control);
}

// ---- relay side ------------------------------------------------------------------------

template <Transport T, class F>
bool RelayEngine<T, F>::ForwardMaker::make_shared() noexcept {
  if (d_.signature && from_ != nullptr) {
    if (from_->arrival.forward != nullptr && from_->framer.sink_complete()) {
      shared_ = from_->arrival.take_forward();  // written while it arrived: only the signature is missing
      std::memcpy(shared_->fill().data() + codec::kPreambleSignatureOffset, d_.signature->data(), d_.signature->size());
    } else if ((shared_ = e_.t_.alloc(from_->framer.forward_size())) != nullptr) {
      from_->framer.write_forward(shared_->fill(), *d_.signature);
    }
  } else {
    shared_ = fresh();
  }
  return shared_ != nullptr;
}

template <Transport T, class F>
SharedBuf* RelayEngine<T, F>::ForwardMaker::fresh() noexcept {
  SharedBuf* b = e_.t_.alloc(RelayPath::forward_size(body_));
  if (b != nullptr) e_.path_.write_forward_after(b->fill(), body_, static_cast<std::uint32_t>(e_.path_.relayers().size()));
  return b;
}

template <Transport T, class F>
void RelayEngine<T, F>::relay(Session* from, ByteSpan body, StreamWorker::Slot* checked, const codec::Hash32* digest,
                              SenderSignature* sender) {
  // Time spent here (checks, signing, queueing; whatever the outcome) is counted: the
  // relay path's own work, apart from the kernel's per-copy send work — as elapsed time,
  // and as this thread's CPU time (the same less any time it was preempted).
  // The copies' share (from mark_fanout() on) is counted apart as well.
  struct WorkClock {
    std::atomic<std::uint64_t>& total;
    std::atomic<std::uint64_t>& cpu_total;
    std::atomic<std::uint64_t>& fanout_cpu_total;
    std::uint64_t t0 = shm::monotonic_ns();
    std::uint64_t cpu0 = shm::thread_cpu_ns();
    std::uint64_t fanout_cpu0 = 0;  // 0: no fan-out
    bool stopped = false;
    void mark_fanout() noexcept { fanout_cpu0 = shm::thread_cpu_ns(); }
    void stop() noexcept {
      if (stopped) return;
      stopped = true;
      // The CPU clock is read inside the elapsed interval at both ends: never more than it.
      const std::uint64_t cpu1 = shm::thread_cpu_ns();
      total.store(total.load(std::memory_order_relaxed) + (shm::monotonic_ns() - t0), std::memory_order_relaxed);
      cpu_total.store(cpu_total.load(std::memory_order_relaxed) + (cpu1 - cpu0), std::memory_order_relaxed);
      if (fanout_cpu0 != 0)
        fanout_cpu_total.store(fanout_cpu_total.load(std::memory_order_relaxed) + (cpu1 - fanout_cpu0), std::memory_order_relaxed);
    }
    ~WorkClock() { stop(); }
  } work_clock{c_->relay_work_ns, c_->relay_work_cpu_ns, c_->relay_fanout_cpu_ns};
  // A block checked while it arrived: what the checker has not read yet is read now.
  const validate::NakamotoStream* stream = checked != nullptr ? &streams_.finish(checked) : nullptr;
  const RelayPath::Decision d = path_.examine({body, stream, digest, sender});
  if (d.chunk_signer_checked) bump(c_->chunks_signer_checked);
  if (from != nullptr && d.signature_checks != 0)  // what checking it cost the sender's allowance
    from->tx_checks.charge(now_ns_, d.signature_checks, {opts_.tx_checks_per_s, opts_.tx_checks_burst});
  if (d.stream != RelayPath::Decision::Stream::kNone && d.verdict != Verdict::kBadSignature)
    bump(d.stream == RelayPath::Decision::Stream::kPassed ? c_->blocks_streamed : c_->stream_gave_up);
  if (d.verdict != Verdict::kForward) {
    bump(c_->*counter_of(d.verdict));
    // A peer that sends what a node would drop it for is dropped (not ourselves).
    if (const char* why = sender_drop_reason(d.verdict); why != nullptr && from != nullptr) close_session(*from, why, true);
    // One that keeps sending invalid pushes is dropped too, and scored for it.
    if (d.verdict == Verdict::kInvalid && from != nullptr && ++from->invalid_points >= opts_.invalid_push_limit) {
      bump(c_->closed_invalid_pushes);
      close_session(*from, "too many invalid pushes", true);
    }
    return;
  }
  {
    ForwardMaker m(*this, from, body, d);
    if (!F::begin(m)) return;
    work_clock.mark_fanout();
    fan_out(from, m, d.priority);
  }
  bump(c_->*counter_of(Verdict::kForward));
  if (from == nullptr) bump(c_->originated);  // one of ours (an HTTP upload): counted before the copies leave
  if (from != nullptr) {
    const std::uint64_t took = shm::monotonic_ns() - rx_ns_;
    bump(c_->relay_latency_buckets[link::latency_bucket(took)]);
    bump(c_->relay_latency_ns_sum, took);
  }
  work_clock.stop();  // what follows is the kernel's sending and the store's copy
  t_.flush();         // the copies start now, before the block store's copy below
  // Blocks also go to the control plane's block store (one copy into the ring; when the
  // ring has no room the store misses it, counted, and relaying is not held up).
  const auto kind = static_cast<codec::MsgId>(d.payload[0]);
  if (opts_.feed_block_store &&
      (kind == codec::MsgId::kNakamotoBlocks || kind == codec::MsgId::kBlocks || kind == codec::MsgId::kMicroblocks) &&
      !port_.relayed(from != nullptr ? from->sid : 0, d.payload))
    bump(c_->store_feed_dropped);
}

// fan_out: the forward to every authenticated session that may have it (never the
// sender, never a relayer: it would drop us), through each one's pacer.
template <Transport T, class F>
void RelayEngine<T, F>::fan_out(Session* from, ForwardMaker& m, policy::Priority prio) {
  const codec::Hash20 sender = from != nullptr ? from->pkh : codec::Hash20{};
  const std::uint32_t order = ++fanouts_;
  // A session's lines are rarely in cache when a push arrives (the nodes and the kernel
  // ran on this core since the last one), and each copy touches a few of them, then its
  // connection's: both are asked for a few sessions ahead, so the misses overlap.
  const std::span<Session* const> live = sessions_.live();
  for (std::size_t i = 0; i < live.size(); ++i) {
    if (i + kPrefetchSessions < live.size()) prefetch_for_copy(*live[i + kPrefetchSessions]);
    if constexpr (SendPrefetch<T>)
      if (i + kPrefetchConns < live.size()) t_.prefetch_send(live[i + kPrefetchConns]->conn);
    Session* s = live[i];
    if (s == from || !s->key || s->closing) continue;
    // may_send_to over relayers ++ [us]: we are never a recipient, so checking the
    // received relayers is the same test without building the longer list.
    if (!policy::may_send_to(path_.relayers(), s->pkh, sender)) continue;
    SharedBuf* b = F::for_recipient(m);
    if (b == nullptr) continue;
    // Nothing waits for this peer and its send window has room (a transaction's usual
    // case): the copy goes to the transport now, as admitting it to the pacer and
    // draining it would send it, without the round trip through the pacer's queue.
    if (s->pacer.waiting() == 0 && s->inflight < send_window() && !s->large_granted && !is_large(b)) {
      bump(c_->fanout_sends);
      if (s->inflight == 0) s->last_tx_ns = now_ns_;  // (as drain)
      send_paced(*s, b, false);
      b->unref();
      continue;
    }
    auto r = s->pacer.admit({handle_of(b), prio, order});
    if (r.dropped) {
      buf_of(*r.dropped)->unref();
      bump(r.dropped->priority == policy::Priority::kTransaction ? c_->drop_pacer_tx : c_->drop_pacer_chunk);
    }
    if (r.result == policy::SessionPacer::Admit::kRefused) {
      b->unref();
      bump(c_->drop_pacer_refused);
      continue;
    }
    bump(c_->fanout_sends);
    drain(*s);
  }
  dispatch_large();  // the large copies' first slots, in order (now that every recipient waits)
}

// The burn view moved: pushes still waiting in pacers carry the old one. Each distinct
// buffer is re-signed once with the new view (same seq, same body: only the preamble's
// view and signature change) and swapped in wherever it waits. The lists are sized at
// start-up for every pacer full.
template <Transport T, class F>
void RelayEngine<T, F>::resign_queued() {
  resign_old_.clear();
  for (Session* s : sessions_) s->pacer.for_each([&](policy::QueuedPush& q) { resign_old_.push_back(buf_of(q)); });
  std::sort(resign_old_.begin(), resign_old_.end());
  resign_old_.erase(std::unique(resign_old_.begin(), resign_old_.end()), resign_old_.end());
  resign_new_.clear();
  for (SharedBuf* old : resign_old_) {
    SharedBuf* nb = t_.alloc(old->bytes().size());
    if (nb != nullptr && !path_.resign(old->bytes(), nb->fill())) {
      nb->unref();
      nb = nullptr;
    }
    if (nb != nullptr) bump(c_->resigned);
    resign_new_.push_back(nb);  // nullptr: that one keeps the old view
  }
  for (Session* s : sessions_) {
    s->pacer.for_each([&](policy::QueuedPush& q) {
      SharedBuf* old = buf_of(q);
      const auto i = static_cast<std::size_t>(std::lower_bound(resign_old_.begin(), resign_old_.end(), old) - resign_old_.begin());
      SharedBuf* nb = resign_new_[i];
      if (nb == nullptr) return;
      nb->ref();
      old->unref();
      q.handle = handle_of(nb);
    });
  }
  for (SharedBuf* nb : resign_new_)
    if (nb != nullptr) nb->unref();  // drop the creation reference; the pacers hold theirs
}

// ---- the control plane's commands ------------------------------------------------------

// A control plane (re)started and knows nothing it was not told since. Every live
// session is handed over with its key if it has one; events already queued stay queued
// (the new control plane ignores what it cannot place).
template <Transport T, class F>
void RelayEngine<T, F>::on_control_hello() {
  if (ctl_seen_) bump(c_->ctl_restarts);  // the first Hello is the start, not a restart
  ctl_seen_ = true;
  port_.view(0, path_.view());
  for (Session* s : sessions_) {
    if (s->closing) continue;
    link::SessionInfo info = s->info;
    info.key = s->key;
    port_.restored(s->sid, info);
  }
}

template <Transport T, class F>
bool RelayEngine<T, F>::on_connect(std::uint64_t token, const net::PeerAddress& addr, const net::ConnectOptions& how) {
  auto c = t_.connect(addr, how);
  if (c.ok()) dialing_[*c] = token;
  else port_.connect_failed(token, c.error().offset);
  return true;
}

template <Transport T, class F>
void RelayEngine<T, F>::on_send(std::uint32_t sid, ByteSpan message) {
  if (Session* s = sessions_.by_sid(sid); s != nullptr && !s->closing) send_now(*s, message);
}

template <Transport T, class F>
void RelayEngine<T, F>::on_close(std::uint32_t sid, bool misbehaved) {
  if (Session* s = sessions_.by_sid(sid); s != nullptr) close_session(*s, "closed by the control plane", misbehaved);
}

template <Transport T, class F>
bool RelayEngine<T, F>::on_authenticated(std::uint32_t sid, ByteSpan key33, std::uint8_t flags) {
  auto key = crypto::parse_public_key(key33);
  if (!key) return false;
  Session* s = sessions_.by_sid(sid);
  if (s == nullptr) return true;
  if (!s->key) bump(c_->sessions_authenticated);
  s->key = *key;
  s->pkh = crypto::hash160(key33);
  s->pair_partner = (flags & link::kAuthPairPartner) != 0;
  s->trusted = (flags & link::kAuthTrusted) != 0;
  count_sessions();
  // Any message size from now on; one that waited for the key is read now, or waits for
  // memory like any other.
  s->framer.set_body_limit(SIZE_MAX);
  t_.trust_reads(s->conn);
  if (s->held) {
    try_resume(*s);
    if (s->held && !s->in_waiting) {
      bump(c_->rx_waits_budget);
      s->in_waiting = true;
      waiting_.push_back(s->sid);
    }
  }
  return true;
}

template <Transport T, class F>
void RelayEngine<T, F>::on_burn_view(const policy::BurnView& v) {
  if (v == path_.view()) return;
  path_.set_view(v);
  for (Session* s : sessions_) F::arm(s->framer, path_);  // messages whose relayers have not arrived yet
  resign_queued();
}

template <Transport T, class F>
void RelayEngine<T, F>::on_reward_sets(const link::RewardSets& sets) {
  path_.set_reward_set(sets.current, sets.previous);
  path_.set_slot_signers(validate::slot_signers(sets.cycle, sets.current, sets.previous, sets.next));
  streams_.set_reward_set(sets.current, sets.previous);
}

// on_relay: a whole message the control plane received before the session was
// authenticated, relayed now (its signature was checked there).
template <Transport T, class F>
bool RelayEngine<T, F>::on_relay(std::uint32_t sid, ByteSpan message) {
  Session* s = sessions_.by_sid(sid);
  if (s == nullptr || s->closing) return true;
  auto pre = codec::decode_preamble(message.first(std::min(message.size(), codec::kPreambleSize)));
  if (!pre.ok() || message.size() != codec::kPreambleSize + pre->payload_len) return false;
  relay(s, message.subspan(codec::kPreambleSize), nullptr, nullptr, nullptr);
  return true;
}

template <Transport T, class F>
void RelayEngine<T, F>::on_originate(ByteSpan body) {
  relay(nullptr, body, nullptr, nullptr, nullptr);
}

}  // namespace relay::dp
