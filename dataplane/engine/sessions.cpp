#include "dataplane/engine/sessions.hpp"

#include <algorithm>

#include "relay/crypto/secp256k1.hpp"

namespace relay::dp {

SessionTable::SessionTable(std::size_t max_sessions, std::size_t max_conns, std::uint32_t budget, codec::BodySource* rx,
                           std::size_t rx_own_bytes) {
  max_sessions = std::min<std::size_t>(max_sessions, 0x10000);
  slots_.reserve(max_sessions);
  free_.reserve(max_sessions);
  live_.reserve(max_sessions);
  for (std::size_t i = 0; i < max_sessions; ++i) {
    slots_.push_back(std::make_unique<Session>(budget));
    slots_.back()->slot = static_cast<std::uint32_t>(i);
    slots_.back()->framer.set_body_source(rx, rx_own_bytes);
    // Generations start at random, so a restarted dataplane's ids differ from its predecessor's.
    crypto::fill_random(reinterpret_cast<std::uint8_t*>(&slots_.back()->gen), sizeof(std::uint16_t));
    free_.push_back(static_cast<std::uint32_t>(max_sessions - 1 - i));
  }
  by_conn_.assign(max_conns, nullptr);
}

SessionTable::~SessionTable() {
  for (Session* s : live_) drop_queued(*s);
}

Session* SessionTable::open(ConnId c, const link::SessionInfo& info) noexcept {
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
  s->arrival = {};
  s->held = false;
  s->in_waiting = false;
  s->invalid_points = 0;
  s->body_deadline_ns = s->body_start_ns = 0;
  s->chunk_bytes = s->chunk_msgs = s->tx_bytes = s->tx_checks = {};  // (each full at first use)
  s->live_pos = static_cast<std::uint32_t>(live_.size());
  live_.push_back(s);
  by_conn_[c] = s;
  return s;
}

void SessionTable::close(Session& s) noexcept {
  drop_queued(s);
  by_conn_[s.conn] = nullptr;
  Session* last = live_.back();  // swap-remove from the live list
  live_[s.live_pos] = last;
  last->live_pos = s.live_pos;
  live_.pop_back();
  s.conn = kNoConn;
  s.framer.reset();  // a body lease goes back to the pool now
  free_.push_back(s.slot);
}

std::size_t SessionTable::authenticated() const noexcept {
  std::size_t n = 0;
  for (const Session* s : live_) n += s->key.has_value();
  return n;
}

}  // namespace relay::dp
