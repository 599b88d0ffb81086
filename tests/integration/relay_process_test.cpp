// The real relay process (stacks-relay-dataplane) with stock-node test peers over
// loopback TCP: handshakes, a pushed transaction reaching every other peer once, a
// misbehaving peer dropped while the others keep flowing, clean stop on SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/test_peer.hpp"

namespace relay::dp {
namespace {

using namespace relay::codec;

struct RelayProcess {
  pid_t pid = -1;
  std::uint16_t port = 0;
  std::string dir;

  RelayProcess() {
    char tmpl[] = "/tmp/stacks-relay-it-XXXXXX";
    dir = ::mkdtemp(tmpl);
    int out[2];
    EXPECT_EQ(::pipe(out), 0);
    pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      std::string data_dir = dir + "/data";
      ::execl(RELAY_DATAPLANE_BIN, "stacks-relay-dataplane", "--p2p-bind", "127.0.0.1:0", "--data-dir",
              data_dir.c_str(), "--stats-interval", "0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    FILE* f = ::fdopen(out[0], "r");
    char line[128] = {};
    if (std::fgets(line, sizeof line, f) != nullptr) std::sscanf(line, "READY %hu", &port);
    std::fclose(f);
  }
  ~RelayProcess() {
    if (pid > 0) {  // a failed assertion left it running
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  int stop() {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    std::string cmd = "rm -rf " + dir;
    (void)std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

TEST(RelayProcess, RelaysBetweenStockPeersAndStopsCleanly) {
  RelayProcess relay;
  ASSERT_GT(relay.port, 0) << "the relay did not report READY";
  constexpr int kPeers = 3;
  std::vector<std::unique_ptr<UringTransport>> ts;
  std::vector<std::unique_ptr<test::TestPeer<UringTransport>>> peers;
  for (int i = 0; i < kPeers; ++i) {
    ts.push_back(std::move(UringTransport::create({}).value()));
    peers.push_back(std::make_unique<test::TestPeer<UringTransport>>(*ts.back(), static_cast<std::uint8_t>(50 + i)));
    peers.back()->dial(test::loopback_addr(relay.port));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::uint64_t now = 1;
  auto pump_until = [&](auto&& done) {
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      for (auto& p : peers) p->pump(++now, 2);
    }
    return true;
  };
  ASSERT_TRUE(pump_until([&] {
    for (auto& p : peers)
      if (!p->authenticated()) return false;
    return true;
  }));
  crypto::PublicKey relay_key = *peers[0]->conv->peer_key();

  peers[0]->send(peers[0]->conv->sign(11, Transaction{test::signed_test_tx(1)}));
  ASSERT_TRUE(pump_until([&] { return !peers[1]->pushes.empty() && !peers[2]->pushes.empty(); }));
  EXPECT_EQ(peers[1]->pushes[0], peers[2]->pushes[0]);
  EXPECT_TRUE(validate::verify_message(peers[1]->pushes[0], relay_key));
  EXPECT_TRUE(peers[0]->pushes.empty());

  // Peer 1 sends a message with a broken signature: it is dropped, the others carry on.
  Bytes forged = peers[1]->conv->sign(12, Ping{1});
  forged[100] ^= 1;
  peers[1]->send(forged);
  ASSERT_TRUE(pump_until([&] { return peers[1]->closed; }));
  peers[2]->send(peers[2]->conv->sign(13, Transaction{test::signed_test_tx(2)}));
  ASSERT_TRUE(pump_until([&] { return peers[0]->pushes.size() == 1; }));
  EXPECT_EQ(peers[1]->pushes.size(), 1u);  // the dropped peer got nothing more

  EXPECT_EQ(relay.stop(), 0);
}

// A line from `fd` within `ms` milliseconds ("" on timeout or EOF).
std::string read_line(int fd, int ms) {
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char c;
    if (::read(fd, &c, 1) != 1) break;
    if (c == '\n') return line;
    line += c;
  }
  return "";
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(RelaySupervisor, RestartsTheDataplaneAfterKill9AndStopsCleanly) {
  char tmpl[] = "/tmp/stacks-relay-sup-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::uint16_t port = free_port();
  std::string bind = "127.0.0.1:" + std::to_string(port);
  std::string data_dir = dir + "/data";
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  pid_t sup = ::fork();
  if (sup == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::execl(RELAY_CLI_BIN, "stacks-relay", "run", "--p2p-bind", bind.c_str(), "--data-dir", data_dir.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  struct Guard {
    pid_t pid;
    ~Guard() {
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } guard{sup};

  unsigned p1 = 0;
  int child1 = 0;
  ASSERT_EQ(std::sscanf(read_line(out[0], 10000).c_str(), "READY %u %d", &p1, &child1), 2);
  EXPECT_EQ(p1, port);

  auto handshake_key = [&]() -> std::optional<crypto::PublicKey> {
    auto t = std::move(UringTransport::create({}).value());
    test::TestPeer<UringTransport> peer(*t, 60);
    peer.dial(test::loopback_addr(port));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::uint64_t now = 1;
    while (!peer.authenticated() && std::chrono::steady_clock::now() < deadline) peer.pump(++now, 5);
    if (!peer.authenticated()) return std::nullopt;
    return *peer.conv->peer_key();
  };
  auto key1 = handshake_key();
  ASSERT_TRUE(key1);

  // kill -9 the dataplane: the supervisor starts a new one, which keeps the identity.
  ASSERT_EQ(::kill(child1, SIGKILL), 0);
  unsigned p2 = 0;
  int child2 = 0;
  ASSERT_EQ(std::sscanf(read_line(out[0], 15000).c_str(), "READY %u %d", &p2, &child2), 2);
  EXPECT_NE(child2, child1);
  auto key2 = handshake_key();
  ASSERT_TRUE(key2);
  EXPECT_TRUE(*key1 == *key2);

  // SIGTERM: the supervisor stops its child and exits 0.
  ::kill(sup, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(sup, &status, 0), sup);
  guard.pid = -1;
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(::kill(child2, 0), -1);  // the dataplane is gone too
  std::string cmd = "rm -rf " + dir;
  (void)std::system(cmd.c_str());
}

}  // namespace
}  // namespace relay::dp
