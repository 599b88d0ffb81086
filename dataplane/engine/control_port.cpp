#include "dataplane/engine/control_port.hpp"

#include <unistd.h>

#include <cstring>

namespace relay::dp {

ControlPort::ControlPort(link::Ends ends) noexcept
    : ends_(ends), pid_(static_cast<std::uint32_t>(::getpid())), out_(ends.out) {}

void ControlPort::beat(std::uint64_t now_ns) noexcept {
  shm::cnc_beat(*ends_.own_cnc, shm::CncState::kRun, pid_, now_ns);
}

void ControlPort::hello(std::uint64_t incarnation) {
  Bytes b;
  {
    Writer w(b);
    w.u64(incarnation);
  }
  event(link::DpMsg::kHello, 0, b);
}

void ControlPort::session_info(link::DpMsg kind, std::uint32_t sid, const link::SessionInfo& info) {
  Bytes b;
  {
    Writer w(b);
    link::put_session_info(w, info);
  }
  event(kind, sid, b);
}

void ControlPort::closed(std::uint32_t sid, bool misbehaved, const char* why) {
  Bytes b;
  {
    Writer w(b);
    w.u8(misbehaved ? 1 : 0);
    w.bytes(ByteSpan(reinterpret_cast<const std::uint8_t*>(why), std::strlen(why)));
  }
  event(link::DpMsg::kClosed, sid, b);
}

void ControlPort::connect_failed(std::uint64_t token, std::uint32_t err) {
  Bytes b;
  {
    Writer w(b);
    w.u64(token);
    w.u32(err);
  }
  event(link::DpMsg::kConnectFailed, 0, b);
}

void ControlPort::view(std::uint32_t sid, const policy::BurnView& v) {
  Bytes b;
  {
    Writer w(b);
    link::put_view(w, v);
  }
  event(link::DpMsg::kView, sid, b);
}

bool ControlPort::message(std::uint32_t sid, std::uint8_t flags, const codec::Hash32& digest, ByteSpan preamble,
                          ByteSpan body) {
  std::uint8_t head[1 + 32];
  head[0] = flags;
  std::memcpy(head + 1, digest.data(), digest.size());
  const auto kind = static_cast<std::uint16_t>(link::DpMsg::kMessage);
  if (out_.idle() && out_.try_send_now(kind, sid, ByteSpan(head, sizeof head), preamble, body)) return true;
  // No credit: the control plane is behind or restarting. Small messages wait in order
  // behind the events already waiting; past the bound the caller refuses the session.
  if (out_.queued_bytes() + body.size() > kMaxQueuedBytes) return false;
  out_.queue(kind, sid, ByteSpan(head, sizeof head), preamble, body);
  return true;
}

void ControlPort::poll(ControlCommands& h, int max) {
  out_.flush();
  for (int i = 0; i < max; ++i) {
    shm::Frag f;
    const auto r = ends_.in.poll(f);
    if (r == shm::RingConsumer::Poll::kEmpty) break;
    if (r != shm::RingConsumer::Poll::kFrag) {
      counters().link_corrupt.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (!command(h, f)) counters().link_corrupt.fetch_add(1, std::memory_order_relaxed);
    ends_.in.release();
  }
}

bool ControlPort::command(ControlCommands& h, const shm::Frag& f) {
  Reader r(f.payload);
  switch (static_cast<link::CtlMsg>(f.kind)) {
    case link::CtlMsg::kHello: h.on_control_hello(); return true;
    case link::CtlMsg::kConnect: {
      const std::uint64_t token = r.u64();
      const auto addr = net::PeerAddress::get(r);
      const auto how = addr ? net::ConnectOptions::get(r) : std::nullopt;
      return r.ok() && how && r.at_end() && h.on_connect(token, *addr, *how);
    }
    case link::CtlMsg::kSend: h.on_send(f.session, f.payload); return true;
    case link::CtlMsg::kClose: h.on_close(f.session, r.u8() == 1); return true;
    case link::CtlMsg::kAuthenticated: {
      const auto k = r.array<33>();
      const std::uint8_t flags = r.ok() && !r.at_end() ? r.u8() : 0;
      return r.ok() && r.at_end() && h.on_authenticated(f.session, ByteSpan(k.data(), k.size()), flags);
    }
    case link::CtlMsg::kBurnView: {
      auto v = link::get_view(r);
      if (!v || !r.at_end()) return false;
      h.on_burn_view(*v);
      return true;
    }
    case link::CtlMsg::kRewardSet: {
      auto rs = link::get_reward_sets(r);
      if (!rs) return false;
      h.on_reward_sets(*rs);
      return true;
    }
    case link::CtlMsg::kRelay: return h.on_relay(f.session, f.payload);
    case link::CtlMsg::kOriginate: h.on_originate(f.payload); return true;
  }
  return false;
}

}  // namespace relay::dp
