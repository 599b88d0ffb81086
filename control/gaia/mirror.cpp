#include "control/gaia/mirror.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "control/gaia/token.hpp"

namespace relay::gaia {

namespace {

constexpr std::size_t kFillBlocks = 256;  // store log entries copied per round
constexpr std::size_t kFrontFiles = 16;   // files read from the outbox per round

// excerpt: the start of a hub's answer, on one line, for a log or /status.
std::string excerpt(const std::string& body) {
  std::string s = body.substr(0, 160);
  std::replace_if(s.begin(), s.end(), [](char ch) { return ch == '\n' || ch == '\r'; }, ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

GaiaMirror::GaiaMirror(MirrorOptions o) : opts_(std::move(o)) {
  while (!opts_.hub_url.empty() && opts_.hub_url.back() == '/') opts_.hub_url.pop_back();
  bucket_ = bucket_address(opts_.key->public_key());
  view_.hub_url = opts_.hub_url;
  view_.bucket = bucket_;
}

Result<std::unique_ptr<GaiaMirror>> GaiaMirror::open(MirrorOptions o) {
  if (!o.key || o.store == nullptr || o.hub_url.empty()) return make_error(Errc::kBadValue, "a hub URL, a key and the block store are needed");
  auto box = Outbox::open(o.outbox_dir, o.outbox_max_bytes);
  if (!box.ok()) return box.error();
  std::unique_ptr<GaiaMirror> m(new GaiaMirror(std::move(o)));
  m->outbox_ = std::move(*box);
  const auto t = m->outbox_->totals();
  m->view_.outbox_files = t.files;
  m->view_.outbox_bytes = t.bytes;
  return m;
}

GaiaMirror::~GaiaMirror() { stop(); }

void GaiaMirror::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void GaiaMirror::stop() {
  stop_.store(true);
  wake();
  if (thread_.joinable()) thread_.join();
}

void GaiaMirror::wake() {
  {
    std::lock_guard<std::mutex> g(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

MirrorView GaiaMirror::view() const {
  std::lock_guard<std::mutex> g(mu_);
  return view_;
}

void GaiaMirror::wait_ms(std::uint64_t ms) {
  std::unique_lock<std::mutex> g(mu_);
  cv_.wait_for(g, std::chrono::milliseconds(ms), [this] { return woken_ || stop_.load(); });
  woken_ = false;
}

std::int64_t GaiaMirror::now_s() const { return opts_.wall != nullptr ? opts_.wall() : static_cast<std::int64_t>(::time(nullptr)); }

void GaiaMirror::set_state(const char* state, std::string error) {
  bool changed = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    changed = view_.state != state;
    view_.state = state;
    if (!error.empty()) view_.last_error = error;
  }
  if (changed) say("gaia: hub " + opts_.hub_url + ": " + state + (error.empty() ? "" : ": " + error));
}

bool GaiaMirror::refresh_token(netio::HttpClient& http) {
  const auto r = http.request("GET", opts_.hub_url + "/hub_info");
  if (r.status != 200) {
    set_state("down", "hub_info: " + (r.status == 0 ? r.error : "HTTP " + std::to_string(r.status) + ": " + excerpt(r.body)));
    return false;
  }
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("challenge_text") || !j["challenge_text"].is_string()) {
    set_state("down", "hub_info: no challenge_text in " + excerpt(r.body));
    return false;
  }
  TokenClaims c;
  c.challenge = j["challenge_text"].get<std::string>();
  c.hub_url = opts_.hub_url;
  c.iat = now_s();
  c.exp = c.iat + opts_.token_lifetime_s;
  crypto::fill_random(c.salt.data(), c.salt.size());
  token_ = make_token(*opts_.key, c);
  token_made_ = c.iat;
  std::string read_prefix = j.contains("read_url_prefix") && j["read_url_prefix"].is_string() ? j["read_url_prefix"].get<std::string>() : "";
  if (!read_prefix.empty() && read_prefix.back() != '/') read_prefix.push_back('/');
  std::lock_guard<std::mutex> g(mu_);
  if (!read_prefix.empty()) view_.read_url = read_prefix + bucket_ + "/";
  return true;
}

GaiaMirror::Fate GaiaMirror::write(netio::HttpClient& http, const OutboxFile& f) {
  const std::vector<std::string> headers = {"Authorization: bearer " + token_, "Content-Type: application/octet-stream",
                                            "If-None-Match: *"};
  const auto r = http.request("POST", opts_.hub_url + "/store/" + bucket_ + "/" + f.path, headers,
                              ByteSpan(f.bytes.data(), f.bytes.size()));
  const std::string what = r.status == 0 ? r.error : "HTTP " + std::to_string(r.status) + ": " + excerpt(r.body);
  if (r.status >= 200 && r.status < 300) {
    std::lock_guard<std::mutex> g(mu_);
    view_.written += 1;
    view_.written_bytes += f.bytes.size();
  } else if (r.status == 412) {
    std::lock_guard<std::mutex> g(mu_);
    view_.already += 1;
  } else if (r.status == 401 || r.status == 402) {
    if (fresh_token_) {  // a token just made: the hub refuses our key
      set_state("unauthorized", f.path + ": " + what);
      return Fate::kBackOff;
    }
    token_.clear();  // expired or revoked: a new one, then this file again
    return Fate::kAgain;
  } else if (r.status == 0 || r.status >= 500 || r.status == 404 || r.status == 405 || r.status == 409 || r.status == 429 ||
             r.status < 200 || (r.status >= 300 && r.status < 400)) {
    set_state("down", f.path + ": " + what);
    return Fate::kBackOff;
  } else {  // a 4xx this file will never get past
    {
      std::lock_guard<std::mutex> g(mu_);
      view_.refused += 1;
      view_.last_error = f.path + ": " + what;
    }
    say("gaia: " + f.path + ": refused by the hub, not retried: " + what);
  }
  fresh_token_ = false;
  set_state("up", "");
  return Fate::kDone;
}

void GaiaMirror::run() {
  netio::HttpGetOptions ho = opts_.http;
  ho.cancel = &stop_;
  ho.max_body = 1u << 20;  // the hub's answers are small JSON
  netio::HttpClient http(ho);
  bool outbox_error = false;
  while (!stop_.load()) {
    // The store's new blocks into the outbox.
    // Blocks copied per transaction: halved while the outbox's disk refuses them (a smaller
    // batch may still fit), grown back once they go in.
    auto fr = outbox_->fill(*opts_.store, opts_.prefix, fill_batch_);
    fill_batch_ = fr.ok() ? std::min(fill_batch_ * 2, kFillBlocks) : std::max<std::size_t>(fill_batch_ / 2, 1);
    if (!fr.ok() != outbox_error) {
      outbox_error = !fr.ok();
      say(outbox_error ? std::string("gaia: outbox ") + opts_.outbox_dir + ": cannot take new blocks: " + fr.error().reason +
                             " (they wait in the block store)"
                       : "gaia: outbox takes new blocks again");
    }
    if (fr.ok() && fr->store_replaced) say("gaia: the block store is newer than the outbox (made again?): following it from its start");
    const auto t = outbox_->totals();
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!fr.ok()) view_.outbox_errors += 1, view_.last_error = std::string("outbox: ") + fr.error().reason;
      view_.outbox_full = fr.ok() && fr->full;
      view_.outbox_files = t.files;
      view_.outbox_bytes = t.bytes;
      view_.missed = t.missed;
      view_.skipped = t.skipped;
      view_.queued = t.queued;
    }
    const auto files = outbox_->front(kFrontFiles);
    if (files.empty()) {
      if (!fr.ok() || fr->blocks < fill_batch_) wait_ms(outbox_error ? 1000 : 200);
      continue;
    }
    Fate fate = Fate::kDone;
    if (token_.empty() || now_s() >= token_made_ + opts_.token_lifetime_s / 2) {
      if (refresh_token(http)) {
        fresh_token_ = true;
      } else {
        fate = Fate::kBackOff;
      }
    }
    for (std::size_t i = 0; fate == Fate::kDone && i < files.size() && !stop_.load(); ++i) {
      fate = write(http, files[i]);
      if (fate != Fate::kDone) break;
      backoff_ms_ = 0;
      if (auto rm = outbox_->remove(files[i].seq); !rm.ok()) {  // written again later: the hub answers 412
        std::lock_guard<std::mutex> g(mu_);
        view_.outbox_errors += 1;
      }
    }
    if (fate == Fate::kBackOff && !stop_.load()) {
      backoff_ms_ = backoff_ms_ == 0 ? opts_.retry_min_ms : std::min(backoff_ms_ * 2, opts_.retry_max_ms);
      {
        std::lock_guard<std::mutex> g(mu_);
        view_.retries += 1;
      }
      wait_ms(backoff_ms_);
    }
  }
}

}  // namespace relay::gaia
