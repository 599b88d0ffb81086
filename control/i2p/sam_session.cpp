#include "control/i2p/sam_session.hpp"

#include <chrono>

#include "control/netio/blocking_conn.hpp"
#include "control/netio/small_files.hpp"
#include "relay/base/hex.hpp"
#include "relay/crypto/secp256k1.hpp"
#include "relay/net/sam.hpp"

namespace relay::i2p {

SamSession::SamSession(SamOptions o) : opts_(std::move(o)) {}

SamSession::~SamSession() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SamSession::start() { thread_ = std::thread([this] { run(); }); }

SamSession::State SamSession::state() const {
  std::lock_guard<std::mutex> g(mu_);
  return state_;
}

void SamSession::set(bool up, const std::string& id, const std::string& address) {
  std::lock_guard<std::mutex> g(mu_);
  if (state_.up == up && state_.id == id) return;
  state_.up = up;
  state_.id = id;
  if (!address.empty()) state_.address = address;
  ++state_.generation;
}

void SamSession::say(const std::string& line) {
  if (line == last_said_ || !opts_.log) return;
  last_said_ = line;
  opts_.log(line);
}

std::function<bool()> SamSession::stopping() {
  return [this] {
    std::lock_guard<std::mutex> g(mu_);
    return stop_;
  };
}

void SamSession::run() {
  std::uint32_t backoff = 1000;
  for (;;) {
    std::string why;
    const bool was_up = session(why);
    set(false, "", "");
    std::unique_lock<std::mutex> lk(mu_);
    if (stop_) return;
    if (!was_up) {
      lk.unlock();
      say("I2P SAM bridge " + opts_.bridge.to_string() + ": " + why + "; trying again");
      lk.lock();
    } else {
      backoff = 1000;
    }
    cv_.wait_for(lk, std::chrono::milliseconds(backoff), [&] { return stop_; });
    if (stop_) return;
    backoff = std::min(backoff * 2, opts_.retry_max_ms);
  }
}

bool SamSession::session(std::string& why) {
  netio::BlockingConn conn;
  if (!conn.connect(opts_.bridge, why)) return false;
  std::string buf;
  const auto stop = stopping();
  // ask: one command, one reply line, which must be `topic kind` with RESULT=OK.
  auto ask = [&](const std::string& cmd, const char* topic, const char* kind, std::uint32_t ms) -> std::optional<net::sam::Line> {
    if (!conn.send_all(cmd + "\n")) {
      why = "the connection closed";
      return std::nullopt;
    }
    auto line = conn.read_line(buf, ms, stop, net::sam::kMaxLine);
    if (!line) {
      why = std::string(topic) + ": no answer in " + std::to_string(ms / 1000) + " s (or the connection closed)";
      return std::nullopt;
    }
    auto l = net::sam::parse_line(*line);
    if (!l || l->topic != topic || l->kind != kind) {
      why = std::string(topic) + ": unexpected answer: " + line->substr(0, 120);
      return std::nullopt;
    }
    // (DEST REPLY carries no RESULT: its keys are the answer.)
    const auto r = l->kv.count("RESULT") ? net::sam::parse_result(l->kv["RESULT"]) : net::sam::Result::kOk;
    if (r != net::sam::Result::kOk) {
      why = std::string(topic) + ": " + net::sam::describe(static_cast<int>(r)) + " RESULT=" + l->kv["RESULT"] +
            (l->kv.count("MESSAGE") ? " (" + l->kv["MESSAGE"] + ")" : "");
      return std::nullopt;
    }
    return l;
  };
  if (!ask("HELLO VERSION MIN=3.1 MAX=3.1", "HELLO", "REPLY", opts_.io_timeout_ms)) return false;
  // Our destination: kept, else made once and kept.
  bool have = false;
  std::string priv = netio::read_small_file(opts_.key_path, 4096, have);
  while (!priv.empty() && (priv.back() == '\n' || priv.back() == '\r' || priv.back() == ' ')) priv.pop_back();
  if (!have || priv.empty()) {
    auto d = ask("DEST GENERATE SIGNATURE_TYPE=7", "DEST", "REPLY", opts_.io_timeout_ms);
    if (!d) return false;
    priv = d->kv["PRIV"];
    if (!net::sam::base64_decode(priv)) {
      why = "DEST GENERATE gave no private key";
      return false;
    }
    if (!netio::write_private_file(opts_.key_path, priv + "\n"))
      say("I2P destination not kept in " + opts_.key_path + ": the address will change at the next start");
  }
  const auto raw = net::sam::base64_decode(priv);
  const auto pub = raw ? net::sam::public_destination(*raw) : std::nullopt;
  if (!pub) {
    why = "the key in " + opts_.key_path + " is not an I2P private key";
    return false;
  }
  const std::string address = net::sam::b32_address(*pub);
  std::uint8_t rnd[6];
  (void)crypto::fill_random(rnd, sizeof rnd);
  const std::string id = "srl" + to_hex(ByteSpan(rnd, sizeof rnd));
  say("I2P session " + id + " being created on " + opts_.bridge.to_string() + " for " + address + " (takes a while)");
  if (!ask("SESSION CREATE STYLE=STREAM ID=" + id + " DESTINATION=" + priv +
               " SIGNATURE_TYPE=7 i2cp.leaseSetEncType=4,0 inbound.quantity=3 outbound.quantity=3 inbound.length=" +
               std::to_string(opts_.tunnel_length) + " outbound.length=" + std::to_string(opts_.tunnel_length),
           "SESSION", "STATUS", opts_.create_timeout_ms))
    return false;
  if (!opts_.address_path.empty()) (void)netio::write_private_file(opts_.address_path, address + "\n");
  set(true, id, address);
  say("I2P session " + id + " up: reachable at " + address);
  // Up while this connection lives.
  for (;;) {
    if (stop()) return true;
    const int r = conn.read_some(buf, 1000, stop);
    if (r < 0) {
      say("I2P SAM bridge connection lost: the session is gone until it is made again");
      return true;
    }
    if (buf.size() > 64 * 1024) buf.clear();  // nothing is expected here; whatever comes is dropped
  }
}

}  // namespace relay::i2p
