// control/engine/burn_view_vote.hpp — which burn view our preambles carry.
//
// Nodes drop a peer whose preamble's stable burn block hash disagrees with theirs
// (PROTOCOL.md §4.3), so the view must never come from one peer on its word. A trusted
// node ([p2p] trusted_peers) is believed: the highest view one reported wins. Without
// one, every authenticated peer's latest view is a vote, counted once per netgroup (an
// IPv4 /16, an IPv6 /32: one operator's many addresses are one witness), and the highest
// view with `quorum` independent witnesses is the one to use. Decided again at every
// report and every departure, so the view follows the chain and is never frozen on what
// one peer said. Only a relay with no view at all (its first start: the control plane
// keeps the last view in its data directory) starts from the best-supported view below
// the quorum, since a zero view fails every node's check; a quorum replaces it. A view
// that falls behind is harmless: nodes check the stable hash only for heights they hold.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "relay/codec/types.hpp"
#include "relay/policy/preamble.hpp"

namespace relay::ctl {

class BurnViewVote {
 public:
  BurnViewVote(std::uint32_t quorum, std::uint32_t stable_confirmations) noexcept
      : quorum_(quorum == 0 ? 1 : quorum), confirmations_(stable_confirmations) {}

  // report: session `sid`, whose peer is at `addr`, now carries `v` in its preambles.
  // A view nodes would refuse (stable height + confirmations ≠ height) is not a vote.
  void report(std::uint32_t sid, const codec::Addr16& addr, const policy::BurnView& v, bool trusted);
  // forget: the session is gone (a trusted node's highest view is remembered).
  void forget(std::uint32_t sid) { votes_.erase(sid); }
  // decide: the view to use now; nullopt when none is supported enough (keep the old
  // one). have_view: false before any view was used (then the best-supported one is).
  std::optional<policy::BurnView> decide(bool have_view) const;
  // witnesses: independent peers currently reporting exactly `v`.
  std::uint32_t witnesses(const policy::BurnView& v) const;

 private:
  struct Vote {
    codec::Addr16 group;
    policy::BurnView view;
  };
  std::uint32_t quorum_;
  std::uint32_t confirmations_;
  std::unordered_map<std::uint32_t, Vote> votes_;
  std::optional<policy::BurnView> trusted_;
};

// The view kept across restarts: "HEIGHT HASH STABLE_HEIGHT STABLE_HASH" (hex hashes) on
// one line, replaced atomically. load: nullopt when absent or not such a line.
bool save_burn_view(const std::string& path, const policy::BurnView& v);
std::optional<policy::BurnView> load_burn_view(const std::string& path);

}  // namespace relay::ctl
