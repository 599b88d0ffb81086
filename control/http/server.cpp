#include "control/http/server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>

#include "relay/codec/types.hpp"
#include "relay/net/address.hpp"

namespace relay::http {

const char* status_text(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

namespace {

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

std::string http_date() {
  char buf[64];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

struct Out {
  std::string head;
  std::string owned;            // the body, when owned here (text responses)
  ByteSpan view;                // or a view, kept alive by `keep`
  std::shared_ptr<void> keep;
  std::size_t done = 0;         // bytes of head + body written
  // (Computed on use: `owned` may keep short text inside the string object, which moves.)
  ByteSpan body() const {
    return owned.empty() ? view : ByteSpan(reinterpret_cast<const std::uint8_t*>(owned.data()), owned.size());
  }
  std::size_t size() const { return head.size() + body().size(); }
};

struct Conn {
  int fd = -1;
  std::uint64_t id = 0;   // unique for the server's life (fds are reused)
  bool parked = false;    // a deferred response is awaited
  bool parked_head = false, parked_close = false;
  std::uint64_t parked_at = 0;  // ms
  codec::Addr16 block{};  // the client's address block (per-address limit)
  RequestParser parser;
  std::deque<Request> pending;  // parsed, not answered yet (served one at a time)
  std::deque<Out> out;          // at most one response (the one being written)
  std::uint64_t last_activity = 0;  // ms: bytes read or written
  std::uint64_t last_write = 0;     // ms: bytes written, or the response queued
  std::uint64_t request_started = 0;  // ms, 0: between requests
  std::uint32_t events = 0;  // the epoll interest set now
  bool close_after = false;  // close once `out` is written
  bool waiting = false;      // in the list of connections waiting for response memory
  std::optional<Response> error_reply;  // a bad request: answered after those before it, then closed
  explicit Conn(const ParserLimits& l) : parser(l) {}
};

// The head of a response: the node's standard headers (PROTOCOL.md §8), then ours.
std::string render_head(const Response& r, std::size_t body_len, bool close) {
  std::string h;
  h.reserve(512);
  h += "HTTP/1.1 " + std::to_string(r.status) + " " + status_text(r.status) + "\r\n";
  h += "Server: stacks/2.0 (stacks-relay)\r\n";
  h += "Date: " + http_date() + "\r\n";
  h += "Access-Control-Allow-Origin: *\r\n";
  h += "Access-Control-Allow-Headers: origin, content-type\r\n";
  h += "Access-Control-Allow-Methods: POST, GET, OPTIONS\r\n";
  if (r.status != 304) h += "Content-Type: " + r.content_type + "\r\n";
  h += "Content-Length: " + std::to_string(body_len) + "\r\n";
  for (const auto& [k, v] : r.headers) h += k + ": " + v + "\r\n";
  if (close) h += "Connection: close\r\n";
  h += "\r\n";
  return h;
}


}  // namespace

struct Later::Queue {
  std::mutex mu;
  std::vector<std::pair<std::uint64_t, Response>> done;  // (connection id, response)
  int wake_fd = -1;
  bool closed = false;  // the server is gone: nothing is taken any more
};

void Later::finish(Response r) {
  if (done_) return;
  done_ = true;
  std::lock_guard<std::mutex> g(q_->mu);
  if (q_->closed) return;
  q_->done.emplace_back(conn_, std::move(r));
  std::uint64_t one = 1;
  (void)::write(q_->wake_fd, &one, sizeof one);
}

Later::~Later() {
  if (!done_) {
    Response r;
    r.set_text(503, "the answer was abandoned\n");
    finish(std::move(r));
  }
}

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& opts, Handler handler) {
  std::unique_ptr<Server> s(new Server());
  s->opts_ = opts;
  s->handler_ = std::move(handler);
  sockaddr_storage ss{};
  socklen_t len = 0;
  in6_addr a6{};
  in_addr a4{};
  if (::inet_pton(AF_INET, opts.host.c_str(), &a4) == 1) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_addr = a4;
    sin->sin_port = htons(opts.port);
    len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, opts.host.c_str(), &a6) == 1) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = a6;
    sin6->sin6_port = htons(opts.port);
    len = sizeof(sockaddr_in6);
  } else {
    return make_error(Errc::kBadValue, "the HTTP bind address is not an IP address");
  }
  s->listen_fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) return make_error(Errc::kIo, "socket", static_cast<std::uint32_t>(errno));
  int one = 1;
  ::setsockopt(s->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return make_error(Errc::kIo, "bind", static_cast<std::uint32_t>(errno));
  if (::listen(s->listen_fd_, 512) != 0) return make_error(Errc::kIo, "listen", static_cast<std::uint32_t>(errno));
  sockaddr_storage got{};
  socklen_t gl = sizeof got;
  ::getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&got), &gl);
  s->port_ = ntohs(got.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&got)->sin_port
                                            : reinterpret_cast<sockaddr_in6*>(&got)->sin6_port);
  s->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  s->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->epoll_fd_ < 0 || s->wake_fd_ < 0) return make_error(Errc::kIo, "epoll", static_cast<std::uint32_t>(errno));
  s->later_ = std::make_shared<Later::Queue>();
  s->later_->wake_fd = s->wake_fd_;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = s->listen_fd_;
  ::epoll_ctl(s->epoll_fd_, EPOLL_CTL_ADD, s->listen_fd_, &ev);
  ev.data.fd = s->wake_fd_;
  ::epoll_ctl(s->epoll_fd_, EPOLL_CTL_ADD, s->wake_fd_, &ev);
  if (opts.serve_now) s->serve();
  return s;
}

void Server::serve() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

Server::~Server() {
  if (later_) {
    std::lock_guard<std::mutex> g(later_->mu);
    later_->closed = true;  // (the wake fd is closed below: no Later writes to it after this)
    later_->done.clear();
  }
  stop_.store(true);
  if (wake_fd_ >= 0) {
    std::uint64_t one = 1;
    (void)::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_})
    if (fd >= 0) ::close(fd);
}

// The loop serves each connection one response at a time: its next request is
// answered only once the last response is written, and nothing more is read from it
// while requests wait. A client that pipelines and never reads thus holds one response
// (and at most one store snapshot), not a growing queue. Responses built in memory (a
// tenure is a copy of its blocks) come out of one budget for all connections
// (response_budget); a request that finds it spent waits until responses drain.
void Server::run() {
  std::unordered_map<int, std::unique_ptr<Conn>> conns;
  std::map<codec::Addr16, std::uint32_t> per_block;  // connections per client address block
  std::vector<int> waiting;                          // fds waiting for response memory, oldest first
  std::size_t owned_bytes = 0;                       // bodies built in memory, not yet written
  std::unordered_map<std::uint64_t, int> by_id;      // connection id → fd
  std::uint64_t next_id = 1;
  auto close_conn = [&](int fd) {
    auto it = conns.find(fd);
    if (it == conns.end()) return;
    for (const Out& o : it->second->out) owned_bytes -= o.owned.size();
    stats_.response_bytes.store(owned_bytes, std::memory_order_relaxed);
    if (auto b = per_block.find(it->second->block); b != per_block.end() && --b->second == 0) per_block.erase(b);
    by_id.erase(it->second->id);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(it);
    conns_.store(conns.size(), std::memory_order_relaxed);
  };
  // interest: read only while nothing waits to be answered or written; write while a
  // response is queued.
  auto interest = [&](Conn& c) {
    std::uint32_t want = 0;
    if (c.pending.empty() && c.out.empty() && !c.close_after && !c.error_reply && !c.parked) want |= EPOLLIN | EPOLLRDHUP;
    if (!c.out.empty()) want |= EPOLLOUT;
    if (c.parked) want |= EPOLLRDHUP;  // awaiting a deferred answer: only a hang-up is news
    if (want == c.events) return;
    c.events = want;
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = c.fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  };
  // flush: write what is queued; false when the connection is to be closed now.
  auto flush = [&](Conn& c) -> bool {
    while (!c.out.empty()) {
      Out& o = c.out.front();
      iovec iov[2];
      int n = 0;
      if (o.done < o.head.size()) iov[n++] = {o.head.data() + o.done, o.head.size() - o.done};
      const std::size_t body_done = o.done > o.head.size() ? o.done - o.head.size() : 0;
      const ByteSpan body = o.body();
      if (body_done < body.size()) iov[n++] = {const_cast<std::uint8_t*>(body.data()) + body_done, body.size() - body_done};
      // sendmsg, not writev: a client gone meanwhile is EPIPE, never a SIGPIPE that kills
      // whatever process the server runs in.
      msghdr mh{};
      mh.msg_iov = iov;
      mh.msg_iovlen = static_cast<std::size_t>(n);
      const ssize_t w = n == 0 ? 0 : ::sendmsg(c.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
      stats_.bytes_out.fetch_add(static_cast<std::uint64_t>(w), std::memory_order_relaxed);
      c.last_activity = c.last_write = now_ms();
      o.done += static_cast<std::size_t>(w);
      if (o.done < o.size()) return true;  // the socket is full: EPOLLOUT says when to go on
      owned_bytes -= o.owned.size();
      stats_.response_bytes.store(owned_bytes, std::memory_order_relaxed);
      c.out.pop_front();  // (a snapshot it kept is let go here)
    }
    return !c.close_after;
  };
  auto respond = [&](Conn& c, Response& r, bool close) {
    const std::size_t body_len = r.text.empty() ? r.view.size() : r.text.size();
    Out o;
    o.head = render_head(r, body_len, close);
    if (!r.no_body) {
      if (!r.text.empty()) {
        o.owned = std::move(r.text);
      } else {
        o.view = r.view;
        o.keep = std::move(r.keep);
      }
    }
    if (r.status >= 500) stats_.server_errors.fetch_add(1, std::memory_order_relaxed);
    else if (r.status >= 400) stats_.client_errors.fetch_add(1, std::memory_order_relaxed);
    owned_bytes += o.owned.size();
    stats_.response_bytes.store(owned_bytes, std::memory_order_relaxed);
    c.out.push_back(std::move(o));
    c.last_write = now_ms();
    if (close) c.close_after = true;
  };
  // serve: answer the next waiting request once the last response is written; false when
  // the connection is to be closed now.
  auto serve = [&](Conn& c) -> bool {
    for (;;) {
      if (!flush(c)) return false;
      if (!c.out.empty() || c.close_after || c.parked) return true;
      if (c.pending.empty()) {
        if (c.error_reply) {
          respond(c, *c.error_reply, true);
          c.error_reply.reset();
          continue;
        }
        return true;
      }
      if (owned_bytes >= opts_.response_budget) {  // memory for responses is spent: wait
        if (!c.waiting) {
          c.waiting = true;
          waiting.push_back(c.fd);
          stats_.budget_waits.fetch_add(1, std::memory_order_relaxed);
        }
        return true;
      }
      Request q = std::move(c.pending.front());
      c.pending.pop_front();
      stats_.requests.fetch_add(1, std::memory_order_relaxed);
      Response resp;
      const std::uint64_t conn_id = c.id;
      auto queue = later_;
      resp.make_later = [queue, conn_id] { return std::make_shared<Later>(queue, conn_id); };
      try {
        handler_(q, resp);
      } catch (const std::exception&) {
        resp = Response{};
        resp.set_text(500, "internal error\n");
      }
      if (resp.deferred) {  // answered when its Later finishes (taken in the loop below)
        stats_.deferred.fetch_add(1, std::memory_order_relaxed);
        c.parked = true;
        c.parked_at = now_ms();
        c.parked_head = q.method == "HEAD";
        c.parked_close = !q.keep_alive;
        return true;
      }
      if (q.method == "HEAD") resp.no_body = true;
      respond(c, resp, !q.keep_alive);
    }
  };
  auto refuse = [&](int cfd, std::atomic<std::uint64_t>& counter) {
    stats_.refused.fetch_add(1, std::memory_order_relaxed);  // counted before the client can see the close
    counter.fetch_add(1, std::memory_order_relaxed);
    ::close(cfd);
  };

  std::vector<Request> reqs;
  std::uint8_t buf[64 * 1024];
  std::uint64_t next_sweep = now_ms() + 250;
  while (!stop_.load(std::memory_order_relaxed)) {
    epoll_event evs[64];
    const int n = ::epoll_wait(epoll_fd_, evs, 64, 250);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == wake_fd_) {  // deferred responses finished elsewhere
        std::uint64_t v;
        (void)::read(wake_fd_, &v, sizeof v);
        std::vector<std::pair<std::uint64_t, Response>> done;
        {
          std::lock_guard<std::mutex> g(later_->mu);
          done.swap(later_->done);
        }
        for (auto& [id, resp] : done) {
          auto at = by_id.find(id);
          auto cit = at == by_id.end() ? conns.end() : conns.find(at->second);
          if (cit == conns.end() || !cit->second->parked) {
            stats_.deferred_dropped.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          Conn& c = *cit->second;
          c.parked = false;
          if (c.parked_head) resp.no_body = true;
          respond(c, resp, c.parked_close);
          c.last_activity = now_ms();
          if (serve(c)) interest(c);
          else close_conn(c.fd);
        }
        continue;
      }
      if (fd == listen_fd_) {
        for (;;) {
          sockaddr_storage peer{};
          socklen_t plen = sizeof peer;
          const int cfd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          if (conns.size() >= opts_.max_conns) {  // full: refuse at once
            refuse(cfd, stats_.refused_full);
            continue;
          }
          codec::Addr16 addr{};
          if (peer.ss_family == AF_INET6) {
            std::memcpy(addr.data(), &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, 16);
          } else if (peer.ss_family == AF_INET) {
            addr[10] = addr[11] = 0xff;
            std::memcpy(addr.data() + 12, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, 4);
          }
          const codec::Addr16 block = net::host_block(addr);
          std::uint32_t& from_here = per_block[block];
          if (opts_.max_conns_per_ip != 0 && from_here >= opts_.max_conns_per_ip) {
            if (from_here == 0) per_block.erase(block);
            refuse(cfd, stats_.refused_per_ip);
            continue;
          }
          ++from_here;
          int one = 1;
          ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto c = std::make_unique<Conn>(opts_.limits);
          c->fd = cfd;
          c->id = next_id++;
          by_id[c->id] = cfd;
          c->block = block;
          c->last_activity = now_ms();
          c->events = EPOLLIN | EPOLLRDHUP;
          epoll_event ev{};
          ev.events = c->events;
          ev.data.fd = cfd;
          ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, cfd, &ev);
          conns.emplace(cfd, std::move(c));
          conns_.store(conns.size(), std::memory_order_relaxed);
          stats_.accepted.fetch_add(1, std::memory_order_relaxed);
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = *it->second;
      bool alive = true;
      if (evs[i].events & EPOLLOUT) alive = serve(c);
      // Read only when nothing waits (the interest set says so; a hang-up may still come).
      const bool may_read = c.pending.empty() && c.out.empty() && !c.close_after && !c.error_reply && !c.parked;
      if (alive && may_read && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        const ssize_t r = ::read(fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
          alive = false;
        } else if (r > 0) {
          c.last_activity = now_ms();
          reqs.clear();
          const bool ok = c.parser.feed(ByteSpan(buf, static_cast<std::size_t>(r)), reqs);
          for (auto& q : reqs) {
            const bool last = !q.keep_alive;
            c.pending.push_back(std::move(q));
            if (last) break;  // nothing after a request that closes the connection
          }
          // (The parser takes at most 32 requests from one read and fails with 429 past
          // that, so `pending` stays small: nothing more is read until it is empty.)
          if (!ok) {  // the requests before the bad one are answered first, then the error
            c.error_reply.emplace();
            c.error_reply->set_text(c.parser.error().status, c.parser.error().reason + "\n");
          }
          c.request_started = c.parser.mid_request() ? (c.request_started != 0 ? c.request_started : now_ms()) : 0;
          if (alive) alive = serve(c);
        }
      } else if (alive && c.parked && (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        alive = false;  // the client left before its deferred answer (which is dropped)
      } else if (alive && (evs[i].events & (EPOLLHUP | EPOLLERR)) && c.out.empty()) {
        alive = false;
      }
      if (alive) interest(c);
      else close_conn(fd);
    }
    // Connections waiting for response memory, oldest first, while there is some.
    for (std::size_t w = 0; w < waiting.size() && owned_bytes < opts_.response_budget;) {
      auto it = conns.find(waiting[w]);
      waiting.erase(waiting.begin() + static_cast<long>(w));
      if (it == conns.end() || !it->second->waiting) continue;
      Conn& c = *it->second;
      c.waiting = false;
      if (serve(c)) interest(c);
      else close_conn(c.fd);
    }
    // Timeouts.
    const std::uint64_t now = now_ms();
    if (now < next_sweep) continue;
    next_sweep = now + 250;
    std::vector<int> expired, overdue;
    for (auto& [fd, c] : conns) {
      if (c->parked) {  // awaiting a deferred answer: its own deadline, not the idle one
        if (now - c->parked_at > opts_.deferred_timeout_ms) overdue.push_back(fd);
        continue;
      }
      const bool writing = !c->out.empty();
      const bool slow_request = c->request_started != 0 && now - c->request_started > opts_.header_timeout_ms;
      const bool idle = !writing && c->pending.empty() && c->request_started == 0 &&
                        now - c->last_activity > opts_.idle_timeout_ms;  // (a parked one too: within the idle timeout)
      const bool stalled = writing && now - c->last_write > opts_.write_timeout_ms;  // reads do not count
      if (slow_request || idle || stalled) expired.push_back(fd);
    }
    for (int fd : expired) {
      stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
      close_conn(fd);
    }
    for (int fd : overdue) {  // 504 now; the answer, if it still comes, is dropped
      Conn& c = *conns.at(fd);
      c.parked = false;
      stats_.deferred_timeouts.fetch_add(1, std::memory_order_relaxed);
      Response r;
      r.set_text(504, "no answer in time from where this is fetched\n");
      if (c.parked_head) r.no_body = true;
      respond(c, r, c.parked_close);
      c.last_activity = now;
      if (serve(c)) interest(c);
      else close_conn(fd);
    }
  }
  for (auto& [fd, c] : conns) ::close(fd);
}

}  // namespace relay::http
