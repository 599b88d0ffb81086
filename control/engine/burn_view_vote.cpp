#include "control/engine/burn_view_vote.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>
#include <vector>

#include "relay/base/hex.hpp"
#include "relay/net/address.hpp"

namespace relay::ctl {

void BurnViewVote::report(std::uint32_t sid, const codec::Addr16& addr, const policy::BurnView& v, bool trusted) {
  if (v.height == 0 || v.stable_height + confirmations_ != v.height) return;
  if (trusted) {
    if (!trusted_ || v.height >= trusted_->height) trusted_ = v;
    return;
  }
  votes_[sid] = Vote{net::netgroup(addr), v};
}

namespace {
// Views ordered highest first (then by their hashes), each view's votes by netgroup.
auto view_key(const policy::BurnView& v) {
  return std::tie(v.height, v.hash, v.stable_height, v.stable_hash);
}
}  // namespace

std::uint32_t BurnViewVote::witnesses(const policy::BurnView& v) const {
  std::vector<codec::Addr16> groups;
  for (const auto& [sid, vote] : votes_)
    if (vote.view == v) groups.push_back(vote.group);
  std::sort(groups.begin(), groups.end());
  return static_cast<std::uint32_t>(std::unique(groups.begin(), groups.end()) - groups.begin());
}

// decide: O(n log n) in the sessions (sorted once), so a block's worth of view reports
// from every peer stays cheap.
std::optional<policy::BurnView> BurnViewVote::decide(bool have_view) const {
  if (trusted_) return trusted_;
  std::vector<const Vote*> all;
  all.reserve(votes_.size());
  for (const auto& [sid, vote] : votes_) all.push_back(&vote);
  if (all.empty()) return std::nullopt;
  std::sort(all.begin(), all.end(), [](const Vote* a, const Vote* b) {
    if (a->view != b->view) return view_key(a->view) > view_key(b->view);
    return a->group < b->group;
  });
  // Walk the views from the highest: the first with a quorum of netgroups wins; without
  // a view yet, the best supported (the highest of those) starts us.
  std::optional<policy::BurnView> best;
  std::uint32_t best_support = 0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    std::uint32_t support = 0;
    for (; j < all.size() && all[j]->view == all[i]->view; ++j)
      if (j == i || all[j]->group != all[j - 1]->group) ++support;
    if (support >= quorum_) return all[i]->view;
    if (support > best_support) {
      best = all[i]->view;
      best_support = support;
    }
    i = j;
  }
  if (have_view) return std::nullopt;
  return best;
}

bool save_burn_view(const std::string& path, const policy::BurnView& v) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << v.height << ' ' << to_hex(v.hash) << ' ' << v.stable_height << ' ' << to_hex(v.stable_hash) << '\n';
    f.flush();
    if (!f) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::optional<policy::BurnView> load_burn_view(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (!f || !std::getline(f, line)) return std::nullopt;
  std::istringstream in(line);
  policy::BurnView v;
  std::string hash, stable_hash;
  if (!(in >> v.height >> hash >> v.stable_height >> stable_hash)) return std::nullopt;
  auto h = from_hex(hash);
  auto sh = from_hex(stable_hash);
  if (!h || !sh || h->size() != 32 || sh->size() != 32 || v.height == 0 || v.stable_height >= v.height) return std::nullopt;
  std::copy(h->begin(), h->end(), v.hash.begin());
  std::copy(sh->begin(), sh->end(), v.stable_hash.begin());
  return v;
}

}  // namespace relay::ctl
