// dataplane/engine/control_port.hpp — the dataplane's end of the link to the control
// plane (relay/link): the events it reports (sessions opened and closed, dials that
// failed, burn views peers carry, messages it hands over, blocks for the store) and the
// commands it takes back, decoded and bounds-checked here and handed to a
// ControlCommands. The other process is trusted for liveness, never for memory safety:
// a command that does not parse is skipped and counted (link_corrupt).
//
// Events go out in order; when the ring has no credit they wait in an Outbox. A
// message handed over waits too, unless the queue already holds kMaxQueuedBytes: the
// caller then refuses the session rather than let one peer take the memory.
#pragma once

#include <cstdint>

#include "relay/link/link.hpp"
#include "relay/link/outbox.hpp"
#include "relay/net/peer_address.hpp"

namespace relay::dp {

// What the control plane may ask of the dataplane. Each returns false when the
// command's body does not parse (counted as link_corrupt).
class ControlCommands {
 public:
  virtual void on_control_hello() = 0;
  virtual bool on_connect(std::uint64_t token, const net::PeerAddress& addr, const net::ConnectOptions& how) = 0;
  virtual void on_send(std::uint32_t sid, ByteSpan message) = 0;
  virtual void on_close(std::uint32_t sid, bool misbehaved) = 0;
  virtual bool on_authenticated(std::uint32_t sid, ByteSpan key33, std::uint8_t flags) = 0;
  virtual void on_burn_view(const policy::BurnView& v) = 0;
  virtual void on_reward_sets(const link::RewardSets& sets) = 0;
  virtual bool on_relay(std::uint32_t sid, ByteSpan message) = 0;  // a whole message, before the key was known
  virtual void on_originate(ByteSpan body) = 0;                      // relayers ‖ payload of our own

 protected:
  ~ControlCommands() = default;
};

class ControlPort {
 public:
  static constexpr std::size_t kMaxQueuedBytes = std::size_t{32} << 20;

  explicit ControlPort(link::Ends ends) noexcept;

  link::DpCounters& counters() noexcept { return *ends_.counters; }
  // beat: our heartbeat (the supervisor and the control plane watch it).
  void beat(std::uint64_t now_ns) noexcept;

  void hello(std::uint64_t incarnation);
  void opened(std::uint32_t sid, const link::SessionInfo& info) { session_info(link::DpMsg::kOpened, sid, info); }
  void restored(std::uint32_t sid, const link::SessionInfo& info) { session_info(link::DpMsg::kRestored, sid, info); }
  void closed(std::uint32_t sid, bool misbehaved, const char* why);
  void connect_failed(std::uint64_t token, std::uint32_t err);
  void view(std::uint32_t sid, const policy::BurnView& v);
  // message: a whole message for the control plane (`flags`: link::kMsgVerified when its
  // signature was checked here); false when it can neither go nor wait.
  bool message(std::uint32_t sid, std::uint8_t flags, const codec::Hash32& digest, ByteSpan preamble, ByteSpan body);
  // relayed: a block just relayed, for the store; dropped (false) rather than queued
  // when the ring has no room, so relaying is never held up by the store.
  bool relayed(std::uint32_t sid, ByteSpan payload) noexcept {
    return out_.try_send_now(static_cast<std::uint16_t>(link::DpMsg::kRelayed), sid, payload);
  }

  // poll: what waits goes out, then up to `max` commands are handed to `h`.
  void poll(ControlCommands& h, int max = 256);

 private:
  void session_info(link::DpMsg kind, std::uint32_t sid, const link::SessionInfo& info);
  void event(link::DpMsg kind, std::uint32_t sid, ByteSpan body) { out_.send(static_cast<std::uint16_t>(kind), sid, body); }
  bool command(ControlCommands& h, const shm::Frag& f);

  link::Ends ends_;
  std::uint32_t pid_;  // getpid() once: beat() runs for every event
  link::Outbox out_;
};

}  // namespace relay::dp
