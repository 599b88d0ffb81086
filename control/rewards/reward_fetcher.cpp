#include "control/rewards/reward_fetcher.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "control/netio/http_get.hpp"

namespace relay::rewards {

namespace {
constexpr std::size_t kMaxResponse = 8u << 20;  // a stacker set of 4 000 signers is ~600 kB
}

std::optional<std::uint64_t> parse_pox_current_cycle(std::string_view json, std::string& err) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return err = "not a JSON object", std::nullopt;
  auto cc = j.find("current_cycle");
  if (cc == j.end() || !cc->is_object()) return err = "no current_cycle", std::nullopt;
  auto id = cc->find("id");
  if (id == cc->end() || !id->is_number_unsigned()) return err = "current_cycle.id is not an unsigned number", std::nullopt;
  return id->get<std::uint64_t>();
}

RewardFetcher::RewardFetcher(FetcherOptions o) : opts_(std::move(o)) {}

RewardFetcher::~RewardFetcher() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RewardFetcher::start() { thread_ = std::thread([this] { run(); }); }

std::optional<CycleSets> RewardFetcher::take() {
  std::lock_guard<std::mutex> g(mu_);
  auto out = std::move(fresh_);
  fresh_.reset();
  return out;
}

void RewardFetcher::run() {
  for (;;) {
    poll_once();
    std::unique_lock<std::mutex> lk(mu_);
    if (cv_.wait_for(lk, std::chrono::seconds(opts_.poll_s), [&] { return stop_; })) return;
  }
}

std::optional<std::string> RewardFetcher::get(const std::string& url, bool quiet) {
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  netio::HttpGetOptions o;
  o.timeout_s = opts_.timeout_s;
  o.max_body = kMaxResponse;
  o.proxy = opts_.proxy;
  o.onion_proxy = opts_.onion_proxy;
  o.isolate = opts_.isolate;
  o.isolation_salt = opts_.isolation_salt;
  auto r = netio::http_get(o, url);
  if (r.status != 200) {
    if (!quiet || r.status == 0) stats_.failures.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  return std::move(r.body);
}

std::optional<Signers> RewardFetcher::fetch_set(std::uint64_t cycle, bool quiet) {
  for (const auto& base : opts_.node_urls) {
    auto body = get(base + "/v3/stacker_set/" + std::to_string(cycle), quiet);
    if (!body) continue;
    std::string err;
    if (auto s = parse_stacker_set(*body, err)) {
      save(cycle, *body);
      return s;
    }
    stats_.failures.fetch_add(1, std::memory_order_relaxed);
  }
  return std::nullopt;
}

// One round: the current cycle from the first node that answers; when it is new, its
// set and the previous cycle's; and the next cycle's until it is known.
bool RewardFetcher::poll_once() {
  std::optional<std::uint64_t> cycle;
  for (const auto& base : opts_.node_urls) {
    auto body = get(base + "/v2/pox");
    if (!body) continue;
    std::string err;
    if ((cycle = parse_pox_current_cycle(*body, err))) break;
    stats_.failures.fetch_add(1, std::memory_order_relaxed);
  }
  if (!cycle) return false;
  if (*cycle == known_cycle_) {
    if (!known_next_.empty()) return false;
    auto next = fetch_set(*cycle + 1, true);
    if (!next || next->empty()) return false;
    known_next_ = std::move(*next);
    publish({known_cycle_, known_current_, known_previous_, known_next_});
    return true;
  }
  CycleSets sets;
  sets.cycle = *cycle;
  if (known_cycle_ + 1 == *cycle && !known_next_.empty()) {
    sets.current = known_next_;
  } else {
    auto cur = fetch_set(*cycle);
    if (!cur) return false;
    sets.current = std::move(*cur);
  }
  if (known_cycle_ + 1 == *cycle && !known_current_.empty()) sets.previous = known_current_;
  else if (*cycle > 0) sets.previous = fetch_set(*cycle - 1).value_or(Signers{});
  sets.next = fetch_set(*cycle + 1, true).value_or(Signers{});
  known_cycle_ = *cycle;
  known_current_ = sets.current;
  known_previous_ = sets.previous;
  known_next_ = sets.next;
  stats_.cycles.fetch_add(1, std::memory_order_relaxed);
  publish(std::move(sets));
  return true;
}

void RewardFetcher::publish(CycleSets sets) {
  std::lock_guard<std::mutex> g(mu_);
  fresh_ = std::move(sets);
}

void RewardFetcher::save(std::uint64_t cycle, const std::string& json) const {
  if (opts_.cache_dir.empty()) return;
  ::mkdir(opts_.cache_dir.c_str(), 0700);
  const std::string path = opts_.cache_dir + "/" + std::to_string(cycle) + ".json";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << json;
    if (!f) return;
  }
  std::rename(tmp.c_str(), path.c_str());  // whole or not at all
}

std::optional<CycleSets> RewardFetcher::load_cache() const {
  if (opts_.cache_dir.empty()) return std::nullopt;
  DIR* d = ::opendir(opts_.cache_dir.c_str());
  if (d == nullptr) return std::nullopt;
  std::uint64_t newest = 0;
  bool any = false;
  while (dirent* e = ::readdir(d)) {
    std::uint64_t c = 0;
    char rest[8] = {};
    if (std::sscanf(e->d_name, "%lu.%7s", &c, rest) == 2 && std::string(rest) == "json" && (!any || c > newest)) {
      newest = c;
      any = true;
    }
  }
  ::closedir(d);
  if (!any) return std::nullopt;
  auto read = [&](std::uint64_t c) -> std::optional<Signers> {
    std::ifstream f(opts_.cache_dir + "/" + std::to_string(c) + ".json");
    if (!f) return std::nullopt;
    std::stringstream ss;
    ss << f.rdbuf();
    std::string err;
    return parse_stacker_set(ss.str(), err);
  };
  auto cur = read(newest);
  if (!cur) return std::nullopt;
  CycleSets out;
  out.cycle = newest;
  out.current = std::move(*cur);
  if (newest > 0) out.previous = read(newest - 1).value_or(Signers{});
  return out;
}

}  // namespace relay::rewards
