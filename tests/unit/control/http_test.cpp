// The HTTP endpoint: request parsing with the node's limits (PROTOCOL.md §8), the server
// (keep-alive, pipelining, HEAD, timeouts for slow and idle clients, a connection cap,
// many clients at once) and the relay's endpoints over a real block store, checked with
// raw sockets and with curl.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <csignal>

#include <cstring>

#include "relay/shm/frag_ring.hpp"
#include "relay/shm/region.hpp"
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <thread>

#include "control/http/relay_api.hpp"
#include "control/http/request_parser.hpp"
#include "control/http/server.hpp"
#include "control/store/store_push.hpp"
#include <nlohmann/json.hpp>
#include "bench/sim/sim_data.hpp"
#include "relay/base/hex.hpp"
#include "tests/support/loopback.hpp"
#include "relay/codec/chain.hpp"

namespace relay::http {
namespace {

ByteSpan bytes_of(std::string_view s) { return ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

TEST(HttpParser, WholeFragmentedAndPipelinedRequests) {
  const std::string two =
      "GET /v3/blocks/ab?x=1 HTTP/1.1\r\nHost: relay\r\nIf-None-Match: \"q\"\r\n\r\n"
      "POST /v2/transactions HTTP/1.1\r\nHost: relay\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
  for (std::size_t chunk : {two.size(), std::size_t{1}, std::size_t{7}}) {
    RequestParser p;
    std::vector<Request> out;
    for (std::size_t at = 0; at < two.size(); at += chunk)
      ASSERT_TRUE(p.feed(bytes_of(std::string_view(two).substr(at, chunk)), out)) << p.error().reason;
    ASSERT_EQ(out.size(), 2u) << chunk;
    EXPECT_EQ(out[0].method, "GET");
    EXPECT_EQ(out[0].path, "/v3/blocks/ab");
    EXPECT_EQ(out[0].query, "x=1");
    ASSERT_NE(out[0].header("if-none-match"), nullptr);
    EXPECT_EQ(*out[0].header("if-none-match"), "\"q\"");
    EXPECT_TRUE(out[0].keep_alive);
    EXPECT_EQ(out[1].method, "POST");
    EXPECT_EQ(std::string(out[1].body.begin(), out[1].body.end()), "abc");
    EXPECT_FALSE(out[1].keep_alive);
    EXPECT_FALSE(p.mid_request());
  }
}

TEST(HttpParser, RefusesWhatANodeRefuses) {
  auto status_of = [](const std::string& req, ParserLimits lim = {}) {
    RequestParser p(lim);
    std::vector<Request> out;
    const bool ok = p.feed(bytes_of(req), out);
    EXPECT_TRUE(ok || out.empty()) << "a refused request was also returned";
    return ok ? 0 : p.error().status;
  };
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n\r\n"), 400);  // no Host
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);  // duplicate
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 64; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(status_of(many + "\r\n"), 431);  // 65 headers
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(4097, 'v') + "\r\n\r\n"), 431);
  ParserLimits small;
  small.max_body = 10;
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", small), 413);
  EXPECT_EQ(status_of("GET /" + std::string(5000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n"), 414);
  EXPECT_EQ(status_of("\x16\x03\x01 not http at all\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
}

// ---- the server and the relay's endpoints -------------------------------------------

struct TempStore {
  std::string dir;
  std::unique_ptr<store::BlockStore> s;
  TempStore() {
    char t[] = "/tmp/stacks-relay-http-XXXXXX";
    dir = ::mkdtemp(t);
    s = store::BlockStore::open(dir + "/blocks", {}).value();
  }
  ~TempStore() {
    s.reset();
    (void)std::system(("rm -rf " + dir).c_str());
  }
};

store::Hash32 id_of(std::uint8_t b) {
  store::Hash32 h;
  h.fill(b);
  return h;
}

Bytes payload(std::uint8_t b, std::size_t n) { return Bytes(n, b); }

struct Api {
  TempStore st;
  StatusBoard board;
  ApiContext ctx;
  std::unique_ptr<Server> server;
  explicit Api(ServerOptions so = {}) {
    // A tenure of three blocks (1 ← 2 ← 3, all consensus hash 0x77), its parent in
    // another tenure (0), and a 2.x block.
    store::BlockMeta m;
    m.consensus_hash.fill(0x66);
    EXPECT_TRUE(st.s->put(id_of(0), m, payload(0xa0, 100)).ok());
    m.consensus_hash.fill(0x77);
    for (std::uint8_t i = 1; i <= 3; ++i) {
      m.height = i;
      m.parent = id_of(static_cast<std::uint8_t>(i - 1));
      EXPECT_TRUE(st.s->put(id_of(i), m, payload(static_cast<std::uint8_t>(0xa0 + i), 1000u * i)).ok());
    }
    store::BlockMeta s2;
    s2.kind = store::BlockKind::kStacks;
    EXPECT_TRUE(st.s->put(id_of(9), s2, payload(0xb9, 500)).ok());
    ctx.public_key = crypto::SecretKey::generate()->public_key().compressed();
    ctx.store = st.s.get();
    ctx.board = &board;
    StatusBoard::Snapshot snap;
    snap.view.height = 900'107;
    snap.sessions = 3;
    board.publish(snap);
    server = Server::start(so, make_relay_api(&ctx)).value();
    ctx.server = &server->stats();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(server->port()) + path; }
};

int connect_to(std::uint16_t port) { return test::connect_loopback(port); }

// read_all: what the server sends until it closes or is quiet for `quiet_ms`.
std::string read_all(int fd, int quiet_ms = 300) {
  std::string s;
  char buf[65536];
  for (;;) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, quiet_ms) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    s.append(buf, static_cast<std::size_t>(n));
  }
  return s;
}

bool closed_by_server(int fd, int within_ms) {
  pollfd pf{fd, POLLIN, 0};
  if (::poll(&pf, 1, within_ms) <= 0) return false;
  char c;
  return ::read(fd, &c, 1) == 0;
}

void send_str(int fd, const std::string& s) { ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())); }

TEST(HttpServer, ServesStoredBlocksWithCacheValidators) {
  Api api;
  int fd = connect_to(api.server->port());
  const std::string id2 = to_hex(id_of(2));
  // Two pipelined requests on one connection, then a conditional one.
  send_str(fd, "GET /v3/blocks/" + id2 + " HTTP/1.1\r\nHost: t\r\n\r\nHEAD /v3/blocks/" + id2 + " HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string got = read_all(fd);
  const std::string body(2000, static_cast<char>(0xa2));
  ASSERT_NE(got.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << got.substr(0, 300);
  EXPECT_NE(got.find("Content-Type: application/octet-stream\r\n"), std::string::npos);
  EXPECT_NE(got.find("ETag: \"" + id2 + "\"\r\n"), std::string::npos);
  EXPECT_NE(got.find("Cache-Control: public, max-age=31536000, immutable\r\n"), std::string::npos);
  EXPECT_NE(got.find("\r\n\r\n" + body + "HTTP/1.1 200 OK\r\n"), std::string::npos);  // GET body, then the HEAD answer
  EXPECT_EQ(got.size() - got.rfind("\r\n\r\n"), 4u);  // HEAD: no body after its headers
  send_str(fd, "GET /v3/blocks/" + id2 + " HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"" + id2 + "\"\r\n\r\n");
  got = read_all(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 304 Not Modified\r\n", 0), 0u) << got;
  EXPECT_EQ(got.size() - got.find("\r\n\r\n"), 4u);
  // Unknown, malformed, the wrong kind, the wrong method.
  send_str(fd, "GET /v3/blocks/" + to_hex(id_of(5)) + " HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(read_all(fd).rfind("HTTP/1.1 404", 0), 0u);
  send_str(fd, "GET /v3/blocks/xyz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(read_all(fd).rfind("HTTP/1.1 400", 0), 0u);
  send_str(fd, "GET /v3/blocks/" + to_hex(id_of(9)) + " HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(read_all(fd).rfind("HTTP/1.1 404", 0), 0u);
  send_str(fd, "POST /v3/blocks/" + id2 + " HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(read_all(fd).rfind("HTTP/1.1 405", 0), 0u);
  send_str(fd, "GET /v2/blocks/" + to_hex(id_of(9)) + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  got = read_all(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(closed_by_server(fd, 1000));
  ::close(fd);
}

TEST(HttpServer, TenuresWalkParentsWithinTheTenure) {
  Api api;
  int fd = connect_to(api.server->port());
  send_str(fd, "GET /v3/tenures/" + to_hex(id_of(3)) + " HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string got = read_all(fd);
  const std::string want = std::string(3000, static_cast<char>(0xa3)) + std::string(2000, static_cast<char>(0xa2)) +
                           std::string(1000, static_cast<char>(0xa1));  // newest first; block 0 is another tenure
  ASSERT_NE(got.find("\r\n\r\n"), std::string::npos);
  EXPECT_EQ(got.substr(got.find("\r\n\r\n") + 4), want);
  send_str(fd, "GET /v3/tenures/" + to_hex(id_of(3)) + "?stop=" + to_hex(id_of(1)) + " HTTP/1.1\r\nHost: t\r\n\r\n");
  got = read_all(fd);
  EXPECT_EQ(got.substr(got.find("\r\n\r\n") + 4), want.substr(0, 5000));  // stops before block 1
  EXPECT_NE(got.find("Cache-Control: public, max-age=31536000, immutable"), std::string::npos) << got.substr(0, 400);
  // A tenure whose walk meets a parent this store lacks: the answer may grow, so a cache
  // keeps it briefly; a missing block's 404 too.
  store::BlockMeta m;
  m.consensus_hash.fill(0x88);
  m.parent = id_of(40);  // not stored
  ASSERT_TRUE(api.st.s->put(id_of(41), m, payload(0xc1, 700)).ok());
  send_str(fd, "GET /v3/tenures/" + to_hex(id_of(41)) + " HTTP/1.1\r\nHost: t\r\n\r\n");
  got = read_all(fd);
  EXPECT_EQ(got.substr(got.find("\r\n\r\n") + 4), std::string(700, static_cast<char>(0xc1)));
  EXPECT_NE(got.find("Cache-Control: public, max-age=5\r\n"), std::string::npos) << got.substr(0, 400);
  send_str(fd, "GET /v3/blocks/" + to_hex(id_of(40)) + " HTTP/1.1\r\nHost: t\r\n\r\n");
  got = read_all(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_NE(got.find("Cache-Control: public, max-age=2\r\n"), std::string::npos) << got.substr(0, 400);
  EXPECT_EQ(got.find("immutable"), std::string::npos);
  ::close(fd);
}

// The relay's status endpoints, through curl (HTTP/1.1 client conformance).
TEST(HttpServer, InfoStatusAndMetricsThroughCurl) {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl is not installed";
  Api api;
  auto run = [](const std::string& cmd) {
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    EXPECT_EQ(::pclose(f), 0) << cmd;
    return out;
  };
  const std::string info = run("curl -sf " + api.url("/v2/info"));
  EXPECT_NE(info.find("\"burn_block_height\":900107"), std::string::npos) << info;
  EXPECT_NE(info.find("\"node_public_key\":\"" + to_hex(api.ctx.public_key) + "\""), std::string::npos);
  const std::string status = run("curl -sf " + api.url("/status"));
  EXPECT_NE(status.find("\"block_store\":{\"blocks\":5"), std::string::npos) << status;
  link::DpCounters dp{};
  dp.relayed.store(7);
  dp.msgs_in_by_type[13].store(5);
  dp.bytes_out_by_type[28].store(123456);
  dp.relay_latency_buckets[2].store(3);  // ≤ 4 µs
  dp.relay_latency_buckets[5].store(1);  // ≤ 32 µs
  dp.relay_latency_ns_sum.store(40'000);
  api.ctx.dp = &dp;
  auto ring_mem = shm::Region::anonymous(shm::ring_footprint({8, 4096, 1024, true})).value();
  ASSERT_TRUE(shm::ring_format(ring_mem.data(), ring_mem.size(), {8, 4096, 1024, true}).ok());
  auto prod = shm::RingProducer::join(ring_mem.data(), ring_mem.size()).value();
  ASSERT_TRUE(prod.try_send(Bytes(100, 1), 1, 1));
  api.ctx.ring_dp_to_ctl = ring_mem.data();
  api.ctx.ring_dp_to_ctl_sz = ring_mem.size();
  const std::string metrics = run("curl -sf " + api.url("/metrics"));
  const std::string status_rings = run("curl -sf " + api.url("/status"));
  // The DPDK backend: its port's counters shown; on io_uring (above) they are left out.
  dp.backend.store(static_cast<std::uint64_t>(link::Backend::kDpdk));
  dp.port.tx_bytes.store(4096);
  dp.port.copied_tx_bytes.store(1500);
  dp.port.lingering.store(2);
  const std::string dpdk_metrics = run("curl -sf " + api.url("/metrics"));
  const std::string dpdk_status = run("curl -sf " + api.url("/status"));
  api.ctx.dp = nullptr;
  EXPECT_NE(metrics.find("stacks_relay_dp_backend 0\n"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("dp_port_"), std::string::npos);
  EXPECT_NE(status_rings.find("\"backend\":\"io_uring\""), std::string::npos) << status_rings;
  EXPECT_EQ(status_rings.find("\"port\":{"), std::string::npos);
  EXPECT_NE(dpdk_metrics.find("stacks_relay_dp_backend 1\n"), std::string::npos) << dpdk_metrics;
  EXPECT_NE(dpdk_metrics.find("# TYPE stacks_relay_dp_port_tx_bytes_total counter\nstacks_relay_dp_port_tx_bytes_total 4096\n"),
            std::string::npos) << dpdk_metrics;
  EXPECT_NE(dpdk_metrics.find("stacks_relay_dp_port_copied_tx_bytes_total 1500\n"), std::string::npos);
  EXPECT_NE(dpdk_metrics.find("# TYPE stacks_relay_dp_port_lingering gauge\nstacks_relay_dp_port_lingering 2\n"), std::string::npos);
  EXPECT_NE(dpdk_status.find("\"backend\":\"dpdk\""), std::string::npos) << dpdk_status;
  EXPECT_NE(dpdk_status.find("\"copied_tx_bytes\":1500"), std::string::npos) << dpdk_status;
  EXPECT_NE(dpdk_status.find("\"tx_bytes\":4096"), std::string::npos) << dpdk_status;
  api.ctx.ring_dp_to_ctl = nullptr;
  EXPECT_NE(metrics.find("# TYPE stacks_relay_dp_relay_latency_seconds histogram\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("stacks_relay_dp_relay_latency_seconds_bucket{le=\"2e-06\"} 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("stacks_relay_dp_relay_latency_seconds_bucket{le=\"4e-06\"} 3\n"), std::string::npos);
  EXPECT_NE(metrics.find("stacks_relay_dp_relay_latency_seconds_bucket{le=\"3.2e-05\"} 4\n"), std::string::npos);
  EXPECT_NE(metrics.find("stacks_relay_dp_relay_latency_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(metrics.find("stacks_relay_dp_relay_latency_seconds_sum 0.000040000\n"), std::string::npos);
  EXPECT_NE(metrics.find("stacks_relay_dp_relay_latency_seconds_count 4\n"), std::string::npos);
  EXPECT_NE(metrics.find("stacks_relay_ring_fragments{ring=\"dp_to_ctl\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("stacks_relay_ring_depth_fragments{ring=\"dp_to_ctl\"} 8\n"), std::string::npos);
  EXPECT_NE(metrics.find("stacks_relay_ring_arena_bytes{ring=\"dp_to_ctl\"} 4096\n"), std::string::npos);
  EXPECT_EQ(metrics.find("ring=\"ctl_to_dp\""), std::string::npos);  // not set: left out
  EXPECT_NE(status_rings.find("\"rings\":{\"dp_to_ctl\":{\"fragments\":1,\"depth\":8,"), std::string::npos) << status_rings;
  EXPECT_NE(status_rings.find("\"relay_latency_us\":{\"p50\":4,\"p99\":32,\"p999\":32}"), std::string::npos) << status_rings;
  EXPECT_NE(metrics.find("stacks_relay_dp_relayed_total 7\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("stacks_relay_dp_messages_total{direction=\"in\",type=\"Transaction\"} 5\n"), std::string::npos);
  EXPECT_NE(metrics.find("stacks_relay_dp_message_bytes_total{direction=\"out\",type=\"NakamotoBlocks\"} 123456\n"),
            std::string::npos);
  EXPECT_EQ(metrics.find("type=\"Ping\""), std::string::npos);  // never seen: left out
  EXPECT_NE(metrics.find("# TYPE stacks_relay_store_blocks gauge\nstacks_relay_store_blocks 5\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("stacks_relay_http_requests_total"), std::string::npos);
  // Two requests over one kept-alive connection; a HEAD; a 304 revalidation.
  const std::string v = run("curl -sv -o /dev/null -o /dev/null " + api.url("/v2/info") + " " + api.url("/status") + " 2>&1");
  EXPECT_NE(v.find("Re-using existing connection"), std::string::npos) << v;
  const std::string head = run("curl -sI " + api.url("/v3/blocks/" + to_hex(id_of(1))));
  EXPECT_NE(head.find("Content-Length: 1000"), std::string::npos) << head;
  const std::string cond = run("curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: \"" + to_hex(id_of(1)) + "\"' " +
                               api.url("/v3/blocks/" + to_hex(id_of(1))));
  EXPECT_EQ(cond, "304");
  EXPECT_EQ(run("curl -s -o /dev/null -w '%{http_code}' " + api.url("/nope")), "404");
}

std::string exchange(std::uint16_t port, const std::string& req) { return test::http_exchange(port, req); }

// 2.x microblock streams, served as a node serves them (PROTOCOL.md §8).
TEST(HttpServer, MicroblockStreamsByTailByConfirmingBlockAndUnconfirmed) {
  Api api;
  const store::Hash32 parent = id_of(0x50);  // index hash of the anchored block
  store::Hash20 ch;
  ch.fill(0x51);
  std::vector<store::Hash32> mbs;
  for (std::uint8_t i = 0; i < 3; ++i) {
    store::BlockMeta m;
    m.kind = store::BlockKind::kMicroblock;
    m.height = i;
    m.parent = i == 0 ? id_of(0x4f) : mbs.back();
    m.anchor = parent;
    m.consensus_hash = ch;
    mbs.push_back(id_of(static_cast<std::uint8_t>(0x60 + i)));
    ASSERT_TRUE(api.st.s->put(mbs.back(), m, payload(static_cast<std::uint8_t>(0xd0 + i), 200u + i)).ok());
  }
  // Anchored blocks: one confirming the stream up to sequence 2, one confirming nothing.
  auto child = [&](std::uint8_t idb, const store::Hash32& tail, std::uint16_t seq) {
    Bytes hdr(247 + 10, 0);
    std::memcpy(hdr.data() + 129, tail.data(), 32);
    hdr[161] = static_cast<std::uint8_t>(seq >> 8);
    hdr[162] = static_cast<std::uint8_t>(seq);
    store::BlockMeta m;
    m.kind = store::BlockKind::kStacks;
    ASSERT_TRUE(api.st.s->put(id_of(idb), m, hdr).ok());
  };
  child(0x70, mbs[2], 2);
  child(0x71, store::Hash32{}, 0);
  child(0x72, mbs[1], 5);  // claims a sequence the stored microblock does not have

  std::string expected(4, '\0');
  expected[3] = 3;  // u32 count, then newest first
  for (int i = 2; i >= 0; --i) expected += std::string(200 + static_cast<std::size_t>(i), static_cast<char>(0xd0 + i));
  auto get = [&](const std::string& path, const std::string& extra = "") {
    return exchange(api.server->port(), "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "Connection: close\r\n\r\n");
  };
  auto body = [](const std::string& resp) { return resp.substr(resp.find("\r\n\r\n") + 4); };
  const std::string tail = to_hex(store::microblock_index_hash(mbs[2], ch));
  const std::string by_tail = get("/v2/microblocks/" + tail);
  EXPECT_NE(by_tail.find("HTTP/1.1 200"), std::string::npos) << by_tail;
  EXPECT_NE(by_tail.find("application/octet-stream"), std::string::npos);
  EXPECT_NE(by_tail.find("ETag: \"" + tail + "\""), std::string::npos);
  EXPECT_EQ(body(by_tail), expected);
  EXPECT_NE(get("/v2/microblocks/" + tail, "If-None-Match: \"" + tail + "\"\r\n").find("HTTP/1.1 304"), std::string::npos);
  // A shorter stream: ending at sequence 1.
  const std::string short_stream = body(get("/v2/microblocks/" + to_hex(store::microblock_index_hash(mbs[1], ch))));
  ASSERT_GE(short_stream.size(), 4u);
  EXPECT_EQ(short_stream[3], 2);
  EXPECT_EQ(short_stream.size(), 4u + 201 + 200);

  const std::string confirmed = get("/v2/microblocks/confirmed/" + to_hex(id_of(0x70)));
  EXPECT_NE(confirmed.find("HTTP/1.1 200"), std::string::npos) << confirmed;
  EXPECT_EQ(body(confirmed), expected);
  EXPECT_NE(get("/v2/microblocks/confirmed/" + to_hex(id_of(0x71))).find("HTTP/1.1 404"), std::string::npos);
  EXPECT_NE(get("/v2/microblocks/confirmed/" + to_hex(id_of(0x72))).find("HTTP/1.1 404"), std::string::npos);
  EXPECT_NE(get("/v2/microblocks/confirmed/" + to_hex(mbs[0])).find("HTTP/1.1 404"), std::string::npos);  // not a block

  const std::string unconf = get("/v2/microblocks/unconfirmed/" + to_hex(parent) + "/1");
  EXPECT_NE(unconf.find("HTTP/1.1 200"), std::string::npos) << unconf;
  EXPECT_NE(unconf.find("Cache-Control: no-cache"), std::string::npos);
  EXPECT_EQ(body(unconf), std::string(201, static_cast<char>(0xd1)) + std::string(202, static_cast<char>(0xd2)));
  EXPECT_NE(get("/v2/microblocks/unconfirmed/" + to_hex(parent) + "/3").find("HTTP/1.1 404"), std::string::npos);
  for (const char* bad : {"/1x", "/70000", "/", ""})
    EXPECT_NE(get("/v2/microblocks/unconfirmed/" + to_hex(parent) + bad).find("HTTP/1.1 400"), std::string::npos) << bad;
  EXPECT_NE(get("/v2/microblocks/xyz").find("HTTP/1.1 400"), std::string::npos);
  EXPECT_NE(get("/v2/microblocks/" + to_hex(id_of(0x99))).find("HTTP/1.1 404"), std::string::npos);
  EXPECT_NE(exchange(api.server->port(), "POST /v2/microblocks/" + tail +
                                             " HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .find("HTTP/1.1 405"),
            std::string::npos);

  // A gap in the stream: the stream through it is not served.
  store::BlockMeta m;
  m.kind = store::BlockKind::kMicroblock;
  m.height = 4;
  m.parent = id_of(0x63);  // sequence 3 is not in the store
  m.anchor = parent;
  m.consensus_hash = ch;
  ASSERT_TRUE(api.st.s->put(id_of(0x64), m, payload(0xd4, 10)).ok());
  const std::string gap = get("/v2/microblocks/" + to_hex(store::microblock_index_hash(id_of(0x64), ch)));
  EXPECT_NE(gap.find("HTTP/1.1 404"), std::string::npos) << gap;
  EXPECT_NE(gap.find("incomplete"), std::string::npos);
}

TEST(HttpServer, NeighborsInTheNodesLayout) {
  Api api;
  ctl::NeighborsView v;
  ctl::NeighborEntry boot{1, 0x18000010, net::parse_addr("203.0.113.1").value(), 20444, {}, false, 42};
  boot.pkh.fill(0xab);
  v.bootstrap.push_back(boot);
  v.outbound.push_back(ctl::NeighborEntry{1, 0x1800000f, net::parse_addr("2001:db8::7").value(), 20445, {}, true, -1});
  v.table_size = 9;
  v.bans_in_force = 2;
  api.board.publish_neighbors(v);
  const std::string r = exchange(api.server->port(), "GET /v2/neighbors HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_NE(r.find("HTTP/1.1 200"), std::string::npos) << r;
  EXPECT_NE(r.find("application/json"), std::string::npos);
  EXPECT_NE(r.find("{\"bootstrap\":[{\"network_id\":1,\"peer_version\":402653200,\"ip\":\"203.0.113.1\",\"port\":20444,"
                   "\"public_key_hash\":\"" + to_hex(boot.pkh) +
                   "\",\"authenticated\":false,\"age\":42}],\"sample\":[],\"inbound\":[],\"outbound\":[{"),
            std::string::npos) << r;
  EXPECT_NE(r.find("\"ip\":\"2001:db8::7\",\"port\":20445"), std::string::npos) << r;
  EXPECT_NE(r.find("\"authenticated\":true}]}"), std::string::npos) << r;  // no age: a session
  EXPECT_NE(exchange(api.server->port(), "POST /v2/neighbors HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .find("HTTP/1.1 405"),
            std::string::npos);
  const std::string st = exchange(api.server->port(), "GET /status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_NE(st.find("\"frontier\":{\"peers\":9,\"bans_in_force\":2,\"outbound\":1,\"inbound\":0"), std::string::npos) << st;
  const std::string m = exchange(api.server->port(), "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_NE(m.find("stacks_relay_frontier_peers 9\n"), std::string::npos) << m;
  EXPECT_NE(m.find("stacks_relay_frontier_bans_in_force 2\n"), std::string::npos);
}

std::string post(const std::string& path, const std::string& type, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Uploads: checked like pushes, then handed over to be relayed (and only then).
TEST(HttpServer, UploadedTransactionsAndBlocksAreCheckedThenRelayed) {
  Api api;
  std::mutex mu;
  std::vector<Bytes> handed;
  api.ctx.originate = [&](Bytes p) {
    std::lock_guard<std::mutex> g(mu);
    handed.push_back(std::move(p));
  };
  const auto tx = sim::signed_tx(77);
  const Bytes raw = codec::encode_with(codec::write_transaction, tx);
  const std::string txs(raw.begin(), raw.end());
  std::string got = exchange(api.server->port(), post("/v2/transactions", "application/octet-stream", txs));
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  EXPECT_NE(got.find("\r\n\r\n\"" + to_hex(tx.txid) + "\""), std::string::npos);
  got = exchange(api.server->port(), post("/v2/transactions", "application/json", "{\"tx\": \"" + to_hex(raw) + "\"}"));
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  {
    std::lock_guard<std::mutex> g(mu);
    ASSERT_EQ(handed.size(), 2u);
    EXPECT_EQ(handed[0][0], static_cast<std::uint8_t>(codec::MsgId::kTransaction));
    EXPECT_EQ(Bytes(handed[0].begin() + 1, handed[0].end()), raw);
  }
  // Refused, and not handed over: a bad signature, another network, garbage, a wrong type.
  auto bad = tx;
  bad.auth.origin.signature[5] ^= 1;
  codec::compute_ids(bad);
  const Bytes badraw = codec::encode_with(codec::write_transaction, bad);
  got = exchange(api.server->port(), post("/v2/transactions", "application/octet-stream", std::string(badraw.begin(), badraw.end())));
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_NE(got.find("\"reason\":\"SignatureValidation\""), std::string::npos) << got;
  api.ctx.network_id = 0x80000000;  // a testnet relay
  got = exchange(api.server->port(), post("/v2/transactions", "application/octet-stream", txs));
  EXPECT_NE(got.find("\"reason\":\"BadTransactionVersion\""), std::string::npos) << got;
  api.ctx.network_id = 1;
  got = exchange(api.server->port(), post("/v2/transactions", "application/octet-stream", "hello"));
  EXPECT_NE(got.find("\"reason\":\"Deserialization\""), std::string::npos) << got;
  got = exchange(api.server->port(), post("/v2/transactions", "text/plain", txs));
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u);
  got = exchange(api.server->port(), "GET /v2/transactions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 405", 0), 0u);

  // A Nakamoto block: accepted with its signers' reward set, refused without.
  sim::SignerSet signers(4);
  const auto blk = sim::nakamoto_block(5, signers, sim::key_from_byte(3, 3), 2000);
  const Bytes braw = codec::encode_with(codec::write_nakamoto_block, blk);
  const std::string bs(braw.begin(), braw.end());
  got = exchange(api.server->port(), post("/v3/blocks/upload/", "application/octet-stream", bs));
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;  // no reward set: cannot be checked
  EXPECT_NE(got.find("\"accepted\":false"), std::string::npos);
  api.ctx.check_signers = [&](const codec::NakamotoBlock& b) {
    return validate::verify_signer_signatures(b, signers.reward_set);
  };
  got = exchange(api.server->port(), post("/v3/blocks/upload", "application/octet-stream", bs));
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  EXPECT_NE(got.find("{\"stacks_block_id\":\"" + to_hex(blk.block_id) + "\",\"accepted\":true}"), std::string::npos) << got;
  std::lock_guard<std::mutex> g(mu);
  ASSERT_EQ(handed.size(), 3u);
  EXPECT_EQ(handed[2][0], static_cast<std::uint8_t>(codec::MsgId::kNakamotoBlocks));
  EXPECT_EQ(Bytes(handed[2].begin() + 5, handed[2].end()), braw);
}

TEST(HttpServer, SlowIdleAndExcessClientsAreCutOff) {
  ServerOptions so;
  so.header_timeout_ms = 300;
  so.idle_timeout_ms = 500;
  so.max_conns = 3;
  Api api(so);
  int slow = connect_to(api.server->port());
  send_str(slow, "GET /v2/info HTTP/1.1\r\nHo");  // and nothing more
  int idle = connect_to(api.server->port());
  int third = connect_to(api.server->port());
  ::usleep(100'000);
  int fourth = connect_to(api.server->port());  // over the cap: refused
  EXPECT_TRUE(closed_by_server(fourth, 1000));
  EXPECT_TRUE(closed_by_server(slow, 2000));
  EXPECT_TRUE(closed_by_server(idle, 2000));
  for (int fd : {slow, idle, third, fourth}) ::close(fd);
  EXPECT_GE(api.server->stats().timeouts.load(), 2u);
  EXPECT_GE(api.server->stats().refused.load(), 1u);
  // A malformed request gets its 4xx and the connection is closed.
  int bad = connect_to(api.server->port());
  send_str(bad, "GET / HTTP/1.1\r\n\r\n");
  const std::string resp = read_all(bad);
  EXPECT_EQ(resp.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << resp << " conns " << api.server->connections();
  ::close(bad);
}

// A tenure of four blocks of `block` bytes (ids 20..23, consensus hash 0x88): a
// response built in memory.
std::string add_big_tenure(Api& api, std::size_t block = 1 << 20) {
  store::BlockMeta m;
  m.consensus_hash.fill(0x88);
  for (std::uint8_t i = 20; i <= 23; ++i) {
    m.height = i;
    m.parent = id_of(static_cast<std::uint8_t>(i - 1));
    EXPECT_TRUE(api.st.s->put(id_of(i), m, payload(i, block)).ok());
  }
  return "GET /v3/tenures/" + to_hex(id_of(23)) + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

// read_responses: reads until `n` responses of `body` bytes each have arrived.
bool read_responses(int fd, int n, std::size_t body) {
  std::size_t want = 0, got = 0;
  std::string head;
  char buf[1 << 16];
  for (int i = 0; i < n; ++i) want += body;
  std::size_t heads = 0;
  while (got < want + heads) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, 5000) <= 0) return false;
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
    if (heads == 0) {  // every head is the same size: learn it from the first
      head.append(buf, static_cast<std::size_t>(std::min<ssize_t>(r, 4096)));
      if (auto e = head.find("\r\n\r\n"); e != std::string::npos) heads = (e + 4) * static_cast<std::size_t>(n);
    }
  }
  return got == want + heads;
}

// A client that pipelines heavy requests and does not read holds one response: the
// next is built only once the last is written, and nothing more is read meanwhile.
// When it reads, every answer comes, in order. Issue 15.3.
TEST(HttpServer, PipelinedRequestsAreAnsweredOneAtATime) {
  Api api;
  const std::string req = add_big_tenure(api);
  const int fd = connect_to(api.server->port());
  std::string many;
  for (int i = 0; i < 30; ++i) many += req;
  send_str(fd, many);
  ::usleep(500'000);
  EXPECT_LE(api.server->stats().response_bytes.load(), std::uint64_t{4} << 20);
  EXPECT_LE(api.server->stats().requests.load(), 4u);  // the socket buffers hold a few MiB at most
  EXPECT_TRUE(read_responses(fd, 30, std::size_t{4} << 20));
  EXPECT_EQ(api.server->stats().requests.load(), 30u);
  // The last response is let go just after its last byte is written (the server thread
  // may not have got there when we have read it).
  for (int i = 0; i < 100 && api.server->stats().response_bytes.load() != 0; ++i) ::usleep(10'000);
  EXPECT_EQ(api.server->stats().response_bytes.load(), 0u);
  ::close(fd);
}

// Per-address connection limit, the cap on pipelined requests (answered in order, then
// 429), and a write timeout that a client sending more bytes cannot reset.
TEST(HttpServer, PerAddressLimitPipelineCapAndWriteTimeout) {
  ServerOptions so;
  so.max_conns_per_ip = 2;
  so.write_timeout_ms = 500;
  Api api(so);
  const std::string req = add_big_tenure(api);
  const int a = connect_to(api.server->port());
  const int b = connect_to(api.server->port());
  const int c = connect_to(api.server->port());  // a third from 127.0.0.1
  EXPECT_TRUE(closed_by_server(c, 1000));
  EXPECT_EQ(api.server->stats().refused_per_ip.load(), 1u);
  std::string flood;
  for (int i = 0; i < 40; ++i) flood += "GET /v2/info HTTP/1.1\r\nHost: t\r\n\r\n";
  send_str(a, flood);  // 32 are answered, then 429 and the connection is closed
  const std::string answers = read_all(a, 1000);
  std::size_t oks = 0;
  for (std::size_t at = 0; (at = answers.find("HTTP/1.1 200 OK", at)) != std::string::npos; ++at) ++oks;
  EXPECT_EQ(oks, 32u);
  EXPECT_NE(answers.find("HTTP/1.1 429 Too Many Requests"), std::string::npos);
  // b asks for 4 MiB and never reads, but keeps sending: cut off at the write timeout.
  send_str(b, req);
  const auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) {
    (void)::send(b, "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    pollfd pf{b, POLLRDHUP, 0};
    closed = ::poll(&pf, 1, 100) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }
  EXPECT_TRUE(closed);
  EXPECT_GE(api.server->stats().timeouts.load(), 1u);
  for (int fd : {a, b, c}) ::close(fd);
}

// Responses built in memory share one budget: past it, a request waits (its client is
// not refused) until another response has been written.
TEST(HttpServer, ResponseMemoryHasABudget) {
  ServerOptions so;
  so.response_budget = 20 << 20;
  Api api(so);
  // 12 MiB each: more than loopback's socket buffers take (4 MiB to send, 6 to receive at
  // most), so a response that is not read stays in memory.
  const std::size_t tenure = std::size_t{12} << 20;
  const std::string req = add_big_tenure(api, tenure / 4);
  const int a = connect_to(api.server->port());
  const int b = connect_to(api.server->port());
  const int c = connect_to(api.server->port());
  send_str(a, req);
  send_str(b, req);
  ::usleep(200'000);
  send_str(c, req);
  ::usleep(300'000);
  EXPECT_EQ(api.server->stats().budget_waits.load(), 1u);  // c: 24 MiB are out, past the 20 MiB
  EXPECT_LE(api.server->stats().response_bytes.load(), 2 * tenure);
  EXPECT_TRUE(read_responses(a, 1, tenure));  // a drains: c's turn
  EXPECT_TRUE(read_responses(c, 1, tenure));
  EXPECT_TRUE(read_responses(b, 1, tenure));
  for (int fd : {a, b, c}) ::close(fd);
}

TEST(HttpServer, ManyClientsAtOnce) {
  ServerOptions so;
  so.max_conns_per_ip = 0;  // all of them from 127.0.0.1
  Api api(so);
  const std::string id3 = to_hex(id_of(3));
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 32; ++t)
    ts.emplace_back([&] {
      int fd = connect_to(api.server->port());
      for (int i = 0; i < 20; ++i) {
        send_str(fd, "GET /v3/blocks/" + id3 + " HTTP/1.1\r\nHost: t\r\n\r\n");
        std::string got;
        char buf[8192];
        while (got.find("\r\n\r\n") == std::string::npos || got.size() - got.find("\r\n\r\n") - 4 < 3000) {
          ssize_t n = ::read(fd, buf, sizeof buf);
          if (n <= 0) break;
          got.append(buf, static_cast<std::size_t>(n));
        }
        if (got.rfind("HTTP/1.1 200 OK", 0) == 0 && got.size() - got.find("\r\n\r\n") - 4 == 3000) ++ok;
      }
      ::close(fd);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 32 * 20);
}


// A client that goes away while its answer is being written costs the server an EPIPE,
// never a SIGPIPE that would kill the process it runs in (this one does not ignore it).
TEST(HttpServer, AClientGoneMidAnswerDoesNotKillTheProcess) {
  ::signal(SIGPIPE, SIG_DFL);
  Api api(ServerOptions{});
  const std::string req = add_big_tenure(api);
  for (int i = 0; i < 6; ++i) {
    const int fd = connect_to(api.server->port());
    send_str(fd, req);
    ::usleep(50'000);  // the server is writing 4 MiB into a socket nobody reads
    if (i % 2 == 0) {
      linger l{1, 0};  // a reset: the server's next write fails with ECONNRESET
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    } else {
      char buf[65536];  // a FIN (nothing left unread): the server's next write draws a
      while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {  // reset, then EPIPE
      }
    }
    ::close(fd);
  }
  ::usleep(200'000);
  const int fd = connect_to(api.server->port());
  send_str(fd, "GET /v2/info HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(read_all(fd, 1000).find("HTTP/1.1 200 OK"), std::string::npos);
  ::close(fd);
}

}  // namespace
}  // namespace relay::http

namespace relay::http {
namespace {

// /v3/tenures/info from the store: the newest tenure held whole from its start (the block
// carrying its BlockFound tenure change) and its parent's start, in a node's JSON; 404 when
// the parent tenure's start is not held.
TEST(HttpServer, TenureInfoDescribesTheNewestTenureHeldWhole) {
  sim::SignerSet signers(2);
  const auto miner = sim::key_from_byte(9, 1);
  codec::Hash20 t0{}, tp{}, ta{};
  t0.fill(0x10);
  tp.fill(0x20);
  ta.fill(0x30);
  const auto p = sim::tenure_chain(50, 2, tp, codec::Hash32{}, signers, miner, 500, &t0);
  const auto a = sim::tenure_chain(52, 3, ta, p[1].block_id, signers, miner, 500, &tp);
  TempStore ts;
  store::BlockStore* st = ts.s.get();
  auto put = [&](const codec::NakamotoBlock& b) {
    store::BlockMeta m;
    m.kind = store::BlockKind::kNakamoto;
    const Bytes payload = store::push_of(m, codec::encode_with(codec::write_nakamoto_block, b));
    codec::PushScratch scratch;
    ASSERT_EQ(store::store_push(*st, payload, scratch).stored, 1u);
  };
  StatusBoard board;
  ApiContext ctx;
  ctx.store = st;
  ctx.board = &board;
  std::atomic<std::uint64_t> cycle{140};
  ctx.reward_cycle = &cycle;
  auto server = Server::start({}, make_relay_api(&ctx)).value();
  auto info = [&] { return test::http_exchange(server->port(), "GET /v3/tenures/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); };
  for (const auto& b : a) put(b);
  put(p[1]);  // the parent tenure's start (p[0]) is not held yet
  std::string got = info();
  EXPECT_EQ(got.rfind("HTTP/1.1 404", 0), 0u) << got;
  EXPECT_NE(got.find("is not held here"), std::string::npos) << got;
  put(p[0]);
  got = info();
  ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  EXPECT_NE(got.find("Content-Type: application/json"), std::string::npos);
  const auto j = nlohmann::json::parse(got.substr(got.find("\r\n\r\n") + 4));
  EXPECT_EQ(j["consensus_hash"], to_hex(ta));
  EXPECT_EQ(j["tenure_start_block_id"], to_hex(a[0].block_id));
  EXPECT_EQ(j["parent_consensus_hash"], to_hex(tp));
  EXPECT_EQ(j["parent_tenure_start_block_id"], to_hex(p[0].block_id));
  EXPECT_EQ(j["tip_block_id"], to_hex(a[2].block_id));
  EXPECT_EQ(j["tip_height"], 54u);
  EXPECT_EQ(j["reward_cycle"], 140u);
  EXPECT_EQ(j.size(), 7u);
  // Old blocks landing in the log later (read back from Gaia, caught up from a partner)
  // do not make an old tenure the ongoing one.
  codec::Hash20 t9{};
  t9.fill(0x09);
  for (const auto* ch : {&t0, &t9})  // 80 blocks lower than the tip: more than the 64 newest log entries it looks at
    for (const auto& b : sim::tenure_chain(1, 40, *ch, codec::Hash32{}, signers, miner, 0, &tp)) put(b);
  got = info();
  EXPECT_EQ(nlohmann::json::parse(got.substr(got.find("\r\n\r\n") + 4))["tip_block_id"], to_hex(a[2].block_id)) << got;
}

// A deferred answer that does not come in time: 504, and the connection goes on; the late
// answer is dropped.
TEST(HttpServer, ADeferredAnswerTooLateIsA504) {
  std::shared_ptr<Later> parked;
  ServerOptions so;
  so.deferred_timeout_ms = 300;
  auto srv = Server::start(so, [&](const Request& q, Response& r) {
               if (q.path == "/later") {
                 parked = r.defer();
                 return;
               }
               r.set_text(200, "now\n");
             }).value();
  const int fd = connect_to(srv->port());
  send_str(fd, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string got = read_all(fd, 1500);
  EXPECT_EQ(got.rfind("HTTP/1.1 504", 0), 0u) << got;
  send_str(fd, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(read_all(fd).find("now"), std::string::npos);
  Response late;
  late.set_text(200, "too late\n");
  parked->finish(std::move(late));
  for (int i = 0; i < 100 && srv->stats().deferred_dropped.load() == 0; ++i) ::usleep(10'000);
  EXPECT_EQ(srv->stats().deferred_dropped.load(), 1u);
  EXPECT_EQ(srv->stats().deferred_timeouts.load(), 1u);
  ::close(fd);
}

// A deferred response: the handler answers later from another thread; other clients are
// served meanwhile; HEAD and Connection: close are kept for the late answer; a Later
// dropped unfinished answers 503; a client gone before the answer costs nothing.
TEST(HttpServer, DeferredResponsesComeFromAnotherThreadWhileOthersAreServed) {
  std::mutex mu;
  std::vector<std::shared_ptr<Later>> parked;
  auto srv = Server::start({}, [&](const Request& q, Response& r) {
               if (q.path == "/later" || q.path == "/drop") {
                 auto l = r.defer();
                 ASSERT_NE(l, nullptr);
                 if (q.path == "/drop") return;  // dropped at once: 503
                 std::lock_guard<std::mutex> g(mu);
                 parked.push_back(std::move(l));
                 return;
               }
               r.set_text(200, "now\n");
             }).value();
  const int slow = connect_to(srv->port());
  send_str(slow, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  const int head = connect_to(srv->port());
  send_str(head, "HEAD /later HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> g(mu);
      if (parked.size() == 2) break;
    }
    ::usleep(10'000);
  }
  // Meanwhile another client is answered at once.
  EXPECT_NE(test::http_exchange(srv->port(), "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("now"), std::string::npos);
  EXPECT_NE(test::http_exchange(srv->port(), "GET /drop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("HTTP/1.1 503"),
            std::string::npos);
  std::thread finisher([&] {
    std::lock_guard<std::mutex> g(mu);
    for (auto& l : parked) {
      Response r;
      r.set_text(200, "later body\n");
      l->finish(std::move(r));
    }
  });
  finisher.join();
  const std::string got = read_all(slow);
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  EXPECT_NE(got.find("later body"), std::string::npos) << got;
  send_str(slow, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");  // the connection goes on after a late answer
  EXPECT_NE(read_all(slow).find("now"), std::string::npos);
  const std::string h = read_all(head);
  EXPECT_NE(h.find("Content-Length: 11"), std::string::npos) << h;
  EXPECT_EQ(h.find("later body"), std::string::npos) << h;  // HEAD: no body
  EXPECT_NE(h.find("Connection: close"), std::string::npos) << h;
  ::close(slow);
  ::close(head);
  // A client gone before its answer: the answer is dropped (counted), nothing breaks.
  const int gone = connect_to(srv->port());
  send_str(gone, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  for (int i = 0; i < 200 && srv->stats().deferred.load() < 4; ++i) ::usleep(10'000);
  ::close(gone);
  ::usleep(50'000);
  {
    std::lock_guard<std::mutex> g(mu);
    Response r;
    r.set_text(200, "too late\n");
    parked.back()->finish(std::move(r));
  }
  EXPECT_NE(test::http_exchange(srv->port(), "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("now"), std::string::npos);
  EXPECT_EQ(srv->stats().deferred.load(), 4u);
  for (int i = 0; i < 100 && srv->stats().deferred_dropped.load() == 0; ++i) ::usleep(10'000);
  EXPECT_EQ(srv->stats().deferred_dropped.load(), 1u);
}

}  // namespace
}  // namespace relay::http
