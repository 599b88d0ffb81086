#include "relay/policy/relay_policy.hpp"

namespace relay::policy {

using codec::MsgId;

RelayersVerdict check_relayers(std::span<const codec::RelayData> relayers, const codec::Hash20& our_pkh) noexcept {
  if (relayers.size() > codec::kMaxRelayersLen) return RelayersVerdict::kTooMany;
  for (std::size_t i = 0; i < relayers.size(); ++i) {
    if (relayers[i].peer.public_key_hash == our_pkh) return RelayersVerdict::kContainsUs;
    for (std::size_t j = i + 1; j < relayers.size(); ++j)
      if (relayers[i].peer.public_key_hash == relayers[j].peer.public_key_hash) return RelayersVerdict::kCycle;
  }
  return RelayersVerdict::kOk;
}

bool can_append_self(std::span<const codec::RelayData> relayers) noexcept {
  return relayers.size() < codec::kMaxRelayersLen;
}

bool may_send_to(std::span<const codec::RelayData> relayers, const codec::Hash20& peer_pkh,
                 const codec::Hash20& sender_pkh) noexcept {
  if (peer_pkh == sender_pkh) return false;
  for (const auto& r : relayers)
    if (r.peer.public_key_hash == peer_pkh) return false;
  return true;
}

std::optional<Priority> push_priority(MsgId id, bool relay_2x) noexcept {
  switch (id) {
    case MsgId::kNakamotoBlocks: return Priority::kBlock;
    case MsgId::kTransaction: return Priority::kTransaction;
    case MsgId::kStackerDBPushChunk: return Priority::kStackerDb;
    case MsgId::kBlocks:
    case MsgId::kMicroblocks:
    case MsgId::kBlocksAvailable:
    case MsgId::kMicroblocksAvailable:
      if (!relay_2x) return std::nullopt;
      return id == MsgId::kMicroblocks ? Priority::kMicroblock : Priority::kBlock;
    default: return std::nullopt;
  }
}

SessionPacer::AdmitResult SessionPacer::admit(const QueuedPush& p) {
  auto idx = static_cast<std::size_t>(p.priority);
  if (waiting_ < budget_) {
    q_[idx].push_back(p);
    ++waiting_;
    return {Admit::kQueued, std::nullopt};
  }
  // The classes that may make room, lowest first; never one that outranks the newcomer.
  for (Priority victim_class : {Priority::kTransaction, Priority::kStackerDb}) {
    if (static_cast<std::size_t>(victim_class) < idx) break;
    auto& q = q_[static_cast<std::size_t>(victim_class)];
    if (q.empty()) continue;
    QueuedPush victim = q.pop_front();
    ++(victim_class == Priority::kTransaction ? dropped_tx_ : dropped_chunks_);
    q_[idx].push_back(p);
    return {Admit::kQueuedDropped, victim};
  }
  ++refused_;
  return {Admit::kRefused, std::nullopt};
}

std::optional<QueuedPush> SessionPacer::next() {
  for (auto& q : q_) {
    if (!q.empty()) {
      --waiting_;
      return q.pop_front();
    }
  }
  return std::nullopt;
}

}  // namespace relay::policy
