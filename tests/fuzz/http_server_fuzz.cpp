// Any bytes from up to three clients at once, in any chunking, some reading their answers
// and some never reading, into the relay's HTTP server with small limits (two
// connections per address, a 48 KiB response budget, short timeouts): it never crashes
// or hangs; every answer a client reads is a well-formed HTTP/1.1 response carrying the
// body its Content-Length says (none for HEAD), the last one possibly cut short; and once
// the clients are gone, no connection and no response memory is left. The server runs for the whole fuzzing session, so what one input
// leaves behind is what the next one meets.
//
// Input: byte 0 = clients (1..3), byte 1 = chunk size, byte 2 = which clients read
// (one bit each), the rest the bytes the clients send, chunk by chunk, in turn.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "control/http/server.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace relay;
using Clock = std::chrono::steady_clock;

// /t/N: N KiB built in memory (counted in the response budget); /v/N: N KiB viewed
// from memory kept alive by the response; anything else: 404. A HEAD is marked
// (X-Head), so the client knows no body follows.
void handle(const http::Request& req, http::Response& res) {
  if (req.method == "HEAD") res.headers.emplace_back("X-Head", "1");
  static const std::string kBlob(64 << 10, 'b');
  const std::string_view path = req.path;
  auto kib = [&]() -> std::size_t {
    std::size_t n = 0;
    for (char c : path.substr(3)) {
      if (c < '0' || c > '9') break;
      n = std::min<std::size_t>(64, n * 10 + static_cast<std::size_t>(c - '0'));
    }
    return n << 10;
  };
  if (path.starts_with("/t/")) {
    res.set_text(200, std::string(kib(), 't'), "application/octet-stream");
  } else if (path.starts_with("/v/")) {
    res.view = ByteSpan(reinterpret_cast<const std::uint8_t*>(kBlob.data()), kib());
    res.keep = std::make_shared<int>(0);
    res.content_type = "application/octet-stream";
    if (res.view.empty()) res.text = "-";  // an empty view would mean "use text"
  } else {
    res.set_text(404, "not found\n");
  }
}

http::Server& server() {
  static std::unique_ptr<http::Server> s = [] {
    http::ServerOptions o;
    o.max_conns_per_ip = 2;
    o.response_budget = 48 << 10;
    o.header_timeout_ms = 200;
    o.idle_timeout_ms = 200;
    o.write_timeout_ms = 200;
    o.limits.max_body = 4096;
    auto r = http::Server::start(o, handle);
    FUZZ_CHECK(r.ok());
    return std::move(r).value();
  }();
  return *s;
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  FUZZ_CHECK(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  FUZZ_CHECK(rc == 0 || errno == EINPROGRESS);
  pollfd p{fd, POLLOUT, 0};
  FUZZ_CHECK(::poll(&p, 1, 1000) == 1);
  return fd;
}

// read_some: what arrives within `ms`; false when the server closed the connection.
bool read_some(int fd, std::string& into, int ms) {
  const auto until = Clock::now() + std::chrono::milliseconds(ms);
  char buf[16384];
  while (Clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return false;
    if (n > 0) into.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// check_responses: `got` is whole responses, then at most one cut short (the reading
// stopped, or the server closed after a timeout).
void check_responses(std::string_view got) {
  while (!got.empty()) {
    FUZZ_CHECK(got.size() < 9 ? std::string_view("HTTP/1.1 ").starts_with(got) : got.starts_with("HTTP/1.1 "));
    const std::size_t end = got.find("\r\n\r\n");
    if (end == std::string_view::npos) return;  // cut short in the headers
    const std::string_view head = got.substr(0, end + 2);
    const int status = std::atoi(std::string(head.substr(9, 3)).c_str());
    FUZZ_CHECK(status >= 200 && status <= 599);
    const std::size_t cl = head.find("\r\nContent-Length: ");
    FUZZ_CHECK(cl != std::string_view::npos);
    const std::size_t claimed = std::strtoul(std::string(head.substr(cl + 18, 12)).c_str(), nullptr, 10);
    FUZZ_CHECK(claimed <= (64u << 10));
    const std::size_t len = head.find("\r\nX-Head: 1\r\n") != std::string_view::npos ? 0 : claimed;
    const std::size_t total = end + 4 + len;
    if (got.size() < total) return;  // cut short in the body
    got.remove_prefix(total);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  http::Server& srv = server();
  const std::size_t clients = 1 + data[0] % 3;
  const std::size_t chunk = 1 + data[1] % 200;
  const std::uint8_t readers = data[2];
  int fd[3] = {-1, -1, -1};
  bool open[3] = {false, false, false};
  std::string got[3];
  for (std::size_t c = 0; c < clients; ++c) {
    fd[c] = connect_to(srv.port());
    open[c] = true;
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(300);
  std::size_t turn = 0;
  for (std::size_t at = 3; at < size && Clock::now() < deadline; at += chunk, turn = (turn + 1) % clients) {
    if (!open[turn]) continue;
    const std::size_t n = std::min(chunk, size - at);
    const ssize_t sent = ::send(fd[turn], data + at, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0 && errno != EAGAIN) open[turn] = false;  // the server closed it
    if ((readers >> turn) & 1) open[turn] = read_some(fd[turn], got[turn], 2) && open[turn];
  }
  for (std::size_t c = 0; c < clients; ++c)
    if ((readers >> c) & 1) (void)read_some(fd[c], got[c], 20);
  for (std::size_t c = 0; c < clients; ++c) {
    check_responses(got[c]);
    ::close(fd[c]);
  }
  // With the clients gone, the server lets go of everything they held.
  const auto until = Clock::now() + std::chrono::seconds(5);
  while ((srv.connections() != 0 || srv.stats().response_bytes.load() != 0) && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  FUZZ_CHECK(srv.connections() == 0);
  FUZZ_CHECK(srv.stats().response_bytes.load() == 0);
  return 0;
}
