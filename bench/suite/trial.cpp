#include "bench/suite/trial.hpp"

#include <algorithm>
#include <unordered_map>

#include "relay/shm/cnc.hpp"

namespace relay::bench {

TrialResult run_trial(Swarm& s, const std::vector<Planned>& plan, std::size_t expect_each, std::uint64_t drain_ns) {
  TrialResult r;
  r.begin_ns.assign(plan.size(), 0);
  r.sent_ns.assign(plan.size(), 0);
  r.wire_ns.assign(plan.size(), 0);
  r.arrivals.resize(plan.size());
  std::unordered_map<std::uint64_t, std::size_t> by_key;
  by_key.reserve(plan.size() * 2);
  for (std::size_t i = 0; i < plan.size(); ++i) by_key[plan[i].key] = i;
  std::uint64_t got = 0;
  const std::uint64_t want = plan.size() * expect_each;
  s.on_sent = [&](std::uint64_t tag, std::uint64_t ns) {
    if (tag < r.sent_ns.size()) r.sent_ns[tag] = ns;
  };
  s.on_wire = [&](std::uint64_t tag, std::uint64_t ns) {
    if (tag < r.wire_ns.size()) r.wire_ns[tag] = ns;
  };
  s.on_arrival = [&](const Arrival& a) {
    auto it = by_key.find(a.key);
    if (it == by_key.end()) return void(++r.stray);
    r.arrivals[it->second].push_back(a);
    r.delivered_bytes += a.bytes;
    ++got;
  };
  const std::uint64_t refused0 = s.send_refusals();
  r.start_ns = shm::monotonic_ns();
  std::size_t next = 0;
  while (next < plan.size()) {
    const std::uint64_t now = shm::monotonic_ns();
    while (next < plan.size() && r.start_ns + plan[next].at_ns <= now) {
      r.begin_ns[next] = shm::monotonic_ns();
      s.send_signed(plan[next].origin, plan[next].msg, next);
      ++next;
    }
    // Sleep in the transport while the next send is over a millisecond away (the relay
    // shares the machine's cores with us); spin only when it is close.
    const std::uint64_t due = next < plan.size() ? r.start_ns + plan[next].at_ns : now;
    s.pump(due > now + 1'500'000 ? 1 : 0);
  }
  r.sends_done_ns = shm::monotonic_ns();
  std::uint64_t last_progress = r.sends_done_ns;
  while (got < want && shm::monotonic_ns() - last_progress < drain_ns) {
    const std::uint64_t before = got;
    s.pump(1);
    if (got != before) last_progress = shm::monotonic_ns();
  }
  // Let outstanding send completions arrive (they carry the send times).
  for (int i = 0; i < 50 && (s.pending_sends() > 0 || s.pending_wire() > 0); ++i) s.pump(1);
  r.end_ns = shm::monotonic_ns();
  r.refused = s.send_refusals() - refused0;
  s.on_sent = nullptr;
  s.on_wire = nullptr;
  s.on_arrival = nullptr;
  return r;
}

Dist summarize(std::vector<double> us) {
  Dist d;
  d.n = us.size();
  if (us.empty()) return d;
  std::sort(us.begin(), us.end());
  auto rank = [&](double q) {
    const double want = std::ceil(q * static_cast<double>(us.size()));
    const std::size_t i = want < 1 ? 0 : static_cast<std::size_t>(want) - 1;
    return us[std::min(i, us.size() - 1)];
  };
  d.p50 = rank(0.5);
  d.p99 = rank(0.99);
  d.p999 = rank(0.999);
  d.max = us.back();
  double sum = 0;
  for (double v : us) sum += v;
  d.mean = sum / static_cast<double>(us.size());
  const std::size_t step = std::max<std::size_t>(1, us.size() / 200);
  for (std::size_t i = 0; i < us.size(); i += step)
    d.cdf.emplace_back(us[i], static_cast<double>(i + 1) / static_cast<double>(us.size()));
  d.cdf.emplace_back(us.back(), 1.0);
  return d;
}

std::vector<double> hop_latencies(const TrialResult& r) {
  std::vector<double> out;
  for (std::size_t i = 0; i < r.arrivals.size(); ++i) {
    if (r.sent_ns[i] == 0) continue;
    const std::uint64_t out_ns = r.wire_ns[i] != 0 ? r.wire_ns[i] : r.sent_ns[i];  // left the host, when stamped
    for (const auto& a : r.arrivals[i])
      out.push_back(a.last_ns > out_ns ? static_cast<double>(a.last_ns - out_ns) / 1000.0 : 0.0);
  }
  return out;
}

void per_push(const TrialResult& r, std::size_t expect_each, std::vector<double>& first_out, std::vector<double>& last_peer,
              std::vector<double>* median_peer) {
  std::vector<std::uint64_t> done;
  for (std::size_t i = 0; i < r.arrivals.size(); ++i) {
    const auto& as = r.arrivals[i];
    if (r.sent_ns[i] == 0 || as.size() < expect_each || as.empty()) continue;
    std::uint64_t first = UINT64_MAX, last = 0;
    for (const auto& a : as) {
      first = std::min(first, a.first_ns);
      last = std::max(last, a.last_ns);
    }
    const std::uint64_t out = r.wire_ns[i] != 0 ? r.wire_ns[i] : r.sent_ns[i];
    const std::uint64_t began = r.begin_ns[i];
    first_out.push_back(first > out ? static_cast<double>(first - out) / 1000.0 : 0.0);
    last_peer.push_back(last > began ? static_cast<double>(last - began) / 1000.0 : 0.0);
    if (median_peer != nullptr) {
      done.clear();
      for (const auto& a : as) done.push_back(a.last_ns);
      std::nth_element(done.begin(), done.begin() + static_cast<std::ptrdiff_t>((done.size() - 1) / 2), done.end());
      const std::uint64_t mid = done[(done.size() - 1) / 2];
      median_peer->push_back(mid > began ? static_cast<double>(mid - began) / 1000.0 : 0.0);
    }
  }
}

std::uint64_t arrivals(const TrialResult& r) {
  std::uint64_t n = 0;
  for (const auto& a : r.arrivals) n += a.size();
  return n;
}

}  // namespace relay::bench
