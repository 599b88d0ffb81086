// dataplane/engine/relay_engine_impl.hpp — RelayEngine's template definitions.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace relay::dp {

namespace detail {
// payload_id_of: the payload's type byte, just after the relayers vector (4-byte count,
// kRelayDataSize bytes per entry), or nullopt when the body is too short to hold it.
inline std::optional<codec::MsgId> payload_id_of(ByteSpan body, std::uint32_t relayers) noexcept {
  const std::size_t at = 4 + std::size_t{relayers} * codec::kRelayDataSize;
  if (body.size() <= at) return std::nullopt;
  return static_cast<codec::MsgId>(body[at]);
}
// type_of_message: the payload type of a whole encoded message (preamble, relayers,
// payload), or kMsgTypes when it cannot be told.
inline std::size_t type_of_message(ByteSpan msg) noexcept {
  if (msg.size() < codec::kPreambleSize + 4) return link::kMsgTypes;
  const std::uint32_t relayers = load_be32(msg.data() + codec::kPreambleSize);
  auto id = payload_id_of(msg.subspan(codec::kPreambleSize), relayers);
  return id && static_cast<std::size_t>(*id) < link::kMsgTypes ? static_cast<std::size_t>(*id) : link::kMsgTypes;
}
inline std::uint64_t random_u64() noexcept {
  std::uint64_t v = 0;
  crypto::fill_random(reinterpret_cast<std::uint8_t*>(&v), sizeof v);
  return v;
}
// rx_wake_bytes: how many more bytes a connection should wait for before its next read,
// while its current message has `due` body bytes still to come: up to `chunk`, at most
// half of what is due (so the reads shrink towards the end), all of it once no more
// than `tail` is left — the last read completes at the message's last byte, never
// later. chunk 0, or nothing due: any byte.
inline std::size_t rx_wake_bytes(std::size_t due, std::size_t chunk, std::size_t tail) noexcept {
  if (chunk == 0 || due == 0) return 1;
  if (due <= tail) return due;
  return std::min(chunk, std::max(tail, due / 2));
}
}  // namespace detail

template <Transport T>
RelayEngine<T>::SessionTable::SessionTable(std::size_t max_sessions, std::size_t max_conns, std::uint32_t budget,
                                           codec::BodySource* rx, std::size_t rx_own_bytes) {
  max_sessions = std::min<std::size_t>(max_sessions, 0x10000);
  slots_.reserve(max_sessions);
  free_.reserve(max_sessions);
  live_.reserve(max_sessions);
  for (std::size_t i = 0; i < max_sessions; ++i) {
    slots_.push_back(std::make_unique<Session>(budget));
    slots_.back()->slot = static_cast<std::uint32_t>(i);
    slots_.back()->framer.set_body_source(rx, rx_own_bytes);
    slots_.back()->gen = static_cast<std::uint16_t>(detail::random_u64());
    free_.push_back(static_cast<std::uint32_t>(max_sessions - 1 - i));
  }
  by_conn_.assign(max_conns, nullptr);
}

template <Transport T>
typename RelayEngine<T>::Session* RelayEngine<T>::SessionTable::open(ConnId c, const link::SessionInfo& info) noexcept {
  if (free_.empty() || c >= by_conn_.size() || by_conn_[c] != nullptr) return nullptr;
  Session* s = slots_[free_.back()].get();
  free_.pop_back();
  if (++s->gen == 0) s->gen = 1;  // sid 0 means "no session" on the link
  s->conn = c;
  s->sid = (std::uint32_t{s->gen} << 16) | s->slot;
  s->info = info;
  s->framer.next();
  s->key.reset();
  s->pkh = {};
  s->inflight = 0;
  s->last_hint = {};
  s->closing = false;
  s->misbehaved = false;
  s->why = "";
  s->stream = nullptr;
  s->stream_decided = false;
  s->live_pos = static_cast<std::uint32_t>(live_.size());
  live_.push_back(s);
  by_conn_[c] = s;
  return s;
}

template <Transport T>
void RelayEngine<T>::SessionTable::close(Session& s) noexcept {
  by_conn_[s.conn] = nullptr;
  Session* last = live_.back();  // swap-remove from the live list
  live_[s.live_pos] = last;
  last->live_pos = s.live_pos;
  live_.pop_back();
  s.conn = kNoConn;
  s.framer.reset();  // a body lease goes back to the pool now
  free_.push_back(s.slot);
}

template <Transport T>
RelayEngine<T>::RelayEngine(T& transport, DpLinkEnds link, DpOptions opts)
    : t_(transport),
      opts_(std::move(opts)),
      to_ctl_(link.to_ctl),
      from_ctl_(link.from_ctl),
      c_(link.counters),
      cnc_(link.cnc),
      streams_(opts_.stream_checkers, opts_.stream_thread),
      dedup_(opts_.dedup_depth, detail::random_u64()),
      rx_pool_([&]() -> std::unique_ptr<BufPool> {
        if (opts_.rx_pool.empty()) return nullptr;
        auto p = BufPool::create(opts_.rx_pool);
        return p.ok() ? std::move(*p) : nullptr;  // without it large bodies grow session buffers
      }()),
      sessions_(opts_.max_sessions, opts_.max_conns, opts_.pacer_budget, &rx_source_, opts_.rx_own_bytes) {
  rx_source_.pool = rx_pool_.get();
  auto pk = opts_.key.public_key().compressed();
  our_pkh_ = crypto::hash160(ByteSpan(pk.data(), pk.size()));
  self_.peer.addrbytes = opts_.addrbytes;
  self_.peer.port = opts_.port;
  self_.peer.public_key_hash = our_pkh_;
  self_.seq = 0;  // as stacks-core's sign_relay
  relayers_.reserve(codec::kMaxRelayersLen);
  // A block's signer signatures are recovered on both threads (not in the reference
  // mode: stacks-core checks them one after another).
  if (!opts_.reference_algorithm) push_check_.set_parallel(&streams_.board());
  if (opts_.second_thread_cpu) pin_error_ = streams_.pin(*opts_.second_thread_cpu);
  resign_old_.reserve(opts_.max_sessions * opts_.pacer_budget);
  resign_new_.reserve(opts_.max_sessions * opts_.pacer_budget);
}

template <Transport T>
RelayEngine<T>::~RelayEngine() {
  for (Session* s : sessions_)
    while (auto p = s->pacer.next()) reinterpret_cast<SharedBuf*>(p->handle)->unref();
}

template <Transport T>
std::size_t RelayEngine<T>::authenticated_sessions() const noexcept {
  std::size_t n = 0;
  for (const Session* s : sessions_) n += s->key.has_value();
  return n;
}

template <Transport T>
void RelayEngine<T>::start(std::uint64_t incarnation) {
  Bytes b;
  {
    Writer w(b);
    w.u64(incarnation);
  }
  event_to_control(link::DpMsg::kHello, 0, b);
  shm::cnc_beat(*cnc_, shm::CncState::kRun, static_cast<std::uint32_t>(::getpid()), shm::monotonic_ns());
}

// ---- transport side ------------------------------------------------------------------

template <Transport T>
void RelayEngine<T>::arm_forward(Session& s) {
  if (opts_.reference_algorithm) return;  // the reference hashes each forward after the fact
  codec::ForwardTemplate ft;
  ft.preamble.peer_version = opts_.net.peer_version;
  ft.preamble.network_id = opts_.net.network_id;
  crypto::fill_random(reinterpret_cast<std::uint8_t*>(&ft.preamble.seq), sizeof ft.preamble.seq);
  ft.preamble.burn_block_height = view_.height;
  ft.preamble.burn_block_hash = view_.hash;
  ft.preamble.burn_stable_block_height = view_.stable_height;
  ft.preamble.burn_stable_block_hash = view_.stable_hash;
  ft.self = self_;
  s.framer.set_forward(ft);
}

template <Transport T>
void RelayEngine<T>::new_session(ConnId c, const link::SessionInfo& info) {
  Session* s = sessions_.open(c, info);
  if (s == nullptr) {  // the table is full (or the transport's id is out of range)
    t_.close(c);
    return;
  }
  arm_forward(*s);
  Bytes b;
  {
    Writer w(b);
    link::put_session_info(w, info);
  }
  bump(c_->sessions_opened);
  c_->sessions_live.store(sessions_.size(), std::memory_order_relaxed);
  event_to_control(link::DpMsg::kOpened, s->sid, b);
}

template <Transport T>
void RelayEngine<T>::close_session(Session& s, const char* why, bool misbehaved) {
  if (s.closing) return;
  s.closing = true;
  s.why = why;
  s.misbehaved = misbehaved;
  t_.close(s.conn);  // kClosed follows; the control plane hears of it then
}

template <Transport T>
void RelayEngine<T>::forget_session(ConnId c, int err) {
  Session* sp = sessions_.by_conn(c);
  if (sp == nullptr) return;
  Session& s = *sp;
  while (auto p = s.pacer.next()) reinterpret_cast<SharedBuf*>(p->handle)->unref();
  Bytes b;
  {
    Writer w(b);
    w.u8(s.misbehaved ? 1 : 0);
    const char* why = s.closing ? s.why : (err == 0 ? "peer closed the connection" : std::strerror(err));
    w.bytes(ByteSpan(reinterpret_cast<const std::uint8_t*>(why), std::strlen(why)));
  }
  event_to_control(link::DpMsg::kClosed, s.sid, b);
  stream_release(s);
  sessions_.close(s);
  bump(c_->sessions_closed);
  c_->sessions_live.store(sessions_.size(), std::memory_order_relaxed);
  c_->sessions_auth_live.store(authenticated_sessions(), std::memory_order_relaxed);
}

template <Transport T>
void RelayEngine<T>::count_out(ByteSpan msg) noexcept {
  const std::size_t t = detail::type_of_message(msg);
  if (t == link::kMsgTypes) return;
  bump(c_->msgs_out_by_type[t]);
  bump(c_->bytes_out_by_type[t], msg.size());
}

template <Transport T>
SharedBuf* RelayEngine<T>::copy_to_buf(ByteSpan bytes) {
  SharedBuf* b = t_.alloc(bytes.size());
  if (b != nullptr && !bytes.empty()) std::memcpy(b->fill().data(), bytes.data(), bytes.size());
  return b;
}

template <Transport T>
void RelayEngine<T>::send_now(Session& s, ByteSpan bytes) {
  SharedBuf* b = copy_to_buf(bytes);
  if (b == nullptr) return;
  // A control-plane message; a full queue is retried by its timers.
  if (t_.send(s.conn, b, 0).ok()) count_out(bytes);
  b->unref();
}

template <Transport T>
void RelayEngine<T>::drain(Session& s) {
  while (s.inflight < opts_.max_inflight_sends) {
    auto p = s.pacer.next();
    if (!p) break;
    auto* buf = reinterpret_cast<SharedBuf*>(p->handle);
    if (t_.send(s.conn, buf, p->handle).ok()) {
      ++s.inflight;
      bump(c_->bytes_relayed_out, buf->bytes().size());
      count_out(buf->bytes());
    }
    buf->unref();  // the transport holds its own reference now
  }
}

template <Transport T>
void RelayEngine<T>::on_data(Session& s, ByteSpan d) {
  bump(c_->bytes_in, d.size());
  while (!d.empty() && !s.closing) {
    std::size_t used = s.framer.feed(d);
    d = d.subspan(used);
    if (s.framer.body_grows() != s.rx_grows) {
      bump(c_->rx_body_grows, s.framer.body_grows() - s.rx_grows);
      s.rx_grows = s.framer.body_grows();
    }
    if (s.framer.state() == codec::Framer::State::kError) {
      bump(c_->drop_framing);
      close_session(s, s.framer.error().reason, true);
      return;
    }
    if (s.key) stream_step(s);
    if (s.framer.state() != codec::Framer::State::kDone) continue;
    bump(c_->msgs_in);
    if (auto t = detail::payload_id_of(s.framer.body(), s.framer.relayer_count());
        t && static_cast<std::size_t>(*t) < link::kMsgTypes) {
      bump(c_->msgs_in_by_type[static_cast<std::size_t>(*t)]);
      bump(c_->bytes_in_by_type[static_cast<std::size_t>(*t)], codec::kPreambleSize + s.framer.body().size());
    }
    on_message(s);
    stream_release(s);
    s.framer.next();
    arm_forward(s);  // a fresh random seq for the next message we may forward
  }
  if (s.closing) return;
  std::size_t due = 0;
  if (s.framer.state() == codec::Framer::State::kBody) due = s.framer.preamble().payload_len - s.framer.body().size();
  t_.wake_after(s.conn, detail::rx_wake_bytes(due, opts_.rx_chunk_bytes, opts_.rx_tail_bytes));
}

// stream_step: a large NakamotoBlocks push from an authenticated peer is checked as its
// bytes arrive (ARCHITECTURE.md §3.2): once its payload's type byte is in, it gets a
// stream checker, which then reads whatever has arrived after every read.
template <Transport T>
void RelayEngine<T>::stream_step(Session& s) {
  if (s.stream == nullptr && (s.stream_decided || !s.framer.relayers_known())) return;
  const std::size_t at = 4 + std::size_t{s.framer.relayer_count()} * codec::kRelayDataSize;  // the payload's offset
  if (s.stream == nullptr) {
    if (s.framer.body().size() <= at) return;  // the type byte is not in yet
    s.stream_decided = true;
    const std::size_t size = s.framer.preamble().payload_len - at;
    if (static_cast<codec::MsgId>(s.framer.body()[at]) != codec::MsgId::kNakamotoBlocks || size < opts_.stream_min_bytes ||
        opts_.reference_algorithm)
      return;
    s.stream = streams_.acquire(s.framer.body().data() + at, size);
    if (s.stream == nullptr) return bump(c_->stream_none_free);
    // Its forward is written as it arrives too (no 2 MiB copy after the last byte).
    if (s.framer.forward_active()) {
      s.forward = t_.alloc(s.framer.forward_total_size());
      if (s.forward != nullptr && !s.framer.set_forward_sink(s.forward->fill())) {
        s.forward->unref();
        s.forward = nullptr;
      }
    }
  }
  streams_.publish(s.stream, s.framer.body().size() - at);
}

template <Transport T>
void RelayEngine<T>::stream_release(Session& s) noexcept {
  s.stream_decided = false;
  if (s.forward != nullptr) {
    s.forward->unref();
    s.forward = nullptr;
  }
  if (s.stream == nullptr) return;
  streams_.release(s.stream);
  s.stream = nullptr;
}

// signature_ok: the message signature's verdict (waiting for it if the second thread
// has it); a bad one drops the sender, once.
template <Transport T>
bool RelayEngine<T>::signature_ok(Session& s, SigCheck& sig) {
  if (sig.job != nullptr) {
    streams_.board().join(*sig.job);
    sig.job = nullptr;
    if (!sig.ok) {
      bump(c_->drop_bad_signature);
      close_session(s, "message signature invalid", true);
    }
  }
  return sig.ok;
}

// view_hint: an authenticated peer's preamble carries a burn view we do not use: the
// control plane decides on adoption (told once per view a peer moves to).
template <Transport T>
void RelayEngine<T>::view_hint(Session& s, const policy::BurnView& seen) {
  if (seen == view_ || seen == s.last_hint) return;
  s.last_hint = seen;
  Bytes b;
  {
    Writer w(b);
    link::put_view(w, seen);
  }
  event_to_control(link::DpMsg::kView, s.sid, b);
}

// One whole message. Pushes from authenticated peers take the relay path here; every
// other message goes to the control plane with its digest (already streamed).
template <Transport T>
void RelayEngine<T>::on_message(Session& s) {
  const codec::Preamble& p = s.framer.preamble();
  ByteSpan body = s.framer.body();
  std::uint8_t flags = 0;
  if (s.key) {
    if (const char* why = policy::preamble_problem(p, opts_.net, view_)) {
      bump(c_->drop_bad_preamble);
      return close_session(s, why, true);
    }
    auto id = detail::payload_id_of(body, s.framer.relayer_count());
    const bool push = id && policy::is_push(*id);
    // A push's signature is checked on the second thread while this one checks the
    // payload; relay() acts on nothing before it has the answer (ARCHITECTURE.md §3.3).
    SigCheck sig{s.framer.verify_digest(), p.signature, *s.key};
    auto check_sig = [&sig](std::size_t) noexcept { sig.ok = crypto::verify(sig.digest, sig.sig, sig.key, crypto::LowS::kEnforce); };
    TaskBoard::Job job = TaskBoard::Job::of(check_sig, 1);
    sig.job = &job;
    if (push && !opts_.reference_algorithm) {
      streams_.board().post(job);
      relay(&s, body, true, &sig);
    }
    if (!signature_ok(s, sig)) return;
    view_hint(s, policy::burn_view_of(p));
    if (push) {
      if (opts_.reference_algorithm) relay(&s, body, true);
      return;
    }
    flags = link::kMsgVerified;
  }
  std::uint8_t head[1 + 32];
  head[0] = flags;
  std::memcpy(head + 1, s.framer.verify_digest().data(), 32);
  if (!pending_.empty() || !to_control(link::DpMsg::kMessage, s.sid, ByteSpan(head, sizeof head),
                                       s.framer.preamble_bytes(), body)) {
    // No credit: the control plane is behind or restarting. Keep small messages in
    // order behind the events already waiting; refuse the session rather than let one
    // peer take the memory.
    if (pending_bytes_ + body.size() > (std::size_t{32} << 20)) {
      bump(c_->drop_ctl_ring_full);
      return close_session(s, "control plane not keeping up", false);
    }
    Bytes b(head, head + sizeof head);
    b.insert(b.end(), s.framer.preamble_bytes().begin(), s.framer.preamble_bytes().end());
    b.insert(b.end(), body.begin(), body.end());
    event_to_control(link::DpMsg::kMessage, s.sid, b);
  }
  bump(c_->msgs_to_control);
}

template <Transport T>
void RelayEngine<T>::on_event(const Event& e, std::uint64_t now_ns) {
  (void)now_ns;
  switch (e.kind) {
    case EventKind::kAccepted: {
      link::SessionInfo info;
      const sockaddr_in6 a = t_.remote(e.conn);
      std::memcpy(info.addr.data(), &a.sin6_addr, 16);
      info.port = ntohs(a.sin6_port);
      new_session(e.conn, info);
      break;
    }
    case EventKind::kConnected: {
      link::SessionInfo info;
      info.outbound = true;
      const sockaddr_in6 a = t_.remote(e.conn);
      std::memcpy(info.addr.data(), &a.sin6_addr, 16);
      info.port = ntohs(a.sin6_port);
      if (auto it = dialing_.find(e.conn); it != dialing_.end()) {
        info.dial_token = it->second;
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
      Bytes b;
      {
        Writer w(b);
        w.u64(token);
        w.u32(static_cast<std::uint32_t>(e.err));
      }
      event_to_control(link::DpMsg::kConnectFailed, 0, b);
      break;
    }
    case EventKind::kClosed: forget_session(e.conn, e.err); break;
    case EventKind::kSent: {
      Session* s = sessions_.by_conn(e.conn);
      if (s != nullptr && e.user != 0) {
        --s->inflight;
        drain(*s);
      }
      break;
    }
    case EventKind::kData: {
      if (Session* s = sessions_.by_conn(e.conn); s != nullptr) on_data(*s, e.data);
      break;
    }
  }
}

// ---- relay path --------------------------------------------------------------------

template <Transport T>
codec::Preamble RelayEngine<T>::our_preamble() const noexcept {
  codec::Preamble p;
  p.peer_version = opts_.net.peer_version;
  p.network_id = opts_.net.network_id;
  crypto::fill_random(reinterpret_cast<std::uint8_t*>(&p.seq), sizeof p.seq);
  p.burn_block_height = view_.height;
  p.burn_block_hash = view_.hash;
  p.burn_stable_block_height = view_.stable_height;
  p.burn_stable_block_hash = view_.stable_hash;
  return p;
}

// sign_in_place: `msg` is a whole message whose signature bytes are zero, so its digest
// (PROTOCOL.md §2) is the hash of exactly these bytes.
template <Transport T>
void RelayEngine<T>::sign_in_place(std::span<std::uint8_t> msg) const {
  const codec::Sig65 sig = opts_.key.sign(crypto::sha512_256(ByteSpan(msg.data(), msg.size())));
  std::memcpy(msg.data() + codec::kPreambleSignatureOffset, sig.data(), sig.size());
}

// forward_into_buf: our forward of a received body (relayers ‖ payload), built after the
// fact: a fresh preamble, relayers ++ [us], the payload; signed, in a transport buffer.
template <Transport T>
SharedBuf* RelayEngine<T>::forward_into_buf(ByteSpan body, std::uint32_t relayer_count) {
  const std::size_t size = codec::kPreambleSize + body.size() + codec::kRelayDataSize;
  SharedBuf* buf = t_.alloc(size);
  if (buf == nullptr) return nullptr;
  codec::Preamble p = our_preamble();
  p.payload_len = static_cast<std::uint32_t>(body.size() + codec::kRelayDataSize);
  std::uint8_t pre[codec::kPreambleSize];
  codec::write_preamble_to(pre, p);  // signature zero
  codec::write_forward_to(buf->fill(), ByteSpan(pre, sizeof pre), body, relayer_count, self_);
  sign_in_place(buf->fill());
  return buf;
}

// from: the session the push came from (nullptr: one we originate).
template <Transport T>
void RelayEngine<T>::relay(Session* from, ByteSpan body, bool streamed, SigCheck* sig) {
  using Verdict = validate::PushCheck::Verdict;
  // Time spent here (checks, signing, queueing; whatever the outcome) is counted: the
  // relay path's own CPU, apart from the kernel's per-copy send work.
  struct WorkClock {
    std::atomic<std::uint64_t>& total;
    std::uint64_t t0 = shm::monotonic_ns();
    bool stopped = false;
    void stop() noexcept {
      if (stopped) return;
      stopped = true;
      total.store(total.load(std::memory_order_relaxed) + (shm::monotonic_ns() - t0), std::memory_order_relaxed);
    }
    ~WorkClock() { stop(); }
  } work_clock{c_->relay_work_ns};
  // A peer that sends what a node would drop it for is dropped (not ourselves).
  auto drop_sender = [&](const char* why) {
    if (from != nullptr) close_session(*from, why, true);
  };
  // When the sender's signature is being checked beside this (`sig`), nothing is acted on
  // before its verdict: a bad one drops the sender, whatever else is wrong.
  auto sender_signed = [&] { return sig == nullptr || signature_ok(*from, *sig); };
  Reader rr(body, static_cast<std::uint32_t>(codec::kPreambleSize));
  codec::read_relayers(rr, relayers_);
  if (!rr.ok() || rr.at_end()) {
    if (!sender_signed()) return;
    bump(c_->drop_framing);
    return drop_sender("message does not decode");
  }
  const ByteSpan payload = body.subspan(rr.pos());
  const auto prio = policy::push_priority(static_cast<codec::MsgId>(payload[0]), opts_.relay_2x);
  const auto relayers = policy::check_relayers(relayers_, our_pkh_);
  // Signatures are checked only for what we would forward; the decode is always whole,
  // since a node drops whoever sends it a message it cannot decode.
  const bool forwardable = prio && relayers == policy::RelayersVerdict::kOk &&
                           policy::can_append_self(relayers_) && view_.height != 0;
  // A large block push was checked while it arrived: only when every check passed is
  // that taken as the verdict; otherwise the whole payload is checked now, as it would
  // have been anyway (the verdict and its reason come from one place).
  const validate::NakamotoStream* stream =
      streamed && from != nullptr && from->stream != nullptr ? &streams_.finish(from->stream) : nullptr;
  const bool stream_passed = stream != nullptr && stream->state() == validate::NakamotoStream::State::kPassed;
  const auto out = stream_passed ? push_check_.accept_streamed(stream->ids(), &dedup_)
                                 : push_check_.check(payload, static_cast<std::uint32_t>(codec::kPreambleSize + rr.pos()),
                                                     forwardable, &dedup_);
  // Sign once. The forward digest was computed while the bytes arrived, unless our burn
  // view moved since this message started: then the forward is built and hashed below.
  // A push that will go on is signed now, while the sender's signature may still be
  // being checked (a signature nobody receives costs nothing but its time).
  const codec::Preamble* used = from != nullptr ? &from->framer.forward_template().preamble : nullptr;
  const bool per_recipient = opts_.reference_algorithm;
  const bool streamed_digest = !per_recipient && streamed && from != nullptr && from->framer.forward_digest() &&
                               used->burn_block_height == view_.height && used->burn_block_hash == view_.hash;
  const bool will_forward = forwardable && out.verdict == Verdict::kValid && out.new_ids != 0;
  codec::Sig65 our_sig{};
  if (will_forward && streamed_digest) our_sig = opts_.key.sign(*from->framer.forward_digest());
  if (!sender_signed()) return;
  if (stream != nullptr) bump(stream_passed ? c_->blocks_streamed : c_->stream_gave_up);
  if (out.verdict == Verdict::kUndecodable) {
    bump(c_->drop_framing);
    return drop_sender("message does not decode");
  }
  if (!prio) return bump(c_->drop_not_relayed_type);
  switch (relayers) {
    case policy::RelayersVerdict::kOk: break;
    case policy::RelayersVerdict::kContainsUs: return bump(c_->drop_relayers);  // came back round
    default:  // a cycle: a node would drop this peer too
      bump(c_->drop_relayers);
      return drop_sender("relayers contain a cycle");
  }
  if (!policy::can_append_self(relayers_)) return bump(c_->drop_relayers);
  if (view_.height == 0) return bump(c_->drop_no_burn_view);  // every node would refuse our preamble
  if (out.new_ids == 0) return bump(c_->drop_dup);
  if (out.verdict == Verdict::kNoRewardSet) return bump(c_->drop_no_reward_set);
  if (out.verdict != Verdict::kValid) return bump(c_->drop_invalid);
  for (const auto& id : push_check_.ids()) dedup_.insert(id);

  // The signed bytes go straight into a transport buffer (a registered slot).
  SharedBuf* buf = nullptr;
  if (per_recipient) {
    // The reference algorithm builds every recipient's forward in the loop below.
  } else if (streamed_digest) {
    if (from->forward != nullptr && from->framer.sink_complete()) {
      buf = from->forward;  // written while it arrived: only the signature is missing
      from->forward = nullptr;
      std::memcpy(buf->fill().data() + codec::kPreambleSignatureOffset, our_sig.data(), our_sig.size());
    } else {
      buf = t_.alloc(from->framer.forward_size());
      if (buf == nullptr) return;
      from->framer.write_forward(buf->fill(), our_sig);
    }
  } else {
    buf = forward_into_buf(body, static_cast<std::uint32_t>(relayers_.size()));
    if (buf == nullptr) return;
  }
  const codec::Hash20 sender = from != nullptr ? from->pkh : codec::Hash20{};
  for (Session* s : sessions_) {
    if (s == from || !s->key || s->closing) continue;
    // may_send_to over relayers ++ [us]: we are never a recipient, so checking the
    // received relayers is the same test without building the longer list.
    if (!policy::may_send_to(relayers_, s->pkh, sender)) continue;
    SharedBuf* b = buf;
    if (per_recipient) {
      b = forward_into_buf(body, static_cast<std::uint32_t>(relayers_.size()));  // hashed and signed for this one
      if (b == nullptr) continue;
    } else {
      b->ref();  // the pacer's reference
    }
    auto r = s->pacer.admit({reinterpret_cast<std::uint64_t>(b), *prio});
    if (r.dropped) {
      reinterpret_cast<SharedBuf*>(r.dropped->handle)->unref();
      bump(c_->drop_pacer_tx);
    }
    if (r.result == policy::SessionPacer::Admit::kRefused) {
      b->unref();
      bump(c_->drop_pacer_refused);
      continue;
    }
    bump(c_->fanout_sends);
    drain(*s);
  }
  if (buf != nullptr) buf->unref();
  bump(c_->relayed);
  if (from != nullptr) {
    const std::uint64_t took = shm::monotonic_ns() - rx_ns_;
    bump(c_->relay_latency_buckets[link::latency_bucket(took)]);
    bump(c_->relay_latency_ns_sum, took);
  }
  work_clock.stop();  // what follows is the kernel's sending and the store's copy
  t_.flush();         // the copies start now, before the block store's copy below
  // Blocks also go to the control plane's block store (one copy into the ring; when the
  // ring has no room the store misses it, counted, and relaying is not held up).
  const auto kind = static_cast<codec::MsgId>(payload[0]);
  if (opts_.feed_block_store &&
      (kind == codec::MsgId::kNakamotoBlocks || kind == codec::MsgId::kBlocks || kind == codec::MsgId::kMicroblocks) &&
      !to_control(link::DpMsg::kRelayed, from != nullptr ? from->sid : 0, payload))
    bump(c_->store_feed_dropped);
}

// The burn view moved: pushes still waiting in pacers carry the old one. Each distinct
// buffer is re-signed once with the new view (same seq, same body: only the preamble's
// view and signature change) and swapped in wherever it waits. The lists are sized at
// start-up for every pacer full.
template <Transport T>
void RelayEngine<T>::resign_queued() {
  resign_old_.clear();
  for (Session* s : sessions_)
    s->pacer.for_each([&](policy::QueuedPush& q) { resign_old_.push_back(reinterpret_cast<SharedBuf*>(q.handle)); });
  std::sort(resign_old_.begin(), resign_old_.end());
  resign_old_.erase(std::unique(resign_old_.begin(), resign_old_.end()), resign_old_.end());
  resign_new_.clear();
  for (SharedBuf* old : resign_old_) {
    SharedBuf* nb = nullptr;
    const ByteSpan bytes = old->bytes();
    auto pre = codec::decode_preamble(bytes.first(std::min(bytes.size(), codec::kPreambleSize)));
    if (pre.ok() && bytes.size() == codec::kPreambleSize + pre->payload_len && (nb = t_.alloc(bytes.size())) != nullptr) {
      codec::Preamble p = *pre;
      p.burn_block_height = view_.height;
      p.burn_block_hash = view_.hash;
      p.burn_stable_block_height = view_.stable_height;
      p.burn_stable_block_hash = view_.stable_hash;
      p.signature.fill(0);
      auto fresh = nb->fill();
      codec::write_preamble_to(fresh.data(), p);
      std::memcpy(fresh.data() + codec::kPreambleSize, bytes.data() + codec::kPreambleSize, pre->payload_len);
      sign_in_place(fresh);
      bump(c_->resigned);
    }
    resign_new_.push_back(nb);  // nullptr: that one keeps the old view
  }
  for (Session* s : sessions_) {
    s->pacer.for_each([&](policy::QueuedPush& q) {
      auto* old = reinterpret_cast<SharedBuf*>(q.handle);
      const auto i = static_cast<std::size_t>(std::lower_bound(resign_old_.begin(), resign_old_.end(), old) - resign_old_.begin());
      SharedBuf* nb = resign_new_[i];
      if (nb == nullptr) return;
      nb->ref();
      old->unref();
      q.handle = reinterpret_cast<std::uint64_t>(nb);
    });
  }
  for (SharedBuf* nb : resign_new_)
    if (nb != nullptr) nb->unref();  // drop the creation reference; the pacers hold theirs
}

// ---- link side ------------------------------------------------------------------------

template <Transport T>
bool RelayEngine<T>::to_control(link::DpMsg kind, std::uint32_t sid, ByteSpan head, ByteSpan a, ByteSpan b) {
  const std::size_t sz = head.size() + a.size() + b.size();
  auto dst = to_ctl_.prepare(static_cast<std::uint32_t>(sz));
  if (dst.empty() && sz != 0) return false;
  std::uint8_t* p = dst.data();
  for (ByteSpan part : {head, a, b}) {
    if (!part.empty()) std::memcpy(p, part.data(), part.size());
    p += part.size();
  }
  to_ctl_.publish(static_cast<std::uint32_t>(sz), static_cast<std::uint16_t>(kind), sid, 0,
                  static_cast<std::uint32_t>(shm::monotonic_ns()));
  return true;
}

template <Transport T>
void RelayEngine<T>::event_to_control(link::DpMsg kind, std::uint32_t sid, const Bytes& body) {
  if (pending_.empty() && to_control(kind, sid, body)) return;
  pending_bytes_ += body.size();
  pending_.push_back({kind, sid, body});
}

template <Transport T>
void RelayEngine<T>::flush_pending() {
  while (!pending_.empty()) {
    const Pending& p = pending_.front();
    if (!to_control(p.kind, p.sid, p.body)) return;
    pending_bytes_ -= p.body.size();
    pending_.pop_front();
  }
}

template <Transport T>
void RelayEngine<T>::on_command(const shm::Frag& f, std::uint64_t now_ns) {
  (void)now_ns;
  Reader r(f.payload);
  Session* s = f.session != 0 ? sessions_.by_sid(f.session) : nullptr;
  switch (static_cast<link::CtlMsg>(f.kind)) {
    case link::CtlMsg::kHello: {
      // A control plane (re)started and knows nothing it was not told since. Every live
      // session is handed over with its key if it has one; events already queued stay
      // queued (the new control plane ignores what it cannot place).
      if (ctl_seen_) bump(c_->ctl_restarts);  // the first Hello is the start, not a restart
      ctl_seen_ = true;
      Bytes v;
      {
        Writer w(v);
        link::put_view(w, view_);
      }
      event_to_control(link::DpMsg::kView, 0, v);
      for (Session* sp : sessions_) {
        if (sp->closing) continue;
        link::SessionInfo info = sp->info;
        info.key = sp->key;
        Bytes b;
        {
          Writer w(b);
          link::put_session_info(w, info);
        }
        event_to_control(link::DpMsg::kRestored, sp->sid, b);
      }
      return;
    }
    case link::CtlMsg::kConnect: {
      std::uint64_t token = r.u64();
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      auto addr = r.array<16>();
      std::uint16_t port = r.u16();
      if (!r.ok()) break;
      std::memcpy(&a.sin6_addr, addr.data(), 16);
      a.sin6_port = htons(port);
      auto c = t_.connect(a);
      if (c.ok()) {
        dialing_[*c] = token;
      } else {
        Bytes b;
        {
          Writer w(b);
          w.u64(token);
          w.u32(c.error().offset);
        }
        event_to_control(link::DpMsg::kConnectFailed, 0, b);
      }
      return;
    }
    case link::CtlMsg::kSend:
      if (s != nullptr && !s->closing) send_now(*s, f.payload);
      return;
    case link::CtlMsg::kClose: {
      std::uint8_t misbehaved = r.u8();
      if (s != nullptr) close_session(*s, "closed by the control plane", misbehaved == 1);
      return;
    }
    case link::CtlMsg::kAuthenticated: {
      auto k = r.array<33>();
      if (!r.ok()) break;
      auto key = crypto::parse_public_key(ByteSpan(k.data(), k.size()));
      if (!key) break;
      if (s == nullptr) return;
      if (!s->key) bump(c_->sessions_authenticated);
      s->key = *key;
      s->pkh = crypto::hash160(ByteSpan(k.data(), k.size()));
      c_->sessions_auth_live.store(authenticated_sessions(), std::memory_order_relaxed);
      return;
    }
    case link::CtlMsg::kBurnView: {
      auto v = link::get_view(r);
      if (!v || !r.at_end()) break;
      if (*v == view_) return;
      view_ = *v;
      for (Session* sp : sessions_) arm_forward(*sp);  // messages whose relayers have not arrived yet
      resign_queued();
      return;
    }
    case link::CtlMsg::kRewardSet: {
      auto rs = link::get_reward_sets(r);
      if (!rs) break;
      push_check_.set_reward_set(rs->current, rs->previous);
      streams_.set_reward_set(rs->current, rs->previous);
      return;
    }
    case link::CtlMsg::kRelay: {
      if (s == nullptr || s->closing) return;
      // A whole message the control plane received before the session was authenticated.
      auto pre = codec::decode_preamble(f.payload.first(std::min(f.payload.size(), codec::kPreambleSize)));
      if (!pre.ok() || f.payload.size() != codec::kPreambleSize + pre->payload_len) break;
      relay(s, f.payload.subspan(codec::kPreambleSize), false);
      return;
    }
    case link::CtlMsg::kOriginate: {
      const std::uint64_t before = c_->relayed.load(std::memory_order_relaxed);
      relay(nullptr, f.payload, false);
      if (c_->relayed.load(std::memory_order_relaxed) != before) bump(c_->originated);
      return;
    }
  }
  bump(c_->link_corrupt);  // a command we cannot parse: skipped, counted
}

template <Transport T>
void RelayEngine<T>::poll_control(std::uint64_t now_ns) {
  flush_pending();
  for (int i = 0; i < 256; ++i) {
    shm::Frag f;
    auto r = from_ctl_.poll(f);
    if (r == shm::RingConsumer::Poll::kEmpty) break;
    if (r == shm::RingConsumer::Poll::kFrag) on_command(f, now_ns);
    else bump(c_->link_corrupt);
    if (r == shm::RingConsumer::Poll::kFrag) from_ctl_.release();
  }
}

template <Transport T>
void RelayEngine<T>::run_once(std::uint64_t now_ns, int timeout_ms) {
  poll_control(now_ns);
  Event evs[64];
  std::size_t n = t_.poll(evs, timeout_ms);
  if (n != 0) rx_ns_ = shm::monotonic_ns();  // what arrived in this batch arrived by now
  for (std::size_t i = 0; i < n; ++i) {
    on_event(evs[i], now_ns);
    if (evs[i].kind == EventKind::kData) t_.release(evs[i]);
  }
  poll_control(now_ns);
  c_->sig_checks_helped.store(streams_.board().helped_items(), std::memory_order_relaxed);
  shm::cnc_beat(*cnc_, shm::CncState::kRun, static_cast<std::uint32_t>(::getpid()), now_ns);
}

}  // namespace relay::dp
