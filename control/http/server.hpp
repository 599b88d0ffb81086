// control/http/server.hpp — the relay's HTTP/1.1 server: one thread of its own in the
// control process (so neither the dataplane nor the control loop ever waits on a
// client), epoll over non-blocking sockets, keep-alive and pipelining (answered one
// response at a time, nothing more read meanwhile), the request limits of RequestParser,
// a per-address connection limit, one memory budget for responses built in memory, and
// timeouts for clients that are slow to send a request (10 s), idle between requests
// (30 s) or slow to read a response (30 s without a byte taken).
//
// A response body can be a view into memory the handler keeps alive (`keep`), e.g. a
// block in a store snapshot: it is written from there, never copied.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "control/http/request_parser.hpp"
#include "relay/base/result.hpp"

namespace relay::http {

struct Response;

// Later: a response the handler gives later, from any thread (e.g. once a fetch from
// elsewhere is done). finish() once; a Later dropped unfinished answers 503. The
// connection waits meanwhile (nothing read from it); past deferred_timeout_ms it is
// answered 504 and the late answer dropped.
class Later {
 public:
  struct Queue;  // the server's: where finished responses wait for its thread
  Later(std::shared_ptr<Queue> q, std::uint64_t conn) : q_(std::move(q)), conn_(conn) {}
  ~Later();
  Later(const Later&) = delete;
  Later& operator=(const Later&) = delete;
  void finish(Response r);
  // withdraw: the handler answers now after all (with Response::deferred set false).
  void withdraw() { done_ = true; }

 private:
  std::shared_ptr<Queue> q_;
  std::uint64_t conn_;
  bool done_ = false;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain";
  std::vector<std::pair<std::string, std::string>> headers;  // beyond the standard ones
  std::string text;             // the body, when the response owns it
  ByteSpan view;                // or a view (used when `text` is empty)
  std::shared_ptr<void> keep;   // keeps `view` valid until it is written
  bool no_body = false;         // HEAD and 304: headers (with the body's length) only

  // defer: the handler answers later, through the Later returned (set by the server;
  // nullptr when this response cannot be deferred, e.g. outside a server).
  std::shared_ptr<Later> defer() {
    if (!make_later) return nullptr;
    deferred = true;
    return make_later();
  }
  bool deferred = false;
  std::function<std::shared_ptr<Later>()> make_later;

  void set_text(int st, std::string body, std::string type = "text/plain") {
    status = st;
    text = std::move(body);
    content_type = std::move(type);
  }
};

using Handler = std::function<void(const Request&, Response&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port
  std::size_t max_conns = 1024;
  std::uint32_t max_conns_per_ip = 16;  // per client address (an IPv6 /64 counts as one); 0: no limit
  // Memory for response bodies built in memory (tenures are copies of their blocks),
  // across every connection; past it, requests wait for responses to drain. Blocks by
  // id are written from the store's map and do not count.
  std::size_t response_budget = std::size_t{128} << 20;
  // serve_now: start serving at once; false: bound and listening, but nothing accepted
  // or read until serve() (e.g. once the process has dropped root).
  bool serve_now = true;
  std::uint64_t header_timeout_ms = 10'000;
  std::uint64_t idle_timeout_ms = 30'000;
  std::uint64_t write_timeout_ms = 30'000;
  // A deferred answer not finished within this long: 504 (the connection goes on; the late
  // answer is dropped). Below the usual 30 s of a client or a CDN's origin timeout.
  std::uint64_t deferred_timeout_ms = 25'000;
  ParserLimits limits;
};

struct ServerStats {
  std::atomic<std::uint64_t> accepted{0}, refused{0}, requests{0}, client_errors{0}, server_errors{0},
      timeouts{0}, bytes_out{0};
  std::atomic<std::uint64_t> refused_full{0}, refused_per_ip{0};  // refused: max_conns, max_conns_per_ip
  std::atomic<std::uint64_t> budget_waits{0};                     // requests that waited for response memory
  std::atomic<std::uint64_t> response_bytes{0};                   // gauge: bodies built in memory, not yet written
  std::atomic<std::uint64_t> deferred{0}, deferred_dropped{0};     // answered later; of those, the client gone meanwhile
  std::atomic<std::uint64_t> deferred_timeouts{0};                  // deferred answers given up on (504)
};

class Server {
 public:
  // start: bind and listen (errors are returned, with errno in the offset), then serve
  // on a thread of its own until destroyed (from serve() when !opts.serve_now).
  static Result<std::unique_ptr<Server>> start(const ServerOptions& opts, Handler handler);
  void serve();
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  const ServerStats& stats() const noexcept { return stats_; }
  std::size_t connections() const noexcept { return conns_.load(std::memory_order_relaxed); }

 private:
  Server() = default;
  void run();

  ServerOptions opts_;
  Handler handler_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> conns_{0};
  std::shared_ptr<Later::Queue> later_;
  ServerStats stats_;
  std::thread thread_;
};

// status_text: "OK", "Not Found", … for the status line.
const char* status_text(int status) noexcept;

}  // namespace relay::http
