#include "control/pair/catch_up.hpp"

#include <ctime>
#include <nlohmann/json.hpp>

#include "control/netio/small_files.hpp"
#include "control/pair/pair_auth.hpp"
#include "control/store/store_push.hpp"
#include "relay/base/hex.hpp"
#include "relay/validate/push_check.hpp"

namespace relay::pair {

namespace {
constexpr std::size_t kMaxPagesPerRound = 64;  // then the next partner gets its turn
constexpr std::size_t kMaxLogBody = 1u << 20;   // a page of 256 entries is ~25 kB
constexpr std::size_t kMaxPushBody = 17u << 20;  // a push is at most MAX_MESSAGE_LEN
}  // namespace

CatchUp::CatchUp(CatchUpOptions o) : opts_(std::move(o)) {}

CatchUp::~CatchUp() {
  stopping_ = true;  // a transfer under way is abandoned, the round ends at its next step
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::int64_t CatchUp::wall() const {
  return opts_.wall != nullptr ? opts_.wall() : static_cast<std::int64_t>(::time(nullptr));
}

void CatchUp::set_partners(std::vector<Partner> ps) {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<State> next;
  for (auto& p : ps) {
    if (p.url.empty()) continue;
    State s;
    bool known = false;
    for (const auto& old : states_)
      if (old.partner.key == p.key) {
        s = old;  // its progress carries on (a new URL too: the log is the partner's, not the URL's)
        known = true;
      }
    if (!known) {
      s.v.key = p.key;
      s.v.cursor = load_cursor(p.key);
    }
    wake_ |= !known || s.partner.url != p.url;  // someone new to read from: at once
    s.partner = p;
    s.v.url = p.url;
    next.push_back(std::move(s));
  }
  states_ = std::move(next);
  if (wake_) cv_.notify_all();
}

void CatchUp::set_reward_sets(std::vector<validate::RewardSetSigner> current, std::vector<validate::RewardSetSigner> previous) {
  std::lock_guard<std::mutex> g(mu_);
  current_ = std::move(current);
  previous_ = std::move(previous);
}

void CatchUp::start() {
  thread_ = std::thread([this] {
    for (;;) {
      round();
      std::unique_lock<std::mutex> lk(mu_);
      if (cv_.wait_for(lk, std::chrono::milliseconds(opts_.idle_ms), [&] { return stop_ || wake_; }) && stop_) return;
      wake_ = false;
    }
  });
}

std::vector<CatchUpView> CatchUp::view() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<CatchUpView> out;
  for (const auto& s : states_) out.push_back(s.v);
  return out;
}

void CatchUp::round() {
  std::vector<State> work;
  {
    std::lock_guard<std::mutex> g(mu_);
    work = states_;
  }
  for (auto& s : work) {
    catch_up(s);
    std::lock_guard<std::mutex> g(mu_);
    for (auto& st : states_)
      if (st.partner.key == s.partner.key) st.v = s.v;
    if (stop_) return;
  }
}

std::string CatchUp::get(State& s, const std::string& target, const char* what, bool binary, bool& ok) {
  netio::HttpGetOptions o = opts_.http;
  o.max_body = binary ? kMaxPushBody : kMaxLogBody;
  o.cancel = &stopping_;
  const auto r = netio::http_get(o, s.partner.url + target,
                                 {"Authorization: " + auth_header(*opts_.key, "GET", target, wall(), s.partner.key)});
  ok = r.status == 200;
  if (!ok) {
    const std::string why = r.status == 0 ? r.error : "HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 200);
    const std::string line = "pair catch-up from " + s.partner.url + ": " + what + ": " + why;
    auto& v = s.v;
    ++v.failures;
    if (line != v.last_error && opts_.log) opts_.log(line);
    v.last_error = line;
  }
  return r.body;
}

void CatchUp::catch_up(State& s) {
  std::vector<validate::RewardSetSigner> current, previous;
  {
    std::lock_guard<std::mutex> g(mu_);
    current = current_;
    previous = previous_;
  }
  validate::PushCheck check(validate::PushCheck::Reserve::kOnDemand);
  check.set_reward_set(current, previous);
  codec::PushScratch scratch;
  for (std::size_t page = 0; page < kMaxPagesPerRound && !stopping_; ++page) {
    bool ok = false;
    const std::string body =
        get(s, "/relay/v1/log?from=" + std::to_string(s.v.cursor) + "&limit=" + std::to_string(opts_.page), "its log", false, ok);
    if (!ok) return;
    const auto j = nlohmann::json::parse(body, nullptr, false);
    const auto next = j.is_object() ? j.find("next_seq") : j.end();
    const auto entries = j.is_object() ? j.find("entries") : j.end();
    if (next == j.end() || !next->is_number_unsigned() || entries == j.end() || !entries->is_array()) {
      ++s.v.failures;
      s.v.last_error = "pair catch-up from " + s.partner.url + ": its log is not what a relay answers";
      return;
    }
    s.v.partner_next = next->get<std::uint64_t>();
    if (s.v.partner_next < s.v.cursor) {  // a new store over there: its log starts again
      if (opts_.log)
        opts_.log("pair catch-up from " + s.partner.url + ": its log ends at " + std::to_string(s.v.partner_next) +
                  ", before where we were (" + std::to_string(s.v.cursor) + "): reading it from the start");
      s.v.cursor = 1;
      save_cursor(s);
      continue;
    }
    std::size_t n = 0;
    for (const auto& e : *entries) {
      if (stopping_) break;
      ++n;
      const auto seq = e.is_object() ? e.find("seq") : e.end();
      const auto idv = e.is_object() ? e.find("id") : e.end();
      const auto id = idv != e.end() && idv->is_string() ? array_from_hex<32>(idv->get<std::string>()) : std::nullopt;
      if (seq == e.end() || !seq->is_number_unsigned() || !id || seq->get<std::uint64_t>() < s.v.cursor) {
        ++s.v.failures;
        s.v.last_error = "pair catch-up from " + s.partner.url + ": an entry of its log is not what a relay answers";
        return;
      }
      const std::uint64_t at = seq->get<std::uint64_t>();
      bool have = false;
      if (auto snap = opts_.store->snapshot(); snap.ok()) have = snap->get(*id).has_value();
      if (have) {
        ++s.v.already_had;
        s.v.cursor = at + 1;
        continue;
      }
      const std::string hex_id = to_hex(ByteSpan(id->data(), id->size()));
      const std::string push = get(s, "/relay/v1/push/" + hex_id, "block", true, ok);
      if (!ok) break;  // tried again at the next round
      ++s.v.fetched;
      const ByteSpan payload(reinterpret_cast<const std::uint8_t*>(push.data()), push.size());
      const auto out = check.check(payload, 0, true, nullptr);
      bool is_it = false;
      for (const auto& got : check.ids()) is_it |= got == *id;
      if (out.verdict == validate::PushCheck::Verdict::kNoRewardSet) {
        ++s.v.unverifiable;  // not yet: the same entry again once the reward set is known
        s.v.last_error = "pair catch-up from " + s.partner.url + ": block " + hex_id + " cannot be checked yet (no reward set)";
        save_cursor(s);
        return;
      }
      if (out.verdict != validate::PushCheck::Verdict::kValid || !is_it || check.ids().size() != 1) {
        ++s.v.refused;
        s.v.last_error = "pair catch-up from " + s.partner.url + ": block " + hex_id + " refused: " +
                         (out.verdict != validate::PushCheck::Verdict::kValid
                              ? std::string(*out.reason != '\0' ? out.reason : out.error.reason)
                              : std::string("it is not the block asked for"));
        if (opts_.log) opts_.log(s.v.last_error);
        s.v.cursor = at + 1;
        continue;
      }
      const auto fed = store::store_push(*opts_.store, payload, scratch);
      s.v.stored += fed.stored;
      if (fed.errors != 0) {
        ++s.v.failures;
        s.v.last_error = "pair catch-up: the block store could not keep block " + hex_id;
        save_cursor(s);
        return;
      }
      s.v.cursor = at + 1;
    }
    save_cursor(s);
    if (!ok || n < opts_.page || stopping_) return;  // caught up (or the partner failed mid-page, or we stop)
  }
}

void CatchUp::save_cursor(const State& s) const {
  if (opts_.cursor_dir.empty()) return;
  (void)netio::write_private_file(opts_.cursor_dir + "/pair-cursor-" + to_hex(ByteSpan(s.v.key.data(), s.v.key.size())),
                                  std::to_string(s.v.cursor) + "\n");
}

std::uint64_t CatchUp::load_cursor(const codec::PubKey33& key) const {
  if (opts_.cursor_dir.empty()) return 1;
  bool ok = false;
  const std::string text =
      netio::read_small_file(opts_.cursor_dir + "/pair-cursor-" + to_hex(ByteSpan(key.data(), key.size())), 64, ok);
  if (!ok) return 1;
  try {
    const auto v = std::stoull(text);
    return v == 0 ? 1 : v;
  } catch (...) {
    return 1;
  }
}

}  // namespace relay::pair
