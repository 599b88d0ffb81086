#include "dataplane/transport/mem/mem_transport.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace relay::dp {
namespace {

sockaddr_in6 port_addr(std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  return a;
}

std::vector<Event> drain(MemTransport& t) {
  std::vector<Event> out;
  Event evs[16];
  for (std::size_t n; (n = t.poll(evs, 0)) > 0;) out.insert(out.end(), evs, evs + n);
  return out;
}

TEST(MemTransport, ConnectSendChunkedAndClose) {
  MemNetwork net;
  net.faults.max_chunk = 7;
  MemTransport server(net, 20444);
  MemTransport client(net);
  auto c = client.connect(net::from_sockaddr(port_addr(20444)));
  ASSERT_TRUE(c.ok());
  Bytes msg(1000);
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::uint8_t>(i);
  SharedBuf* b = SharedBuf::make(msg);
  ASSERT_TRUE(client.send(*c, b, 5).ok());
  b->unref();
  auto cev = drain(client);
  ASSERT_EQ(cev.size(), 2u);
  EXPECT_EQ(cev[0].kind, EventKind::kConnected);
  EXPECT_EQ(cev[1].kind, EventKind::kSent);
  EXPECT_EQ(cev[1].user, 5u);
  Bytes got;
  std::size_t chunks = 0;
  for (auto& e : drain(server)) {
    if (e.kind != EventKind::kData) continue;
    EXPECT_LE(e.data.size(), 7u);
    got.insert(got.end(), e.data.begin(), e.data.end());
    server.release(e);
    ++chunks;
  }
  EXPECT_EQ(got, msg);
  EXPECT_GE(chunks, 1000u / 7);
  client.close(*c);
  auto sev = drain(server);
  ASSERT_EQ(sev.size(), 1u);
  EXPECT_EQ(sev[0].kind, EventKind::kClosed);
  EXPECT_EQ(sev[0].err, 0);
  EXPECT_EQ(server.open_conns(), 0u);
}

TEST(MemTransport, FaultsRefuseAndReset) {
  MemNetwork net;
  MemTransport server(net, 1);
  MemTransport client(net);
  auto none = client.connect(net::from_sockaddr(port_addr(2)));  // nobody listens
  ASSERT_TRUE(none.ok());
  auto ev = drain(client);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kConnectFailed);
  EXPECT_EQ(ev[0].err, ECONNREFUSED);

  net.faults.reset_after_bytes = 10;
  auto c = client.connect(net::from_sockaddr(port_addr(1)));
  drain(client);
  SharedBuf* b = SharedBuf::make(Bytes(25, 0xab));
  ASSERT_TRUE(client.send(*c, b, 1).ok());
  b->unref();
  std::size_t bytes = 0;
  bool reset = false;
  for (auto& e : drain(server)) {
    if (e.kind == EventKind::kData) {
      bytes += e.data.size();
      server.release(e);
    }
    reset |= e.kind == EventKind::kClosed && e.err == ECONNRESET;
  }
  EXPECT_EQ(bytes, 10u);
  EXPECT_TRUE(reset);
  SharedBuf* after = SharedBuf::make(Bytes(1));
  EXPECT_FALSE(client.send(*c, after, 2).ok());
  after->unref();
}

}  // namespace
}  // namespace relay::dp
