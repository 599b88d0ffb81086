#include "control/gaia/read_back.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include "control/store/store_push.hpp"
#include "relay/base/hex.hpp"
#include "relay/validate/push_check.hpp"

namespace relay::gaia {

namespace {

std::int64_t mono_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr std::size_t kMaxAbsent = 4096;  // ids remembered as not in the bucket

}  // namespace

GaiaReader::GaiaReader(ReaderOptions o) : opts_(std::move(o)) {}

GaiaReader::~GaiaReader() { stop(); }

void GaiaReader::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void GaiaReader::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cancel_.store(true);
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Whoever still waits is told "not found" (their connections are answered, not hung).
  std::map<store::Hash32, std::vector<Done>> left;
  {
    std::lock_guard<std::mutex> g(mu_);
    left.swap(waiting_);
    queue_.clear();
  }
  for (auto& [id, dones] : left)
    for (auto& d : dones) d(std::nullopt);
}

void GaiaReader::set_reward_sets(std::vector<validate::RewardSetSigner> current, std::vector<validate::RewardSetSigner> previous) {
  std::lock_guard<std::mutex> g(mu_);
  current_ = std::move(current);
  previous_ = std::move(previous);
  ++sets_gen_;
}

ReaderView GaiaReader::view() const {
  std::lock_guard<std::mutex> g(mu_);
  return view_;
}

std::string GaiaReader::read_url(netio::HttpClient& http) {
  if (!opts_.read_url.empty()) return opts_.read_url;
  if (opts_.read_url_now)
    if (std::string u = opts_.read_url_now(); !u.empty()) return u;
  if (learned_url_.empty() && !opts_.hub_url.empty() && !opts_.bucket.empty()) {
    const auto r = http.request("GET", opts_.hub_url + "/hub_info");
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (r.status == 200 && j.is_object() && j.contains("read_url_prefix") && j["read_url_prefix"].is_string()) {
      std::string p = j["read_url_prefix"].get<std::string>();
      if (!p.empty() && p.back() != '/') p.push_back('/');
      if (!p.empty()) learned_url_ = p + opts_.bucket + "/";
    }
  }
  return learned_url_;
}

bool GaiaReader::fetch(const store::Hash32& id, Done done) {
  std::lock_guard<std::mutex> g(mu_);
  if (stop_) return false;
  ++view_.asked;
  if (auto it = absent_until_.find(id); it != absent_until_.end()) {
    if (it->second > mono_s()) {
      ++view_.remembered;
      return false;
    }
    absent_until_.erase(it);
  }
  auto w = waiting_.find(id);
  if (w != waiting_.end()) {  // a fetch of it is queued or under way: this one waits for it too
    if (w->second.size() >= 256) {
      ++view_.busy;
      return false;
    }
    w->second.push_back(std::move(done));
    return true;
  }
  if (waiting_.size() >= opts_.max_waiting) {
    ++view_.busy;
    return false;
  }
  waiting_[id].push_back(std::move(done));
  queue_.push_back(id);
  cv_.notify_one();
  return true;
}

std::optional<Bytes> GaiaReader::get_block(netio::HttpClient& http, const store::Hash32& id) {
  const std::string base = read_url(http);
  const std::string hex_id = to_hex(id);
  auto note = [&](std::uint64_t ReaderView::*counter, std::string why) {
    std::lock_guard<std::mutex> g(mu_);
    ++(view_.*counter);
    if (!why.empty()) view_.last_error = "gaia read-back of " + hex_id + ": " + why;
  };
  if (base.empty()) {
    note(&ReaderView::not_found, "no read URL yet (gaia.read_url, or the hub's hub_info)");
    return std::nullopt;
  }
  const auto r = http.request("GET", base + opts_.prefix + "v3/blocks/" + hex_id);
  if (r.status == 404 || r.status == 403) {  // (S3 and GCS buckets answer 403 for a missing key)
    note(&ReaderView::not_found, "");
    std::lock_guard<std::mutex> g(mu_);
    if (absent_until_.size() >= kMaxAbsent) absent_until_.erase(absent_until_.begin());
    absent_until_[id] = mono_s() + opts_.negative_ttl_s;
    return std::nullopt;
  }
  if (r.status != 200) {
    note(&ReaderView::failures, r.status == 0 ? r.error : "HTTP " + std::to_string(r.status));
    return std::nullopt;
  }
  // Checked as the push that carries it alone would be.
  store::BlockMeta m;
  m.kind = store::BlockKind::kNakamoto;
  const Bytes payload = store::push_of(m, ByteSpan(reinterpret_cast<const std::uint8_t*>(r.body.data()), r.body.size()));
  validate::PushCheck check(validate::PushCheck::Reserve::kOnDemand);
  {
    std::lock_guard<std::mutex> g(mu_);
    check.set_reward_set(current_, previous_);
  }
  const auto out = check.check(payload, 0, true, nullptr);
  if (out.verdict == validate::PushCheck::Verdict::kNoRewardSet) {
    note(&ReaderView::unverifiable, "no reward set to check it against yet");
    return std::nullopt;
  }
  if (out.verdict != validate::PushCheck::Verdict::kValid || check.ids().size() != 1 || check.ids()[0] != id) {
    const std::string why = out.verdict != validate::PushCheck::Verdict::kValid
                                ? std::string(*out.reason != '\0' ? out.reason : out.error.reason)
                                : std::string("the file is another block");
    note(&ReaderView::refused, "refused: " + why);
    if (opts_.log) opts_.log("gaia read-back of " + hex_id + ": refused: " + why);
    return std::nullopt;
  }
  codec::PushScratch scratch;
  const auto fed = store::store_push(*opts_.store, payload, scratch);
  {
    std::lock_guard<std::mutex> g(mu_);
    ++view_.served;
    if (fed.errors != 0) view_.last_error = "gaia read-back of " + hex_id + ": served, but the block store could not keep it";
  }
  return Bytes(r.body.begin(), r.body.end());
}

void GaiaReader::run() {
  netio::HttpGetOptions ho = opts_.http;
  ho.cancel = &cancel_;
  ho.max_body = codec::kMaxPayloadLen;
  netio::HttpClient http(ho);
  for (;;) {
    store::Hash32 id;
    {
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      id = queue_.front();
      queue_.pop_front();
    }
    auto got = get_block(http, id);
    std::vector<Done> dones;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (auto w = waiting_.find(id); w != waiting_.end()) {
        dones.swap(w->second);
        waiting_.erase(w);
      }
    }
    for (auto& d : dones) d(got);
  }
}

}  // namespace relay::gaia
