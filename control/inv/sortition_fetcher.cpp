#include "control/inv/sortition_fetcher.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include "relay/base/hex.hpp"

namespace relay::inv {

namespace {

// A node's hashes: "0x…" in /v3/sortitions, bare hex in /v3/tenures/info; null: zero.
template <std::size_t N>
bool read_hash(const nlohmann::json& j, const char* key, ByteArray<N>& out, bool nullable) {
  if (!j.contains(key)) return false;
  if (j[key].is_null()) {
    out = {};
    return nullable;
  }
  if (!j[key].is_string()) return false;
  std::string s = j[key].get<std::string>();
  if (s.rfind("0x", 0) == 0) s = s.substr(2);
  auto a = array_from_hex<N>(s);
  if (!a) return false;
  out = *a;
  return true;
}

}  // namespace

std::optional<Sortition> parse_sortition(std::string_view json, std::string& err) {
  const auto arr = nlohmann::json::parse(json, nullptr, false);
  const auto& j = arr.is_array() && !arr.empty() ? arr[0] : arr;
  Sortition s;
  if (!j.is_object() || !j.contains("burn_block_height") || !j["burn_block_height"].is_number_unsigned() ||
      !j.contains("was_sortition") || !j["was_sortition"].is_boolean()) {
    err = "not a sortition (burn_block_height, was_sortition)";
    return std::nullopt;
  }
  s.height = j["burn_block_height"].get<std::uint64_t>();
  s.winner = j["was_sortition"].get<bool>();
  if (!read_hash(j, "consensus_hash", s.consensus_hash, false) || !read_hash(j, "stacks_parent_ch", s.parent_tenure, true) ||
      !read_hash(j, "committed_block_hash", s.committed, true)) {
    err = "a sortition's consensus_hash, stacks_parent_ch or committed_block_hash is not a hash";
    return std::nullopt;
  }
  return s;
}

std::optional<PoxView> parse_pox(std::string_view json, std::string& err) {
  const auto j = nlohmann::json::parse(json, nullptr, false);
  for (const char* k : {"first_burnchain_block_height", "current_burnchain_block_height", "reward_cycle_length"})
    if (!j.is_object() || !j.contains(k) || !j[k].is_number_unsigned()) {
      err = std::string("/v2/pox has no ") + k;
      return std::nullopt;
    }
  PoxView p;
  p.first_height = j["first_burnchain_block_height"].get<std::uint64_t>();
  p.tip_height = j["current_burnchain_block_height"].get<std::uint64_t>();
  const auto L = j["reward_cycle_length"].get<std::uint64_t>();
  if (L == 0 || L > 2100 || p.tip_height < p.first_height) {
    err = "/v2/pox: a reward cycle length outside 1..2100, or a tip below the first height";
    return std::nullopt;
  }
  p.cycle_length = static_cast<std::uint32_t>(L);
  return p;
}

SortitionFetcher::SortitionFetcher(SortitionFetcherOptions o) : opts_(std::move(o)) {
  netio::HttpGetOptions ho = opts_.http;
  ho.cancel = &cancel_;
  ho.max_body = 1u << 20;
  http_ = std::make_unique<netio::HttpClient>(ho);
}

SortitionFetcher::~SortitionFetcher() { stop(); }

void SortitionFetcher::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    for (;;) {
      round();
      std::unique_lock<std::mutex> g(mu_);
      if (cv_.wait_for(g, std::chrono::milliseconds(opts_.poll_ms), [this] { return stop_; })) return;
    }
  });
}

void SortitionFetcher::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cancel_.store(true);
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const InvTable> SortitionFetcher::take() {
  std::lock_guard<std::mutex> g(mu_);
  return std::exchange(fresh_, nullptr);
}

InvView SortitionFetcher::view() const {
  std::lock_guard<std::mutex> g(mu_);
  return view_;
}

std::optional<std::string> SortitionFetcher::get(netio::HttpClient& http, const std::string& path) {
  for (const auto& base : opts_.node_urls) {
    const auto r = http.request("GET", base + path);
    std::lock_guard<std::mutex> g(mu_);
    ++view_.requests;
    if (r.status == 200) return r.body;
    ++view_.failures;
  }
  return std::nullopt;
}

bool SortitionFetcher::round() {
  auto& http = *http_;
  std::string err;
  auto fail = [&](std::string why) {
    std::lock_guard<std::mutex> g(mu_);
    if (view_.state != why && opts_.log) opts_.log("inventory: " + why);
    view_.state = std::move(why);
    return false;
  };
  const auto pox_body = get(http, "/v2/pox");
  if (!pox_body) return fail("no trusted node answered /v2/pox");
  const auto pox = parse_pox(*pox_body, err);
  if (!pox) return fail(err);
  const auto info_body = get(http, "/v3/tenures/info");
  const auto info = info_body ? nlohmann::json::parse(*info_body, nullptr, false) : nlohmann::json();
  ChainView& v = chain_;
  if (!info.is_object() || !read_hash(info, "consensus_hash", v.tip_tenure, false) ||
      !read_hash(info, "tenure_start_block_id", v.tip_tenure_start, false))
    return fail("no trusted node answered /v3/tenures/info");
  if (v.first_height != pox->first_height || v.cycle_length != pox->cycle_length) v.sortitions.clear();
  v.first_height = pox->first_height;
  v.cycle_length = pox->cycle_length;
  v.tip_height = pox->tip_height;
  const std::uint64_t L = v.cycle_length, tip_cycle = (v.tip_height - v.first_height) / L;
  // The window: the previous cycle's mod-0 block up to the tip; before it, each cycle's mod-1 block.
  const std::uint64_t window_from = v.first_height + (tip_cycle > 0 ? tip_cycle - 1 : 0) * L;
  std::vector<std::uint64_t> want;
  for (std::uint64_t back = 2; back <= opts_.history_cycles && back <= tip_cycle; ++back)
    want.push_back(v.first_height + (tip_cycle - back) * L + 1);
  for (std::uint64_t h = window_from; h <= v.tip_height; ++h)
    if (v.sortitions.count(h) == 0 || h + opts_.refetch > v.tip_height) want.push_back(h);
  for (auto it = v.sortitions.begin(); it != v.sortitions.end();)  // above the tip: a reorg took them
    it = it->first > v.tip_height ? v.sortitions.erase(it) : std::next(it);
  for (std::uint64_t h : want) {
    if (cancel_.load()) return false;
    if (v.sortitions.count(h) != 0 && h + opts_.refetch <= v.tip_height) continue;
    const auto body = get(http, "/v3/sortitions/burn_height/" + std::to_string(h));
    if (!body) return fail("no trusted node answered /v3/sortitions/burn_height/" + std::to_string(h));
    auto s = parse_sortition(*body, err);
    if (!s || s->height != h) return fail("/v3/sortitions/burn_height/" + std::to_string(h) + ": " + (s ? "another height" : err));
    v.sortitions[h] = *s;
  }
  if (opts_.store == nullptr) return fail("no block store");
  const std::uint64_t evicted = opts_.store->totals().evicted;  // (before the snapshot: see build)
  auto snap = opts_.store->snapshot();
  if (!snap.ok()) return fail(std::string("block store: ") + snap.error().reason);
  auto table = std::make_shared<InvTable>(build(v, *snap, evicted, servable_));
  // A round whose answers did not fit together (the tip tenure not among the sortitions,
  // e.g. two nodes answering at different tips) keeps the last good table.
  if (table->canonical == 0 && last_canonical_ > 0) return fail("the tip tenure is not among the sortitions (kept the last table)");
  last_canonical_ = table->canonical;
  std::lock_guard<std::mutex> g(mu_);
  if (view_.state != "up" && opts_.log) opts_.log("inventory: the trusted node's chain view is up");
  view_.state = "up";
  view_.sortitions = v.sortitions.size();
  view_.canonical = table->canonical;
  view_.claimed = table->claimed;
  view_.stopped = table->stopped;
  fresh_ = std::move(table);
  return true;
}

}  // namespace relay::inv
