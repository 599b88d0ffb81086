// The io_uring transport through real SOCKS5 servers from Debian: microsocks (with and
// without a login) and Dante (whose rules refuse a destination). Everything runs in a
// network namespace of the test's own with only a loopback and one unreachable route,
// so the proxies' failures are real: a closed port (reply 5), no route (3), an
// unreachable route (4), a rule (2), a wrong password, a proxy that dies mid-session, a
// proxy that never answers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/net/address.hpp"
#include "relay/net/socks5.hpp"
#include "tests/support/launch/netns.hpp"

namespace relay::dp {
namespace {

using namespace std::chrono_literals;
using launch::Namespace;
using launch::free_port;
using launch::have;
using launch::sockaddr_of;

// The proxies, started once for the whole binary in one namespace.
struct Proxies {
  Namespace ns{"px"};
  launch::Child open_socks, login_socks, dante;
  std::uint16_t open_port = 0, login_port = 0, dante_port = 0, dante_blocked = 0;
  std::string dir;
  bool ok = false;
  std::string why;

  Proxies() {
    why = "the namespace";
    if (!ns.ok || !ns.sh("route add unreachable 198.18.97.0/24")) return;
    char tmpl[] = "/tmp/srl-socks-XXXXXX";
    dir = ::mkdtemp(tmpl);
    open_port = free_port(ns);
    login_port = free_port(ns, open_port);
    dante_port = free_port(ns, login_port);
    dante_blocked = free_port(ns, dante_port);
    const std::string ms = "/usr/bin/microsocks";
    why = "microsocks";
    ok = open_socks.start({{ms, "-i", "127.0.0.1", "-p", std::to_string(open_port)}, ns.name, dir + "/ms1.log"}) &&
         login_socks.start({{ms, "-i", "127.0.0.1", "-p", std::to_string(login_port), "-u", "alice", "-P", "s3cret"},
                            ns.name, dir + "/ms2.log"});
    // Dante: no login; a rule refuses one destination port, everything else passes.
    std::ofstream(dir + "/danted.conf")
        << "logoutput: " << dir << "/danted.log\n"
        << "internal: 127.0.0.1 port = " << dante_port << "\n"
        << "external: 127.0.0.1\n"
        << "clientmethod: none\nsocksmethod: none\n"
        << "user.privileged: root\nuser.unprivileged: nobody\n"
        << "client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }\n"
        << "socks block { from: 0.0.0.0/0 to: 127.0.0.1/32 port = " << dante_blocked << " }\n"
        << "socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }\n";
    if (ok) why = "danted";
    ok = ok && dante.start({{"/usr/sbin/danted", "-f", dir + "/danted.conf", "-p", dir + "/danted.pid", "-N", "1"},
                            ns.name, dir + "/danted.err"});
    if (ok) why = "the proxies listening";
    ok = ok && ns.wait_listening(open_port) && ns.wait_listening(login_port) && ns.wait_listening(dante_port);
  }
  ~Proxies() {
    open_socks.kill();
    login_socks.kill();
    dante.terminate();
    if (!dir.empty()) std::system(("rm -rf " + dir).c_str());
  }
};

Proxies* g_proxies = nullptr;

class Socks5Proxy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || !have("/usr/bin/microsocks") || !have("/usr/sbin/danted")) return;
    g_proxies = new Proxies();
  }
  static void TearDownTestSuite() {
    delete g_proxies;
    g_proxies = nullptr;
  }
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (CAP_NET_ADMIN) for the test's network namespace";
    ASSERT_NE(g_proxies, nullptr) << "microsocks and dante-server are installed by ./deploy/dev.sh deps";
    ASSERT_TRUE(g_proxies->ok) << "the proxies did not start: " << g_proxies->why << " (logs in " << g_proxies->dir << ")";
    ASSERT_TRUE(inside_.enter(g_proxies->ns));  // this thread's sockets are made in the namespace
    UringConfig cfg;
    cfg.send_pool = {};
    cfg.dialogue_timeout_ms = 1500;
    server_ = UringTransport::create(cfg).value();
    client_ = UringTransport::create(cfg).value();
    listen_port_ = server_->listen(sockaddr_of("127.0.0.1", 0)).value();
  }

  net::ConnectOptions via(std::uint16_t proxy_port, std::optional<net::ProxyLogin> login = std::nullopt) const {
    net::ConnectOptions o;
    o.socks5 = net::Socks5Proxy{};
    o.socks5->addr = *net::parse_addr("127.0.0.1");
    o.socks5->port = proxy_port;
    o.socks5->login = std::move(login);
    return o;
  }
  static net::PeerAddress peer(const std::string& s) {
    std::string err;
    return net::PeerAddress::parse(s, err).value();
  }

  // pump both transports until `done` or 5 s; events are collected per side.
  template <typename F>
  bool pump(F&& done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      for (auto* t : {client_.get(), server_.get()}) {
        Event evs[16];
        const std::size_t n = t->poll(evs, 5);
        for (std::size_t i = 0; i < n; ++i) {
          auto& log = t == client_.get() ? client_events_ : server_events_;
          log.push_back(evs[i]);
          if (evs[i].kind == EventKind::kData) {
            auto& got = t == client_.get() ? client_got_ : server_got_;
            got.insert(got.end(), evs[i].data.begin(), evs[i].data.end());
            t->release(evs[i]);
          }
        }
      }
    }
    return true;
  }
  const Event* find(const std::vector<Event>& log, EventKind k) const {
    for (const auto& e : log)
      if (e.kind == k) return &e;
    return nullptr;
  }
  // dial_error: connect through `how` and wait for the failure; its code (or -1).
  int dial_error(const net::PeerAddress& to, const net::ConnectOptions& how) {
    auto c = client_->connect(to, how);
    if (!c.ok()) return -1;
    if (!pump([&] { return find(client_events_, EventKind::kConnectFailed) || find(client_events_, EventKind::kConnected); }))
      return -2;
    const Event* e = find(client_events_, EventKind::kConnectFailed);
    return e == nullptr ? -3 : e->err;
  }
  void send(UringTransport& t, ConnId c, const std::string& s) {
    SharedBuf* b = SharedBuf::make(ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
    ASSERT_TRUE(t.send(c, b, 1).ok());
    b->unref();
  }

  launch::InsideNamespace inside_;
  std::unique_ptr<UringTransport> server_, client_;
  std::uint16_t listen_port_ = 0;
  std::vector<Event> client_events_, server_events_;
  std::string client_got_, server_got_;
};

std::string sock_err(int e) { return net::describe_dial_error(e); }

TEST_F(Socks5Proxy, BytesFlowBothWaysThroughMicrosocksAndTheRemoteIsThePeerNotTheProxy) {
  const auto target = peer("127.0.0.1:" + std::to_string(listen_port_));
  auto c = client_->connect(target, via(g_proxies->open_port));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(pump([&] { return find(client_events_, EventKind::kConnected) && find(server_events_, EventKind::kAccepted); }));
  EXPECT_EQ(client_->remote(*c), target);
  const ConnId s = find(server_events_, EventKind::kAccepted)->conn;
  send(*client_, *c, "handshake from the relay");
  send(*server_, s, "handshake accept from the node");
  EXPECT_TRUE(pump([&] { return server_got_.size() == 24 && client_got_.size() == 30; }));
  EXPECT_EQ(server_got_, "handshake from the relay");
  EXPECT_EQ(client_got_, "handshake accept from the node");
}

// A name goes to the proxy, which resolves it (here: localhost).
TEST_F(Socks5Proxy, ANameIsResolvedByTheProxy) {
  auto c = client_->connect(peer("localhost:" + std::to_string(listen_port_)), via(g_proxies->open_port));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(pump([&] { return find(client_events_, EventKind::kConnected) && find(server_events_, EventKind::kAccepted); }));
  EXPECT_EQ(client_->remote(*c).name(), "localhost");
  // Without a proxy, the transport refuses a name outright (it resolves nothing).
  auto direct = client_->connect(peer("localhost:" + std::to_string(listen_port_)), {});
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.error().offset, static_cast<std::uint32_t>(EDESTADDRREQ));
}

TEST_F(Socks5Proxy, LoginIsAcceptedAndAWrongOneIsNamed) {
  auto c = client_->connect(peer("127.0.0.1:" + std::to_string(listen_port_)),
                            via(g_proxies->login_port, net::ProxyLogin{"alice", "s3cret"}));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(pump([&] { return find(client_events_, EventKind::kConnected) && find(server_events_, EventKind::kAccepted); }));
  client_events_.clear();
  const int wrong = dial_error(peer("127.0.0.1:" + std::to_string(listen_port_)),
                               via(g_proxies->login_port, net::ProxyLogin{"alice", "nope"}));
  EXPECT_EQ(wrong, net::dial_error(net::DialErrSource::kSocks5, static_cast<int>(net::socks5::Fail::kLoginRefused)))
      << sock_err(wrong);
  client_events_.clear();
  const int none = dial_error(peer("127.0.0.1:" + std::to_string(listen_port_)), via(g_proxies->login_port));
  EXPECT_EQ(none, net::dial_error(net::DialErrSource::kSocks5, static_cast<int>(net::socks5::Fail::kNoAcceptableMethod)))
      << sock_err(none);
  EXPECT_EQ(client_->dialogues_failed(), 2u);
  // An isolation login offered to a proxy that has no logins: it chooses "none", and the
  // connection is made all the same.
  client_events_.clear();
  server_events_.clear();
  const auto target = peer("127.0.0.1:" + std::to_string(listen_port_));
  ASSERT_TRUE(client_->connect(target, via(g_proxies->open_port, net::socks5::isolation_login(target, 1))).ok());
  EXPECT_TRUE(pump([&] { return find(client_events_, EventKind::kConnected) && find(server_events_, EventKind::kAccepted); }));
}

// The replies real proxies give, each with the text an operator reads in the log.
TEST_F(Socks5Proxy, EachFailureTheProxiesReportIsItsOwnReply) {
  struct Case {
    std::string target;
    std::uint16_t proxy;
    int reply;
  };
  const std::uint16_t closed = free_port(g_proxies->ns, g_proxies->dante_blocked);
  const Case cases[] = {
      {"127.0.0.1:" + std::to_string(closed), g_proxies->open_port, 5},  // nothing listens: refused
      {"198.18.99.1:20444", g_proxies->open_port, 3},                     // no route at all
      {"198.18.97.1:20444", g_proxies->open_port, 4},                     // an unreachable route
      {"127.0.0.1:" + std::to_string(g_proxies->dante_blocked), g_proxies->dante_port, 2},  // Dante's rule
      {"127.0.0.1:" + std::to_string(closed), g_proxies->dante_port, 5},
  };
  for (const auto& k : cases) {
    client_events_.clear();
    const int err = dial_error(peer(k.target), via(k.proxy));
    EXPECT_EQ(err, net::dial_error(net::DialErrSource::kSocks5, k.reply))
        << k.target << " via " << k.proxy << ": " << sock_err(err);
    EXPECT_NE(sock_err(err).find("(reply " + std::to_string(k.reply) + ")"), std::string::npos) << sock_err(err);
  }
}

// The proxy goes away: the session through it closes; the next dial fails with the
// kernel's own error (nothing listens where the proxy was).
TEST_F(Socks5Proxy, AProxyThatDiesMidSessionClosesItAndTheNextDialIsRefused) {
  launch::Child doomed;
  const std::uint16_t port = free_port(g_proxies->ns, g_proxies->dante_blocked);
  ASSERT_TRUE(doomed.start({{"/usr/bin/microsocks", "-i", "127.0.0.1", "-p", std::to_string(port)}, g_proxies->ns.name, ""}));
  ASSERT_TRUE(g_proxies->ns.wait_listening(port));
  auto c = client_->connect(peer("127.0.0.1:" + std::to_string(listen_port_)), via(port));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(pump([&] { return find(client_events_, EventKind::kConnected) && find(server_events_, EventKind::kAccepted); }));
  send(*client_, *c, "ping");
  ASSERT_TRUE(pump([&] { return server_got_ == "ping"; }));
  doomed.kill();
  EXPECT_TRUE(pump([&] { return find(client_events_, EventKind::kClosed) != nullptr; }));
  EXPECT_TRUE(pump([&] { return find(server_events_, EventKind::kClosed) != nullptr; }));
  client_events_.clear();
  const int err = dial_error(peer("127.0.0.1:" + std::to_string(listen_port_)), via(port));
  EXPECT_EQ(err, ECONNREFUSED) << sock_err(err);
}

// A "proxy" that accepts and never answers, and one that answers SOCKS4: the dial fails
// (after the configured time; at once) instead of hanging.
TEST_F(Socks5Proxy, ASilentOrForeignProxyFailsTheDial) {
  const auto listener = [](std::uint16_t& port) {
    const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 a = sockaddr_of("127.0.0.1", 0);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return -1;
    port = ntohs(a.sin6_port);
    return fd;
  };
  std::uint16_t silent_port = 0, socks4_port = 0;
  const int silent_fd = listener(silent_port), socks4_fd = listener(socks4_port);
  ASSERT_GE(silent_fd, 0);
  ASSERT_GE(socks4_fd, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const int silent = dial_error(peer("127.0.0.1:" + std::to_string(listen_port_)), via(silent_port));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(silent, net::dial_error(net::DialErrSource::kDialogue, static_cast<int>(net::DialogueFail::kTimedOut)))
      << sock_err(silent);
  EXPECT_GE(took, 1400ms);
  // Answered as a SOCKS4 server would.
  client_events_.clear();
  std::thread answer([&] {
    const int fd = ::accept(socks4_fd, nullptr, nullptr);
    if (fd < 0) return;
    std::uint8_t greet[3];
    if (::recv(fd, greet, sizeof greet, MSG_WAITALL) == 3) {
      const std::uint8_t socks4[] = {0, 0x5a};
      (void)::send(fd, socks4, sizeof socks4, MSG_NOSIGNAL);
    }
    ::usleep(200000);
    ::close(fd);
  });
  const int foreign = dial_error(peer("127.0.0.1:" + std::to_string(listen_port_)), via(socks4_port));
  answer.join();
  EXPECT_EQ(foreign, net::dial_error(net::DialErrSource::kSocks5, static_cast<int>(net::socks5::Fail::kNotSocks5)))
      << sock_err(foreign);
  ::close(silent_fd);
  ::close(socks4_fd);
}

// A proxy whose CONNECT reply and the peer's first bytes come in one segment: the bytes
// after the reply are the peer's, handed over right after the connection is reported.
TEST_F(Socks5Proxy, ThePeersBytesRightBehindTheReplyAreDelivered) {
  const int lst = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lst, 0);
  sockaddr_in6 a = sockaddr_of("127.0.0.1", 0);
  ASSERT_EQ(::bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lst, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(lst, reinterpret_cast<sockaddr*>(&a), &len);
  std::thread proxy([&] {
    const int fd = ::accept(lst, nullptr, nullptr);
    if (fd < 0) return;
    std::uint8_t in[64];
    if (::recv(fd, in, 3, MSG_WAITALL) == 3) {
      const std::uint8_t method[] = {5, 0};
      (void)::send(fd, method, 2, MSG_NOSIGNAL);
      if (::recv(fd, in, 10, MSG_WAITALL) == 10) {
        const std::uint8_t reply_and_data[] = {5, 0, 0, 1, 127, 0, 0, 1, 0, 80, 'h', 'e', 'l', 'l', 'o'};
        (void)::send(fd, reply_and_data, sizeof reply_and_data, MSG_NOSIGNAL);
      }
    }
    ::usleep(300000);
    ::close(fd);
  });
  auto c = client_->connect(peer("198.18.0.9:20444"), via(ntohs(a.sin6_port)));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(pump([&] { return client_got_ == "hello"; }));
  proxy.join();
  ::close(lst);
  ASSERT_GE(client_events_.size(), 2u);
  EXPECT_EQ(client_events_[0].kind, EventKind::kConnected);
  EXPECT_EQ(client_events_[1].kind, EventKind::kData);
}

}  // namespace
}  // namespace relay::dp
