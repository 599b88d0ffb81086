// relay/link/outbox.hpp — what one process sends the other on its lossless ring
// (link.hpp), in order, when the ring has no credit for it yet: the other process is
// behind or restarting. Nothing queued is dropped; queued fragments go first, in the
// order they were sent, as soon as the ring takes them (flush()).
//
// Both processes use it: the dataplane for its events and the messages it hands over,
// the control plane for its commands. Queued bytes live on the heap, so a caller that
// must bound them (the dataplane: one peer must not take its memory) checks
// queued_bytes() before queueing.
#pragma once

#include <cstdint>
#include <algorithm>
#include <deque>

#include "relay/base/bytes.hpp"
#include "relay/shm/frag_ring.hpp"

namespace relay::link {

class Outbox {
 public:
  explicit Outbox(shm::RingProducer ring) noexcept : ring_(ring) {}

  // send: `head ‖ a ‖ b` as one fragment of `kind` for session `sid`: into the ring now
  // when nothing waits and it has credit, else queued behind what waits.
  void send(std::uint16_t kind, std::uint32_t sid, ByteSpan head, ByteSpan a = {}, ByteSpan b = {});
  // queue: behind what waits, whatever the ring's credit (sent by the next flush()).
  void queue(std::uint16_t kind, std::uint32_t sid, Bytes body);
  void queue(std::uint16_t kind, std::uint32_t sid, ByteSpan head, ByteSpan a, ByteSpan b);
  // try_send_now: into the ring now if it has credit, ahead of anything queued; false
  // (nothing kept) otherwise. For fragments whose order against the queue does not
  // matter and that the caller would rather lose than hold.
  bool try_send_now(std::uint16_t kind, std::uint32_t sid, ByteSpan head, ByteSpan a = {}, ByteSpan b = {}) noexcept;
  // flush: as many queued fragments as the ring takes, in order; true if any went.
  bool flush();
  // discard_all_but: drop what is queued, except fragments of kind `keep` (the other
  // process restarted: what was meant for its predecessor is void).
  void discard_all_but(std::uint16_t keep);

  bool idle() const noexcept { return q_.empty(); }
  std::size_t queued() const noexcept { return q_.size(); }
  std::size_t queued_bytes() const noexcept { return queued_bytes_; }

 private:
  struct Queued {
    std::uint16_t kind;
    std::uint32_t sid;
    Bytes body;
  };
  shm::RingProducer ring_;
  std::deque<Queued> q_;
  std::size_t queued_bytes_ = 0;
};

}  // namespace relay::link
