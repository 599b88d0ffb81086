// tests/support/gaia_hub.hpp — a stand-in for a Gaia hub (no hub server is packaged: the
// real one is stacks-network/gaia's `hub/`, not on npm or in Debian). It answers the
// write API as the real hub does and checks tokens as its authentication.ts does
// (../shared/MACHINE.md P2.6), with code of its own: nothing of the relay's Gaia client
// (control/gaia/) is used here, so a mistake there cannot hide behind the same mistake.
//
//   GET  /hub_info                       challenge_text, read_url_prefix, max size
//   POST /store/{address}/{filename}     a v1 token for `address`; If-None-Match: * (412
//                                        when the file exists), If-Match: <etag> (412 when
//                                        it differs); 413 past max size; 202 {publicURL, etag}
//   POST /revoke-all/{address}           {"oldestValidTimestamp": n}: tokens issued earlier fail
//   GET  /read/{address}/{filename}      the read side (read_url_prefix points here)
//
// Token checks: "bearer v1:" then a JWT whose header says ES256K; the payload's iss is a
// public key whose ECDSA signature (r ‖ s, any S, as jsontokens' non-strict check) over
// SHA-256 of "header.payload" verifies; its address (Base58Check P2PKH) is the URL's;
// gaiaChallenge is ours; exp, if present, is not past; iat is not before a revoke-all;
// hubUrl, with require_hub_url, is ours. Failures are 401, a bad path 403.
//
// Faults for tests: down() and up() (the port closes and reopens), a delay per write,
// the next N writes answered with a given status, and counters of everything.
#pragma once

#include <secp256k1.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "control/http/server.hpp"
#include "relay/base/hex.hpp"
#include "relay/crypto/hash.hpp"

namespace relay::test {

struct GaiaHubOptions {
  std::uint16_t port = 0;
  std::string server_name = "hub.test";
  std::uint64_t max_bytes = 20u << 20;
  bool require_hub_url = false;
  std::string host = "127.0.0.1";
};

class GaiaHubStandIn {
 public:
  using Options = GaiaHubOptions;
  struct File {
    Bytes bytes;
    std::string content_type;
    std::string etag;
    std::uint64_t creates = 0;  // writes that made or replaced it
  };

  explicit GaiaHubStandIn(Options o = {}) : o_(std::move(o)) { up(); }
  ~GaiaHubStandIn() { down(); }

  // The port stays the same across down() and up().
  void down() {
    std::lock_guard<std::mutex> g(server_mu_);
    server_.reset();
  }
  void up() {
    std::lock_guard<std::mutex> g(server_mu_);
    if (server_) return;
    http::ServerOptions so;
    so.host = o_.host;
    so.port = o_.port;
    so.max_conns_per_ip = 0;
    so.limits.max_body = o_.max_bytes + (1u << 20);  // over max_bytes: our 413, not the parser's
    for (int attempt = 0; attempt < 50 && !server_; ++attempt) {  // a port just closed may linger
      auto s = http::Server::start(so, [this](const http::Request& q, http::Response& r) { handle(q, r); });
      if (s.ok()) {
        server_ = std::move(*s);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    if (server_ && o_.port != server_->port()) o_.port = server_->port();  // (set once: the first start)
  }
  std::uint16_t port() const { return o_.port; }
  std::string url() const { return "http://" + o_.host + ":" + std::to_string(o_.port); }
  std::string read_prefix() const { return url() + "/read/"; }
  std::string challenge() const {
    return "[\"gaiahub\",\"0\",\"" + o_.server_name + "\",\"blockstack_storage_please_sign\"]";
  }

  // set_delay_ms: every write waits this long before it is taken (and answered).
  void set_delay_ms(std::uint32_t ms) { delay_ms_.store(ms); }
  // fail_writes: the next `n` writes are answered `status` (and not stored).
  void fail_writes(int n, int status) {
    std::lock_guard<std::mutex> g(mu_);
    fail_n_ = n;
    fail_status_ = status;
  }
  // put: a file as if someone had written it already.
  void put(const std::string& address, const std::string& name, Bytes b) {
    std::lock_guard<std::mutex> g(mu_);
    File& f = files_[address + "/" + name];
    f.bytes = std::move(b);
    f.content_type = "application/octet-stream";
    f.etag = to_hex(crypto::sha256(f.bytes));
  }
  std::map<std::string, File> files() const {
    std::lock_guard<std::mutex> g(mu_);
    return files_;
  }
  std::uint64_t count(const std::string& what) const {
    std::lock_guard<std::mutex> g(mu_);
    auto it = counts_.find(what);
    return it == counts_.end() ? 0 : it->second;
  }
  std::string last_auth_failure() const {
    std::lock_guard<std::mutex> g(mu_);
    return last_auth_failure_;
  }

  // address_of: Base58Check(0x00 ‖ hash160(key)) of a SEC1 public key.
  static std::string address_of(ByteSpan sec1) {
    secp256k1_pubkey pk;
    unsigned char c33[33];
    std::size_t n = sizeof c33;
    if (secp256k1_ec_pubkey_parse(ctx(), &pk, sec1.data(), sec1.size()) != 1) return "";
    secp256k1_ec_pubkey_serialize(ctx(), c33, &n, &pk, SECP256K1_EC_COMPRESSED);
    Bytes d{0x00};
    const auto h = crypto::hash160(ByteSpan(c33, 33));
    d.insert(d.end(), h.begin(), h.end());
    const auto c = crypto::sha256(crypto::sha256(d));
    d.insert(d.end(), c.begin(), c.begin() + 4);
    static const char* kAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    std::string out;
    Bytes num(d);
    while (!num.empty()) {  // repeated division by 58 of the big-endian number
      unsigned rem = 0;
      Bytes q;
      for (std::uint8_t byte : num) {
        const unsigned cur = rem * 256 + byte;
        if (!q.empty() || cur / 58 != 0) q.push_back(static_cast<std::uint8_t>(cur / 58));
        rem = cur % 58;
      }
      out.insert(out.begin(), kAlphabet[rem]);
      num = std::move(q);
    }
    for (std::size_t i = 0; i < d.size() && d[i] == 0; ++i) out.insert(out.begin(), '1');
    return out;
  }

 private:
  static const secp256k1_context* ctx() {
    static secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    return c;
  }

  static std::optional<std::string> unb64url(std::string_view s) {
    std::string out;
    unsigned acc = 0;
    int bits = 0;
    for (char ch : s) {
      int v = ch >= 'A' && ch <= 'Z' ? ch - 'A' : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26 : ch >= '0' && ch <= '9' ? ch - '0' + 52
              : ch == '-' ? 62 : ch == '_' ? 63 : -1;
      if (v < 0) return std::nullopt;
      acc = (acc << 6) | static_cast<unsigned>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((acc >> bits) & 0xff));
      }
    }
    return out;
  }

  static std::int64_t now() { return static_cast<std::int64_t>(::time(nullptr)); }

  // auth: "" when the request's token may write into `address`, else why not.
  std::string auth(const http::Request& q, const std::string& address) {
    const std::string* h = q.header("authorization");
    if (h == nullptr) return "no Authorization header";
    std::string lower = h->substr(0, 7);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower != "bearer ") return "not a bearer token";
    const std::string tok = h->substr(7);
    if (tok.rfind("v1:", 0) != 0) return "not a v1 token";
    const std::string jwt = tok.substr(3);
    const auto d1 = jwt.find('.'), d2 = jwt.find('.', d1 == std::string::npos ? 0 : d1 + 1);
    if (d1 == std::string::npos || d2 == std::string::npos || jwt.find('.', d2 + 1) != std::string::npos) return "not a JWT";
    const auto head = unb64url(std::string_view(jwt).substr(0, d1));
    const auto body = unb64url(std::string_view(jwt).substr(d1 + 1, d2 - d1 - 1));
    const auto sig = unb64url(std::string_view(jwt).substr(d2 + 1));
    if (!head || !body || !sig) return "not base64url";
    const auto hj = nlohmann::json::parse(*head, nullptr, false);
    const auto pj = nlohmann::json::parse(*body, nullptr, false);
    if (!hj.is_object() || !pj.is_object()) return "header or payload not JSON";
    if (hj.value("alg", "") != "ES256K") return "alg is not ES256K";
    if (!pj.contains("iss") || !pj["iss"].is_string()) return "no iss";
    const auto pkb = from_hex(pj["iss"].get<std::string>());
    secp256k1_pubkey pk;
    if (!pkb || secp256k1_ec_pubkey_parse(ctx(), &pk, pkb->data(), pkb->size()) != 1) return "iss is not a public key";
    if (sig->size() != 64) return "signature is not 64 bytes";
    secp256k1_ecdsa_signature es;
    if (secp256k1_ecdsa_signature_parse_compact(ctx(), &es, reinterpret_cast<const unsigned char*>(sig->data())) != 1)
      return "signature does not parse";
    secp256k1_ecdsa_signature_normalize(ctx(), &es, &es);  // any S (jsontokens checks non-strictly)
    const std::string signed_part = jwt.substr(0, d2);
    const auto digest = crypto::sha256(ByteSpan(reinterpret_cast<const std::uint8_t*>(signed_part.data()), signed_part.size()));
    if (secp256k1_ecdsa_verify(ctx(), &es, digest.data(), &pk) != 1) return "signature does not verify";
    if (address_of(*pkb) != address) return "the token's key is not this bucket's";
    if (pj.value("gaiaChallenge", "") != challenge()) return "wrong challenge";
    if (pj.contains("exp") && pj["exp"].is_number() && pj["exp"].get<double>() < static_cast<double>(now())) return "expired";
    if (auto it = revoked_before_.find(address); it != revoked_before_.end()) {
      if (!pj.contains("iat") || !pj["iat"].is_number()) return "no iat, and the bucket has a revocation";
      if (pj["iat"].get<double>() < static_cast<double>(it->second)) return "revoked";
    }
    if (o_.require_hub_url) {
      std::string hu = pj.value("hubUrl", "");
      while (!hu.empty() && hu.back() == '/') hu.pop_back();
      if (hu != url() && hu != "https://" + o_.server_name) return "wrong hubUrl";
    }
    return "";
  }

  void handle(const http::Request& q, http::Response& r) {
    if (const auto d = delay_ms_.load(); d != 0 && q.path.rfind("/store/", 0) == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(d));
    std::lock_guard<std::mutex> g(mu_);
    ++counts_["requests"];
    if (q.method == "GET" && q.path == "/hub_info") {
      ++counts_["hub_info"];
      nlohmann::json j;
      j["challenge_text"] = challenge();
      j["latest_auth_version"] = "v1";
      j["max_file_upload_size_megabytes"] = static_cast<double>(o_.max_bytes) / (1 << 20);
      j["read_url_prefix"] = read_prefix();
      return r.set_text(200, j.dump(), "application/json");
    }
    if (q.method == "GET" && q.path.rfind("/read/", 0) == 0) {
      ++counts_["reads"];
      auto it = files_.find(q.path.substr(6));
      if (it == files_.end()) return r.set_text(404, "no such file\n");
      r.headers.emplace_back("ETag", "\"" + it->second.etag + "\"");
      return r.set_text(200, std::string(it->second.bytes.begin(), it->second.bytes.end()), it->second.content_type);
    }
    const bool store = q.path.rfind("/store/", 0) == 0, revoke = q.path.rfind("/revoke-all/", 0) == 0;
    if (q.method != "POST" || (!store && !revoke)) return r.set_text(404, "no such route\n");
    const std::string rest = q.path.substr(store ? 7 : 12);
    const std::string address = store ? rest.substr(0, rest.find('/')) : rest;
    const std::string name = store && rest.find('/') != std::string::npos ? rest.substr(rest.find('/') + 1) : "";
    if (address.empty() || !std::all_of(address.begin(), address.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) != 0; }))
      return r.set_text(401, "{\"message\":\"Address not valid\",\"error\":\"ValidationError\"}", "application/json");
    if (const std::string why = auth(q, address); !why.empty()) {
      ++counts_["auth_failures"];
      last_auth_failure_ = why;
      return r.set_text(401, "{\"message\":\"" + why + "\",\"error\":\"ValidationError\"}", "application/json");
    }
    if (revoke) {
      const auto j = nlohmann::json::parse(std::string(q.body.begin(), q.body.end()), nullptr, false);
      if (!j.is_object() || !j.contains("oldestValidTimestamp") || !j["oldestValidTimestamp"].is_number())
        return r.set_text(400, "{\"message\":\"oldestValidTimestamp is needed\"}", "application/json");
      revoked_before_[address] = j["oldestValidTimestamp"].get<std::int64_t>();
      return r.set_text(202, "{\"status\":\"success\"}", "application/json");
    }
    if (name.empty() || name.find("..") != std::string::npos || name.front() == '/' || name.find("//") != std::string::npos)
      return r.set_text(403, "{\"message\":\"Invalid file name\",\"error\":\"BadPathError\"}", "application/json");
    ++counts_["writes"];
    if (fail_n_ > 0) {
      --fail_n_;
      ++counts_["failed_on_purpose"];
      return r.set_text(fail_status_, "{\"message\":\"failing on purpose\"}", "application/json");
    }
    if (q.body.size() > o_.max_bytes) {
      ++counts_["too_large"];
      return r.set_text(413, "{\"message\":\"Max file size exceeded\",\"error\":\"PayloadTooLargeError\"}", "application/json");
    }
    const std::string key = address + "/" + name;
    auto it = files_.find(key);
    const std::string* inm = q.header("if-none-match");
    const std::string* im = q.header("if-match");
    if (inm != nullptr && im != nullptr) return r.set_text(400, "{\"message\":\"If-Match and If-None-Match together\"}", "application/json");
    if ((inm != nullptr && *inm == "*" && it != files_.end()) ||
        (im != nullptr && (it == files_.end() || (*im != it->second.etag && *im != "\"" + it->second.etag + "\"")))) {
      ++counts_["precondition_failed"];
      return r.set_text(412, "{\"message\":\"The provided ifMatch or ifNoneMatch does not match\",\"error\":\"PreconditionFailedError\"}",
                        "application/json");
    }
    File& f = files_[key];
    f.bytes = q.body;
    const std::string* ct = q.header("content-type");
    f.content_type = ct != nullptr ? *ct : "application/octet-stream";
    f.etag = to_hex(crypto::sha256(f.bytes));
    f.creates += 1;
    ++counts_["stored"];
    nlohmann::json j;
    j["publicURL"] = read_prefix() + key;
    j["etag"] = f.etag;
    r.set_text(202, j.dump(), "application/json");
  }

  Options o_;
  std::mutex server_mu_;
  std::unique_ptr<http::Server> server_;
  mutable std::mutex mu_;
  std::map<std::string, File> files_;
  std::map<std::string, std::uint64_t> counts_;
  std::map<std::string, std::int64_t> revoked_before_;
  std::string last_auth_failure_;
  int fail_n_ = 0, fail_status_ = 503;
  std::atomic<std::uint32_t> delay_ms_{0};
};

}  // namespace relay::test
