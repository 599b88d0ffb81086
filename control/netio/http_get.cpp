#include "control/netio/http_get.hpp"

#include <curl/curl.h>

#include <cstdlib>

namespace relay::netio {

namespace {

// use_proxy: set the transfer of `url` to go through the proxy configured for its host
// (none: direct). False when the URL's host cannot be read.
bool use_proxy(const HttpGetOptions& o, CURL* c, const std::string& url) {
  if (!o.proxy && !o.onion_proxy) return true;
  CURLU* u = curl_url();
  char* host = nullptr;
  char* port = nullptr;
  const bool parsed = u != nullptr && curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
                      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
  std::string h = parsed ? host : "", p = parsed ? port : "";
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  if (!parsed) return false;
  const bool onion = h.size() > 6 && h.compare(h.size() - 6, 6, ".onion") == 0;
  const auto& proxy = onion ? o.onion_proxy : o.proxy;
  if (!proxy) return true;
  const auto at = net::PeerAddress::ip(proxy->addr, proxy->port);
  // socks5h: the name goes to the proxy; curl resolves nothing itself.
  const std::string proxy_url = "socks5h://" + at.to_string();
  curl_easy_setopt(c, CURLOPT_PROXY, proxy_url.c_str());
  std::optional<net::ProxyLogin> login = proxy->login;
  if (!login && o.isolate) {
    std::string e;
    const auto target = net::PeerAddress::from_host(h, static_cast<std::uint16_t>(std::atoi(p.c_str())), e);
    if (target) login = net::socks5::isolation_login(*target, o.isolation_salt);
  }
  if (login) {
    curl_easy_setopt(c, CURLOPT_PROXYUSERNAME, login->user.c_str());
    curl_easy_setopt(c, CURLOPT_PROXYPASSWORD, login->pass.c_str());
  }
  return true;
}

struct Sink {
  std::string* body;
  std::size_t max;
};

}  // namespace

HttpClient::HttpClient(HttpGetOptions o) : o_(std::move(o)) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == 0;
  if (curl_ready) curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpReply HttpClient::request(const char* method, const std::string& url, const std::vector<std::string>& headers,
                              ByteSpan body) {
  HttpReply r;
  auto* c = static_cast<CURL*>(curl_);
  if (c == nullptr) {
    r.error = "libcurl could not be set up";
    return r;
  }
  curl_easy_reset(c);  // (the connections it keeps stay)
  const HttpGetOptions& o = o_;
  Sink sink{&r.body, o.max_body};
  auto write = +[](char* p, std::size_t sz, std::size_t n, void* ud) -> std::size_t {
    auto* s = static_cast<Sink*>(ud);
    if (s->body->size() + sz * n > s->max) return 0;  // too large: abort the transfer
    s->body->append(p, sz * n);
    return sz * n;
  };
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  const std::string m = method;
  if (m == "POST" || m == "PUT") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.empty() ? "" : reinterpret_cast<const char*>(body.data()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    list = curl_slist_append(list, "Expect:");  // the body at once, without waiting for a 100 Continue
    if (m != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  } else if (m == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (m != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(o.timeout_s));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(o.timeout_s));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "stacks/3.0 (stacks-relay)");
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (list != nullptr) curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  if (o.cancel != nullptr) {  // curl asks about once a second, and at every chunk received
    auto progress = +[](void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
      return static_cast<const std::atomic<bool>*>(ud)->load(std::memory_order_relaxed) ? 1 : 0;
    };
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(o.cancel));
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
  if (!use_proxy(o, c, url)) {
    r.error = "the URL's host cannot be read";
  } else if (const CURLcode rc = curl_easy_perform(c); rc != CURLE_OK) {
    r.error = rc == CURLE_WRITE_ERROR            ? "the answer is larger than " + std::to_string(o.max_body) + " bytes"
              : rc == CURLE_ABORTED_BY_CALLBACK ? std::string("abandoned: stopping")
                                                : std::string(curl_easy_strerror(rc));
    r.body.clear();
  } else {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  }
  curl_slist_free_all(list);
  return r;
}

HttpReply http_get(const HttpGetOptions& o, const std::string& url, const std::vector<std::string>& headers) {
  return HttpClient(o).request("GET", url, headers);
}

}  // namespace relay::netio
