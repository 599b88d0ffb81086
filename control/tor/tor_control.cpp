#include "control/tor/tor_control.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "control/netio/small_files.hpp"
#include "relay/base/hex.hpp"
#include "relay/crypto/secp256k1.hpp"

namespace relay::tor {

namespace {

constexpr std::string_view kServerKey = "Tor safe cookie authentication server-to-controller hash";
constexpr std::string_view kClientKey = "Tor safe cookie authentication controller-to-server hash";

Bytes hmac256(std::string_view key, ByteSpan a, ByteSpan b, ByteSpan c) {
  Bytes msg(a.begin(), a.end());
  msg.insert(msg.end(), b.begin(), b.end());
  msg.insert(msg.end(), c.begin(), c.end());
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(), out.data(), &len);
  out.resize(len);
  return out;
}

bool digits3(std::string_view s) {
  return s.size() >= 3 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9';
}

std::uint64_t ms_since(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count());
}

}  // namespace

// ---- the protocol's pieces ------------------------------------------------------------

std::optional<Reply> ReplyReader::next() {
  while (!bad_) {
    const std::size_t nl = buf_.find('\n');
    if (nl == std::string::npos) {
      if (buf_.size() > kMaxLine) bad_ = true;
      return std::nullopt;
    }
    std::string line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > kMaxLine) {
      bad_ = true;
      break;
    }
    cur_size_ += line.size();
    if (cur_size_ > kMaxReply) {
      bad_ = true;
      break;
    }
    if (in_data_) {  // a data block: lines up to ".", a leading ".." escaping a "."
      if (line == ".") {
        in_data_ = false;
        continue;
      }
      if (line.rfind("..", 0) == 0) line.erase(0, 1);
      cur_.lines.back() += "\n" + line;
      continue;
    }
    if (line.size() < 4 || !digits3(line) || (line[3] != '-' && line[3] != ' ' && line[3] != '+')) {
      bad_ = true;
      break;
    }
    const int code = std::stoi(line.substr(0, 3));
    // An event's line amid a reply (Tor does not do it, but a reply must not swallow
    // it): the event is a reply of its own.
    const bool event_amid = code / 100 == 6 && !cur_.lines.empty() && cur_.code / 100 != 6;
    Reply& into = event_amid ? ev_ : cur_;
    if (into.lines.empty()) into.code = code;
    into.lines.push_back(line.substr(4));
    if (line[3] == '+' && !event_amid) {
      in_data_ = true;
      continue;
    }
    if (line[3] == ' ') {
      Reply r = std::move(into);
      into = Reply{};
      if (!event_amid) cur_size_ = 0;
      return r;
    }
  }
  return std::nullopt;
}

std::map<std::string, std::string> parse_kv(std::string_view line) {
  std::map<std::string, std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    std::size_t k = i;
    while (k < line.size() && line[k] != ' ' && line[k] != '=') ++k;
    std::string key(line.substr(i, k - i));
    std::string value;
    if (k < line.size() && line[k] == '=') {
      ++k;
      if (k < line.size() && line[k] == '"') {
        ++k;
        while (k < line.size() && line[k] != '"') {
          if (line[k] == '\\' && k + 1 < line.size()) ++k;
          value.push_back(line[k++]);
        }
        if (k < line.size()) ++k;  // the closing quote
      } else {
        const std::size_t v = k;
        while (k < line.size() && line[k] != ' ') ++k;
        value.assign(line.substr(v, k - v));
      }
    }
    out[key] = value;
    i = k;
  }
  return out;
}

std::string quote(std::string_view s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q.push_back('\\');
    q.push_back(c);
  }
  return q + "\"";
}

Bytes safecookie_server_hash(ByteSpan cookie, ByteSpan client_nonce, ByteSpan server_nonce) {
  return hmac256(kServerKey, cookie, client_nonce, server_nonce);
}
Bytes safecookie_client_hash(ByteSpan cookie, ByteSpan client_nonce, ByteSpan server_nonce) {
  return hmac256(kClientKey, cookie, client_nonce, server_nonce);
}

// ---- the controller ---------------------------------------------------------------------

TorController::TorController(TorOptions o) : opts_(std::move(o)) {}

TorController::~TorController() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TorController::start() { thread_ = std::thread([this] { run(); }); }

std::string TorController::onion() const {
  std::lock_guard<std::mutex> g(mu_);
  return onion_;
}

void TorController::say(const std::string& line) {
  if (line == last_said_ || !opts_.log) return;
  last_said_ = line;
  opts_.log(line);
}

void TorController::run() {
  std::uint32_t backoff = 1000;
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stop_) return;
    }
    std::string why;
    const bool was_up = session(why);
    published_.store(false);
    {
      std::unique_lock<std::mutex> lk(mu_);
      if (stop_) return;
      if (!was_up) {
        stats_.failures.fetch_add(1, std::memory_order_relaxed);
        say("Tor control " + opts_.control.to_string() + ": " + why + "; trying again (every " +
            std::to_string(opts_.retry_max_ms / 1000) + " s at most)");
      } else {
        backoff = 1000;
      }
      cv_.wait_for(lk, std::chrono::milliseconds(backoff), [&] { return stop_; });
      if (stop_) return;
    }
    backoff = std::min(backoff * 2, opts_.retry_max_ms);
  }
}

// read_reply: the next reply that is not an asynchronous event; nullopt on a timeout, a
// closed connection or a garbled stream.
std::optional<Reply> TorController::read_reply(netio::BlockingConn& c, ReplyReader& rr, std::uint32_t timeout_ms) {
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    while (auto r = rr.next()) {
      if (!r->async()) return r;
    }
    if (rr.bad()) return std::nullopt;
    const std::uint64_t spent = ms_since(t0);
    std::string got;
    if (spent >= timeout_ms || c.read_some(got, static_cast<std::uint32_t>(timeout_ms - spent), stopping()) != 1)
      return std::nullopt;
    rr.feed(got);
  }
}

std::optional<Reply> TorController::command(netio::BlockingConn& c, ReplyReader& rr, const std::string& line,
                                            std::string& why) {
  if (!c.send_all(line + "\r\n")) {
    why = "the connection closed";
    return std::nullopt;
  }
  auto r = read_reply(c, rr, opts_.io_timeout_ms);
  if (!r) {
    why = rr.bad() ? "not Tor's control protocol" : "no answer (connection closed or timed out)";
    return std::nullopt;
  }
  if (r->code != 250) {
    why = std::to_string(r->code) + " " + (r->lines.empty() ? std::string() : r->lines.back());
    return std::nullopt;
  }
  return r;
}

bool TorController::authenticate(netio::BlockingConn& conn, ReplyReader& rr, std::string& why) {
  auto info = command(conn, rr, "PROTOCOLINFO 1", why);
  if (!info) {
    why = "PROTOCOLINFO: " + why;
    return false;
  }
  std::set<std::string> methods;
  std::string cookie_file;
  for (const auto& l : info->lines) {
    if (l.rfind("AUTH ", 0) != 0) continue;
    auto kv = parse_kv(std::string_view(l).substr(5));
    std::stringstream ss(kv["METHODS"]);
    for (std::string m; std::getline(ss, m, ',');) methods.insert(m);
    cookie_file = kv["COOKIEFILE"];
  }
  bool cookie_ok = false;
  std::string cookie;
  if (!cookie_file.empty()) cookie = netio::read_small_file(cookie_file, 64, cookie_ok);
  cookie_ok = cookie_ok && cookie.size() == 32;
  const ByteSpan ck(reinterpret_cast<const std::uint8_t*>(cookie.data()), cookie.size());
  std::string proof;
  if (methods.count("SAFECOOKIE") && cookie_ok) {
    std::uint8_t cnonce[32];
    (void)crypto::fill_random(cnonce, sizeof cnonce);
    auto ch = command(conn, rr, "AUTHCHALLENGE SAFECOOKIE " + to_hex(ByteSpan(cnonce, 32)), why);
    if (!ch || ch->lines.empty()) {
      why = "AUTHCHALLENGE: " + why;
      return false;
    }
    auto kv = parse_kv(ch->lines.front());
    const auto server_hash = from_hex(kv["SERVERHASH"]);
    const auto server_nonce = from_hex(kv["SERVERNONCE"]);
    if (!server_hash || !server_nonce ||
        *server_hash != safecookie_server_hash(ck, ByteSpan(cnonce, 32), *server_nonce)) {
      why = "Tor's SAFECOOKIE proof does not match its cookie file " + cookie_file;
      return false;
    }
    proof = to_hex(safecookie_client_hash(ck, ByteSpan(cnonce, 32), *server_nonce));
  } else if (methods.count("COOKIE") && cookie_ok) {
    proof = to_hex(ck);
  } else if (methods.count("HASHEDPASSWORD") && !opts_.password.empty()) {
    proof = quote(opts_.password);
  } else if (methods.count("NULL")) {
    proof = "";
  } else {
    std::string offered;
    for (const auto& m : methods) offered += (offered.empty() ? "" : ",") + m;
    why = "cannot log in (Tor offers " + (offered.empty() ? std::string("nothing") : offered) + ")";
    if ((methods.count("SAFECOOKIE") || methods.count("COOKIE")) && !cookie_ok)
      why += ": its cookie file " + cookie_file + " cannot be read by this user (add it to Tor's group, e.g. debian-tor)";
    if (methods.count("HASHEDPASSWORD") && opts_.password.empty()) why += ": set tor.password for HASHEDPASSWORD";
    return false;
  }
  if (!command(conn, rr, proof.empty() ? "AUTHENTICATE" : "AUTHENTICATE " + proof, why)) {
    why = "Tor refused the login: " + why;
    return false;
  }
  return true;
}

bool TorController::publish(netio::BlockingConn& conn, ReplyReader& rr, std::uint16_t target, std::string& why) {
  bool have = false;
  std::string key = netio::read_small_file(opts_.key_path, 1024, have);
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  have = have && !key.empty();
  std::string cmd = "ADD_ONION " + (have ? key + " Flags=DiscardPK" : std::string("NEW:ED25519-V3"));
  const std::uint16_t virt = opts_.p2p_virtual ? opts_.p2p_virtual() : target;
  cmd += " Port=" + std::to_string(virt) + ",127.0.0.1:" + std::to_string(target);
  if (opts_.http_virtual != 0 && opts_.http_target != 0)
    cmd += " Port=" + std::to_string(opts_.http_virtual) + "," + opts_.http_target_host + ":" + std::to_string(opts_.http_target);
  auto r = command(conn, rr, cmd, why);
  if (!r) {
    why = "ADD_ONION: " + why + (have ? " (the key in " + opts_.key_path + ")" : "");
    return false;
  }
  std::string id, private_key;
  for (const auto& l : r->lines) {
    if (l.rfind("ServiceID=", 0) == 0) id = l.substr(10);
    if (l.rfind("PrivateKey=", 0) == 0) private_key = l.substr(11);
  }
  if (id.size() != 56) {
    why = "ADD_ONION answered without a v3 ServiceID";
    return false;
  }
  if (!have) {
    if (private_key.empty() || !netio::write_private_file(opts_.key_path, private_key + "\n"))
      say("onion service key not kept in " + opts_.key_path + ": the address will change at the next start");
  }
  const std::string onion = id + ".onion";
  if (!opts_.address_path.empty()) (void)netio::write_private_file(opts_.address_path, onion + "\n");
  {
    std::lock_guard<std::mutex> g(mu_);
    onion_ = onion;
    service_id_ = id;
  }
  published_.store(true);
  stats_.publishes.fetch_add(1, std::memory_order_relaxed);
  say("onion service " + onion + ":" + std::to_string(virt) + " published (to 127.0.0.1:" + std::to_string(target) + ")" +
      (opts_.http_virtual != 0 && opts_.http_target != 0 ? ", HTTP on port " + std::to_string(opts_.http_virtual) : ""));
  return true;
}

std::function<bool()> TorController::stopping() {
  return [this] {
    std::lock_guard<std::mutex> g(mu_);
    return stop_;
  };
}

bool TorController::session(std::string& why) {
  netio::BlockingConn conn;
  if (!conn.connect(opts_.control, why)) return false;
  stats_.connects.fetch_add(1, std::memory_order_relaxed);
  ReplyReader rr;
  if (!authenticate(conn, rr, why)) return false;
  // The dataplane's onion listener: its port is known once the dataplane is up.
  std::uint16_t target = 0;
  while ((target = opts_.p2p_target ? opts_.p2p_target() : 0) == 0) {
    std::unique_lock<std::mutex> lk(mu_);
    if (cv_.wait_for(lk, std::chrono::milliseconds(200), [&] { return stop_; })) return true;
  }
  if (!publish(conn, rr, target, why)) return false;
  // Up: the service lives as long as this connection. Watch it (Tor's events are read
  // and dropped) and the listener's port.
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (stop_) return true;
    }
    std::string got;
    const int r = conn.read_some(got, 500, stopping());
    if (r < 0) {
      say("Tor control connection lost: the onion service is down until Tor is back");
      return true;
    }
    if (r > 0) {
      rr.feed(got);
      while (rr.next()) {
      }
      if (rr.bad()) return true;
    }
    const std::uint16_t now_target = opts_.p2p_target ? opts_.p2p_target() : target;
    if (now_target != 0 && now_target != target) {  // a restarted dataplane listens elsewhere
      std::string id;
      {
        std::lock_guard<std::mutex> g(mu_);
        id = service_id_;
      }
      (void)command(conn, rr, "DEL_ONION " + id, why);
      target = now_target;
      if (!publish(conn, rr, target, why)) return true;  // the next session tries again
    }
  }
}

}  // namespace relay::tor
