// control/netio/http_get.hpp — blocking HTTP requests for the control plane's helper
// threads (reward sets from nodes, a pair partner's store log and blocks, Gaia uploads), through the
// SOCKS5 proxy configured for the URL's host when there is one ([proxy]: `proxy` for
// every URL, `onion_proxy` for .onion ones; the name goes to the proxy unresolved, as
// curl's socks5h), with a login of its own per host when `isolate` (Tor's stream
// isolation). The body is bounded: a larger answer fails.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relay/base/bytes.hpp"
#include "relay/net/socks5.hpp"

namespace relay::netio {

struct HttpGetOptions {
  std::uint32_t timeout_s = 10;
  std::size_t max_body = 8u << 20;
  std::optional<net::Socks5Proxy> proxy;
  std::optional<net::Socks5Proxy> onion_proxy;
  bool isolate = true;
  std::uint64_t isolation_salt = 0;
  // cancel: when set and it turns true, the transfer under way is abandoned (within about
  // a second): a helper thread being stopped does not wait out a slow server.
  const std::atomic<bool>* cancel = nullptr;
};

struct HttpReply {
  long status = 0;    // 0: no HTTP answer (see error)
  std::string body;
  std::string error;  // what went wrong below HTTP ("" when an answer came)
};

// HttpClient: requests one after another over connections it keeps open between them
// (keep-alive), with the options it was made with. Not thread-safe: one per thread.
class HttpClient {
 public:
  explicit HttpClient(HttpGetOptions o);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  // request: `method` ("GET", "HEAD", "POST", …) on `url` with the extra `headers`
  // ("Name: value") and, for POST and PUT, `body`.
  HttpReply request(const char* method, const std::string& url, const std::vector<std::string>& headers = {},
                    ByteSpan body = {});

 private:
  HttpGetOptions o_;
  void* curl_ = nullptr;  // CURL*
};

// http_get: GET `url` with the extra `headers` ("Name: value").
HttpReply http_get(const HttpGetOptions& o, const std::string& url, const std::vector<std::string>& headers = {});

}  // namespace relay::netio
