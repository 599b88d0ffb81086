#include "relay/net/sam.hpp"

#include "relay/crypto/hash.hpp"

namespace relay::net::sam {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~";
constexpr char kB32[] = "abcdefghijklmnopqrstuvwxyz234567";

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

Dialogue::Step fail(Result r) { return Dialogue::failed(dial_error(DialErrSource::kSam, static_cast<int>(r))); }

// next_line: the first whole line of `in` (without its end), and how many bytes it took.
std::optional<std::string> next_line(ByteSpan in, std::size_t& used) {
  for (std::size_t i = 0; i < in.size(); ++i)
    if (in[i] == '\n') {
      used = i + 1;
      std::string l(reinterpret_cast<const char*>(in.data()), i);
      if (!l.empty() && l.back() == '\r') l.pop_back();
      return l;
    }
  return std::nullopt;
}

// expect: the line is `topic kind` with RESULT=OK; else the failure to report.
std::optional<Dialogue::Step> expect(const std::string& line, const char* topic, const char* kind) {
  auto l = parse_line(line);
  if (!l || l->topic != topic || l->kind != kind) return Dialogue::garbled();
  const Result r = parse_result(l->kv.count("RESULT") ? l->kv["RESULT"] : "");
  if (r != Result::kOk) return fail(r);
  return std::nullopt;
}

}  // namespace

Result parse_result(std::string_view s) {
  static const std::pair<const char*, Result> kNames[] = {
      {"OK", Result::kOk},
      {"CANT_REACH_PEER", Result::kCantReachPeer},
      {"DUPLICATED_DEST", Result::kDuplicatedDest},
      {"I2P_ERROR", Result::kI2pError},
      {"INVALID_KEY", Result::kInvalidKey},
      {"KEY_NOT_FOUND", Result::kKeyNotFound},
      {"PEER_NOT_FOUND", Result::kPeerNotFound},
      {"TIMEOUT", Result::kTimeout},
      {"INVALID_ID", Result::kInvalidId},
      {"DUPLICATED_ID", Result::kDuplicatedId},
      {"ALREADY_ACCEPTING", Result::kAlreadyAccepting},
      {"NOVERSION", Result::kNoVersion},
  };
  for (const auto& [name, r] : kNames)
    if (s == name) return r;
  return Result::kOther;
}

std::string describe(int code) {
  switch (static_cast<Result>(code)) {
    case Result::kOk: return "OK";
    case Result::kCantReachPeer: return "cannot reach the peer (CANT_REACH_PEER)";
    case Result::kDuplicatedDest: return "the destination is already in use by another session (DUPLICATED_DEST)";
    case Result::kI2pError: return "I2P error (I2P_ERROR)";
    case Result::kInvalidKey: return "invalid key or destination (INVALID_KEY)";
    case Result::kKeyNotFound: return "no such destination in the address book (KEY_NOT_FOUND)";
    case Result::kPeerNotFound: return "the peer's destination was not found (PEER_NOT_FOUND)";
    case Result::kTimeout: return "timed out (TIMEOUT)";
    case Result::kInvalidId: return "no such session: the bridge lost it or restarted (INVALID_ID)";
    case Result::kDuplicatedId: return "the session id is already in use (DUPLICATED_ID)";
    case Result::kAlreadyAccepting: return "the session is already accepting (ALREADY_ACCEPTING)";
    case Result::kNoVersion: return "the bridge does not speak SAM 3.1 (NOVERSION)";
    case Result::kOther: break;
  }
  return "failure " + std::to_string(code);
}

std::optional<Line> parse_line(std::string_view line) {
  Line out;
  std::size_t i = 0;
  auto word = [&]() -> std::string {
    while (i < line.size() && line[i] == ' ') ++i;
    const std::size_t s = i;
    while (i < line.size() && line[i] != ' ') ++i;
    return std::string(line.substr(s, i - s));
  };
  out.topic = word();
  out.kind = word();
  if (out.topic.empty()) return std::nullopt;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    const std::size_t k = i;
    while (i < line.size() && line[i] != '=' && line[i] != ' ') ++i;
    std::string key(line.substr(k, i - k)), value;
    if (i < line.size() && line[i] == '=') {
      ++i;
      if (i < line.size() && line[i] == '"') {
        ++i;
        while (i < line.size() && line[i] != '"') value.push_back(line[i++]);
        if (i < line.size()) ++i;
      } else {
        const std::size_t v = i;
        while (i < line.size() && line[i] != ' ') ++i;
        value.assign(line.substr(v, i - v));
      }
    }
    out.kv[key] = value;
  }
  return out;
}

std::string base64_encode(ByteSpan b) {
  std::string out;
  out.reserve((b.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < b.size(); i += 3) {
    const std::uint32_t n = std::uint32_t{b[i]} << 16 | (i + 1 < b.size() ? std::uint32_t{b[i + 1]} << 8 : 0u) |
                            (i + 2 < b.size() ? std::uint32_t{b[i + 2]} : 0u);
    out.push_back(kB64[(n >> 18) & 63]);
    out.push_back(kB64[(n >> 12) & 63]);
    out.push_back(i + 1 < b.size() ? kB64[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < b.size() ? kB64[n & 63] : '=');
  }
  return out;
}

std::optional<Bytes> base64_decode(std::string_view s) {
  if (s.size() % 4 != 0) return std::nullopt;
  Bytes out;
  out.reserve(s.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '=') {
      if (i + 2 < s.size()) return std::nullopt;  // padding only at the end
      ++pad;
      continue;
    }
    if (pad != 0) return std::nullopt;
    const char* p = nullptr;
    for (const char* q = kB64; *q != 0; ++q)
      if (*q == c) p = q;
    if (p == nullptr) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
    }
  }
  return out;
}

std::optional<Bytes> public_destination(ByteSpan key) {
  constexpr std::size_t kFixed = 387;  // 256 encryption + 128 signing key + 3 certificate header
  if (key.size() < kFixed) return std::nullopt;
  const std::size_t cert = std::size_t{key[385]} << 8 | key[386];
  if (key.size() < kFixed + cert) return std::nullopt;
  return Bytes(key.begin(), key.begin() + static_cast<long>(kFixed + cert));
}

std::string b32_address(ByteSpan destination) {
  const auto h = crypto::sha256(destination);
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : h) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kB32[(acc >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(kB32[(acc << (5 - bits)) & 31]);
  return out + ".b32.i2p";
}

// ---- the dialogues -------------------------------------------------------------------

namespace {
const std::string kHello = "HELLO VERSION MIN=3.1 MAX=3.1\n";
}

Bytes Connect::opening() { return text(kHello); }

Dialogue::Step Connect::on_bytes(ByteSpan in) {
  Step s;
  std::size_t used = 0;
  auto line = next_line(in, used);
  if (!line) return s;
  s.consumed = used;
  switch (phase_) {
    case Phase::kHello:
      if (auto f = expect(*line, "HELLO", "REPLY")) return *f;
      phase_ = Phase::kLookup;
      s.send = text("NAMING LOOKUP NAME=" + target_.name() + "\n");
      return s;
    case Phase::kLookup: {
      if (auto f = expect(*line, "NAMING", "REPLY")) return *f;
      auto l = parse_line(*line);
      const std::string dest = l->kv["VALUE"];
      if (dest.empty() || !base64_decode(dest)) return Dialogue::garbled();
      phase_ = Phase::kConnect;
      s.send = text("STREAM CONNECT ID=" + session_ + " DESTINATION=" + dest + " SILENT=false\n");
      return s;
    }
    case Phase::kConnect:
      if (auto f = expect(*line, "STREAM", "STATUS")) return *f;
      s.state = State::kDone;
      return s;
  }
  return Dialogue::garbled();
}

Bytes Accept::opening() { return text(kHello); }

Dialogue::Step Accept::on_bytes(ByteSpan in) {
  Step s;
  std::size_t used = 0;
  auto line = next_line(in, used);
  if (!line) return s;
  s.consumed = used;
  switch (phase_) {
    case Phase::kHello:
      if (auto f = expect(*line, "HELLO", "REPLY")) return *f;
      phase_ = Phase::kAccept;
      s.send = text("STREAM ACCEPT ID=" + session_ + " SILENT=false\n");
      return s;
    case Phase::kAccept:
      if (auto f = expect(*line, "STREAM", "STATUS")) return *f;
      phase_ = Phase::kPeer;  // now wait, for as long as it takes, for a peer
      return s;
    case Phase::kPeer: {
      // The peer's destination, and (SAM 3.2 bridges) FROM_PORT= TO_PORT= after it.
      const std::string dest = line->substr(0, line->find(' '));
      const auto raw = base64_decode(dest);
      const auto pub = raw ? public_destination(*raw) : std::nullopt;
      if (!pub) return Dialogue::garbled();
      std::string err;
      peer_ = PeerAddress::from_host(b32_address(*pub), 0, err);
      if (!peer_) return Dialogue::garbled();
      s.state = State::kDone;
      return s;
    }
  }
  return Dialogue::garbled();
}

}  // namespace relay::net::sam
