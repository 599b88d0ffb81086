// Any byte stream, in any chunking, into the HTTP request parser: it never crashes or
// hangs, every request it returns has a Host header and is within the limits, and a
// refusal carries one of the documented statuses and is final.
#include <cstdint>
#include <vector>

#include "control/http/request_parser.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace relay;
  if (size == 0) return 0;
  http::ParserLimits lim;
  lim.max_body = 4096;
  http::RequestParser p(lim);
  const std::size_t chunk = 1 + data[0] % 64;  // the first byte picks the chunking
  std::vector<http::Request> out;
  bool failed = false;
  for (std::size_t at = 1; at < size; at += chunk) {
    const bool ok = p.feed(ByteSpan(data + at, std::min(chunk, size - at)), out);
    if (!ok) {
      const int st = p.error().status;
      FUZZ_CHECK(st == 400 || st == 413 || st == 414 || st == 429 || st == 431);
      failed = true;
      break;
    }
  }
  if (failed) {
    std::vector<http::Request> more;
    FUZZ_CHECK(!p.feed(ByteSpan(data, 1), more) && more.empty());
  }
  for (const auto& r : out) {
    FUZZ_CHECK(r.header("host") != nullptr);
    FUZZ_CHECK(r.headers.size() <= lim.max_headers);
    for (const auto& [k, v] : r.headers) FUZZ_CHECK(v.size() <= lim.max_header_value);
    FUZZ_CHECK(r.body.size() <= lim.max_body);
    FUZZ_CHECK(!r.path.empty());
  }
  return 0;
}
