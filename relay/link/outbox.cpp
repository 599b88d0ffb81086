#include "relay/link/outbox.hpp"

#include <cstdint>
#include <cstring>

#include "relay/shm/cnc.hpp"

namespace relay::link {

bool Outbox::try_send_now(std::uint16_t kind, std::uint32_t sid, ByteSpan head, ByteSpan a, ByteSpan b) noexcept {
  const std::size_t sz = head.size() + a.size() + b.size();
  if (sz > UINT32_MAX) return false;  // no ring takes it (the MTU is far below)
  auto dst = ring_.prepare(static_cast<std::uint32_t>(sz));
  if (dst.empty() && sz != 0) return false;
  std::uint8_t* p = dst.data();
  for (ByteSpan part : {head, a, b}) {
    if (!part.empty()) std::memcpy(p, part.data(), part.size());
    p += part.size();
  }
  ring_.publish(static_cast<std::uint32_t>(sz), kind, sid, 0, static_cast<std::uint32_t>(shm::monotonic_ns()));
  return true;
}

void Outbox::send(std::uint16_t kind, std::uint32_t sid, ByteSpan head, ByteSpan a, ByteSpan b) {
  if (q_.empty() && try_send_now(kind, sid, head, a, b)) return;
  queue(kind, sid, head, a, b);
}

void Outbox::queue(std::uint16_t kind, std::uint32_t sid, ByteSpan head, ByteSpan a, ByteSpan b) {
  Bytes body;
  body.reserve(head.size() + a.size() + b.size());
  for (ByteSpan part : {head, a, b}) body.insert(body.end(), part.begin(), part.end());
  queue(kind, sid, std::move(body));
}

void Outbox::queue(std::uint16_t kind, std::uint32_t sid, Bytes body) {
  queued_bytes_ += body.size();
  q_.push_back(Queued{kind, sid, std::move(body)});
}

bool Outbox::flush() {
  bool any = false;
  while (!q_.empty()) {
    const Queued& o = q_.front();
    if (!try_send_now(o.kind, o.sid, o.body)) break;
    queued_bytes_ -= o.body.size();
    q_.pop_front();
    any = true;
  }
  return any;
}

void Outbox::discard_all_but(std::uint16_t keep) {
  std::erase_if(q_, [&](const Queued& o) {
    if (o.kind == keep) return false;
    queued_bytes_ -= o.body.size();
    return true;
  });
}

}  // namespace relay::link
