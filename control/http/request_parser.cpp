#include "control/http/request_parser.hpp"

#include <http_parser.h>

#include <algorithm>
#include <cctype>

namespace relay::http {

const std::string* Request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return &v;
  return nullptr;
}

struct RequestParser::Impl {
  http_parser p{};
  ParserLimits limits;
  RequestParser* owner = nullptr;
  Request cur;
  std::string url;
  std::string field, value;
  bool in_value = false;
  std::vector<Request>* out = nullptr;
  bool in_message = false;
  int fail_status = 0;
  std::string fail_reason;

  int fail(int status, std::string why) {
    fail_status = status;
    fail_reason = std::move(why);
    // Stops http_parser_execute from any callback (on_headers_complete reads 1 and 2 as
    // "no body" / "upgrade", so the error value is -1).
    return -1;
  }
  int finish_header() {
    if (field.empty()) return 0;
    std::string name = field;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (cur.header(name) != nullptr) return fail(400, "duplicate header: " + name);
    if (cur.headers.size() >= limits.max_headers) return fail(431, "more than " + std::to_string(limits.max_headers) + " headers");
    cur.headers.emplace_back(std::move(name), std::move(value));
    field.clear();
    value.clear();
    in_value = false;
    return 0;
  }
};

namespace {
RequestParser::Impl& impl(http_parser* p) { return *static_cast<RequestParser::Impl*>(p->data); }

const http_parser_settings& settings() {
  static const http_parser_settings s = [] {
    http_parser_settings st;
    http_parser_settings_init(&st);
    st.on_message_begin = [](http_parser* p) -> int {
      auto& m = impl(p);
      m.in_message = true;
      m.cur = Request{};
      m.url.clear();
      m.field.clear();
      m.value.clear();
      m.in_value = false;
      return 0;
    };
    st.on_url = [](http_parser* p, const char* at, std::size_t n) -> int {
      auto& m = impl(p);
      if (m.url.size() + n > m.limits.max_url) return m.fail(414, "URL longer than " + std::to_string(m.limits.max_url) + " bytes");
      m.url.append(at, n);
      return 0;
    };
    st.on_header_field = [](http_parser* p, const char* at, std::size_t n) -> int {
      auto& m = impl(p);
      if (m.in_value && m.finish_header() != 0) return -1;
      if (m.field.size() + n > 256) return m.fail(431, "header name longer than 256 bytes");
      m.field.append(at, n);
      return 0;
    };
    st.on_header_value = [](http_parser* p, const char* at, std::size_t n) -> int {
      auto& m = impl(p);
      m.in_value = true;
      if (m.value.size() + n > m.limits.max_header_value)
        return m.fail(431, "header value longer than " + std::to_string(m.limits.max_header_value) + " bytes");
      m.value.append(at, n);
      return 0;
    };
    st.on_headers_complete = [](http_parser* p) -> int {
      auto& m = impl(p);
      if (m.finish_header() != 0) return -1;  // (1 would mean "no body" here)
      if (m.cur.header("host") == nullptr) return m.fail(400, "missing Host header");
      if (p->content_length != ULLONG_MAX && p->content_length > m.limits.max_body)
        return m.fail(413, "body larger than " + std::to_string(m.limits.max_body) + " bytes");
      m.cur.method = http_method_str(static_cast<http_method>(p->method));
      m.cur.version_minor = p->http_minor;
      m.cur.keep_alive = http_should_keep_alive(p) != 0;
      http_parser_url u;
      http_parser_url_init(&u);
      if (http_parser_parse_url(m.url.data(), m.url.size(), p->method == HTTP_CONNECT, &u) != 0)
        return m.fail(400, "malformed URL");
      if ((u.field_set & (1 << UF_PATH)) == 0) return m.fail(400, "URL has no path");
      m.cur.path = m.url.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
      if (u.field_set & (1 << UF_QUERY)) m.cur.query = m.url.substr(u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
      return 0;
    };
    st.on_body = [](http_parser* p, const char* at, std::size_t n) -> int {
      auto& m = impl(p);
      if (m.cur.body.size() + n > m.limits.max_body)
        return m.fail(413, "body larger than " + std::to_string(m.limits.max_body) + " bytes");
      m.cur.body.insert(m.cur.body.end(), at, at + n);
      return 0;
    };
    st.on_message_complete = [](http_parser* p) -> int {
      auto& m = impl(p);
      if (m.out->size() >= 32) return m.fail(429, "too many pipelined requests");
      m.out->push_back(std::move(m.cur));
      m.cur = Request{};
      m.in_message = false;
      return 0;
    };
    return st;
  }();
  return s;
}
}  // namespace

RequestParser::RequestParser(ParserLimits limits) : impl_(std::make_unique<Impl>()) {
  http_parser_init(&impl_->p, HTTP_REQUEST);
  impl_->p.data = impl_.get();
  impl_->limits = limits;
  impl_->owner = this;
}

RequestParser::~RequestParser() = default;

bool RequestParser::feed(ByteSpan in, std::vector<Request>& out) {
  if (failed_) return false;
  impl_->out = &out;
  const std::size_t n = http_parser_execute(&impl_->p, &settings(), reinterpret_cast<const char*>(in.data()), in.size());
  const auto errno_ = HTTP_PARSER_ERRNO(&impl_->p);
  if (impl_->fail_status != 0) {
    err_ = Failure{impl_->fail_status, impl_->fail_reason};
    failed_ = true;
    return false;
  }
  if (errno_ != HPE_OK || n != in.size()) {
    err_ = Failure{errno_ == HPE_HEADER_OVERFLOW ? 431 : 400, http_errno_description(errno_)};
    failed_ = true;
    return false;
  }
  return true;
}

bool RequestParser::mid_request() const noexcept { return impl_->in_message; }

}  // namespace relay::http
