// control/http/request_parser.hpp — HTTP/1.x requests from a byte stream, parsed by
// nodejs' http-parser (Debian libhttp-parser-dev) with the limits of PROTOCOL.md §8:
// at most 64 headers, each value at most 4096 bytes, no duplicate header, a Host header,
// a bounded URL and body. Requests may be pipelined; each is returned whole.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relay/base/bytes.hpp"

namespace relay::http {

struct Request {
  std::string method;  // "GET", "HEAD", "POST", …
  std::string path;    // the URL's path, without the query
  std::string query;   // after '?', may be empty
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  Bytes body;
  bool keep_alive = true;
  unsigned version_minor = 1;

  const std::string* header(std::string_view lower_name) const;
};

struct ParserLimits {
  std::size_t max_headers = 64;
  std::size_t max_header_value = 4096;
  std::size_t max_url = 4096;
  std::size_t max_body = 16 * 1024 * 1024;
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // feed: consume bytes; completed requests are appended to `out`. On a malformed or
  // over-limit request feed() returns false and error() says what (status and text); the
  // connection must then be answered with that status and closed.
  bool feed(ByteSpan in, std::vector<Request>& out);
  struct Failure {
    int status = 400;
    std::string reason;
  };
  const Failure& error() const noexcept { return err_; }
  // mid_request: bytes of an unfinished request have been received.
  bool mid_request() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  Failure err_;
  bool failed_ = false;
};

}  // namespace relay::http
