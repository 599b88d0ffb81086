#include "relay/codec/strings.hpp"

#include "relay/codec/limits.hpp"
#include "relay/codec/message.hpp"

namespace relay::codec {

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

std::string_view as_view(ByteSpan s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

// Reads `len` bytes as a string after a length prefix already read at `at`: checked by
// `valid` on the input itself, then copied to `out` (cleared instead when skimming).
template <typename Valid>
bool take_string(Reader& r, std::size_t len, std::string& out, Valid valid) {
  ByteSpan s = r.take(len);
  if (!r.ok()) return false;
  if (!valid(as_view(s))) return false;
  if (r.skimming()) out.clear();
  else out.assign(as_view(s));
  return true;
}

bool ascii_only(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

}  // namespace

// ^([a-zA-Z](([a-zA-Z0-9]|[-_])){0,127})$ | ^__transient$
bool is_valid_contract_name(std::string_view s) noexcept {
  if (s == "__transient") return true;
  if (s.empty() || s.size() > 128 || !is_alpha(s[0])) return false;
  for (char c : s.substr(1))
    if (!is_alnum(c) && c != '-' && c != '_') return false;
  return true;
}

// ^[a-zA-Z]([a-zA-Z0-9]|[-_!?+<>=/*])*$ | ^[-+=/*]$ | ^[<>]=?$
bool is_valid_clarity_name(std::string_view s) noexcept {
  if (s.empty()) return false;
  if (is_alpha(s[0])) {
    for (char c : s.substr(1)) {
      if (is_alnum(c)) continue;
      switch (c) {
        case '-': case '_': case '!': case '?': case '+': case '<': case '>': case '=': case '/': case '*':
          continue;
        default: return false;
      }
    }
    return true;
  }
  if (s.size() == 1) return s[0] == '-' || s[0] == '+' || s[0] == '=' || s[0] == '/' || s[0] == '*' ||
                            s[0] == '<' || s[0] == '>';
  return s.size() == 2 && (s[0] == '<' || s[0] == '>') && s[1] == '=';
}

bool is_valid_stacks_string(std::string_view s) noexcept {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (!((c >= 0x20 && c <= 0x7e) || c == '\t' || c == '\n')) return false;
  }
  return true;
}

void read_contract_name(Reader& r, std::string& out, std::size_t max_len) {
  std::size_t at = r.pos();
  std::uint8_t len = r.u8();
  if (!r.ok()) return;
  if (len < 1 || len > max_len) return r.fail_at(at, Errc::kLimit, "contract name length out of range");
  if (!take_string(r, len, out, is_valid_contract_name) && r.ok())
    r.fail_at(at, Errc::kBadValue, "invalid contract name");
}

void read_clarity_name(Reader& r, std::string& out) {
  std::size_t at = r.pos();
  std::uint8_t len = r.u8();
  if (!r.ok()) return;
  if (len > kMaxClarityNameLen) return r.fail_at(at, Errc::kLimit, "Clarity name longer than 128");
  if (!take_string(r, len, out, is_valid_clarity_name) && r.ok())
    r.fail_at(at, Errc::kBadValue, "invalid Clarity name");
}

void read_stacks_string(Reader& r, std::string& out, std::uint32_t max_len) {
  std::size_t at = r.pos();
  std::uint32_t len = r.u32();
  if (!r.ok()) return;
  if (len > max_len) return r.fail_at(at, Errc::kLimit, "string too long");
  if (!take_string(r, len, out, is_valid_stacks_string) && r.ok())
    r.fail_at(at, Errc::kBadValue, "string has a byte outside printable ASCII/TAB/LF");
}

void read_url_string(Reader& r, std::string& out) {
  std::size_t at = r.pos();
  std::uint8_t len = r.u8();
  if (!r.ok()) return;
  if (len > kMaxUrlLen) return r.fail_at(at, Errc::kLimit, "URL longer than 128 bytes");
  const char* why = nullptr;
  if (!take_string(r, len, out, [&](std::string_view v) { return (why = validate_url(v)) == nullptr; }) && r.ok())
    r.fail_at(at, Errc::kBadValue, why);
}

void write_u8_string(Writer& w, std::string_view s) {
  w.u8(static_cast<std::uint8_t>(s.size()));
  w.bytes(ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

void write_u32_string(Writer& w, std::string_view s) {
  w.u32(static_cast<std::uint32_t>(s.size()));
  w.bytes(ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

// The reference node checks the character set, then parses with a WHATWG URL parser
// and requires scheme http/https, a host, no username/password, no query, no
// fragment (an empty "?" or "#" counts). This follows the same rules for the inputs
// the character set allows; exotic host syntax the parser would normalise is accepted.
const char* validate_url(std::string_view url) noexcept {
  if (url.size() > kMaxUrlLen) return "URL longer than 128 bytes";
  static constexpr std::string_view kExtra = "._~:/?#[]@!$&'()*+,;%=-";
  for (char c : url)
    if (!is_alnum(c) && kExtra.find(c) == std::string_view::npos) return "URL has a disallowed character";
  if (url.empty()) return nullptr;
  if (!ascii_only(url)) return "URL is not ASCII";
  std::size_t colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0) return "URL has no scheme";
  std::string scheme(url.substr(0, colon));
  for (char& c : scheme) {
    if (!is_alnum(c) && c != '+' && c != '-' && c != '.') return "URL has an invalid scheme";
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!is_alpha(scheme[0])) return "URL has an invalid scheme";
  if (scheme != "http" && scheme != "https") return "URL scheme is not http or https";
  if (url.find('?') != std::string_view::npos) return "URL has a query";
  if (url.find('#') != std::string_view::npos) return "URL has a fragment";
  std::string_view rest = url.substr(colon + 1);
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);  // special schemes ignore slashes
  std::string_view authority = rest.substr(0, rest.find('/'));
  std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    if (at != 0) return "URL has a username or password";
    authority.remove_prefix(1);
  }
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos) return "URL has an unterminated IPv6 host";
    std::string_view after = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!after.empty() && after.front() != ':') return "URL host is malformed";
    authority = after;
  } else {
    std::size_t pc = host.rfind(':');
    authority = pc == std::string_view::npos ? std::string_view{} : host.substr(pc);
    host = host.substr(0, pc == std::string_view::npos ? host.size() : pc);
    if (host.find('[') != std::string_view::npos || host.find(']') != std::string_view::npos)
      return "URL host is malformed";
  }
  if (host.empty()) return "URL has no host";
  if (!authority.empty()) {  // ":port"
    std::string_view port = authority.substr(1);
    if (port.size() > 5) return "URL port out of range";
    unsigned v = 0;
    for (char c : port) {
      if (!is_digit(c)) return "URL port is not a number";
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > 65535) return "URL port out of range";
  }
  return nullptr;
}

}  // namespace relay::codec
