// The real relay (`stacks-relay run`: stacks-relay-dataplane + stacks-relay-control over
// their shared region) with stock-node test peers over loopback TCP: handshakes,
// transactions, a real mainnet Nakamoto block and microblocks reaching every other peer
// once, signed by the relay; peers that forge a signature, send a malformed preamble, an
// oversize length or a relayers cycle dropped while the others keep flowing; kill -9 of
// either process survived; clean stop on SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "control/store/block_store.hpp"
#include "dataplane/sandbox.hpp"
#include "dataplane/transport/uring/uring_transport.hpp"
#include "relay/base/hex.hpp"
#include "relay/validate/validate.hpp"
#include "tests/support/corpus_rounds.hpp"
#include "tests/support/fake_node_rpc.hpp"
#include "tests/support/loopback.hpp"
#include "tests/support/push_corpus.hpp"
#include "tests/support/relay_process.hpp"
#include "tests/support/test_data.hpp"
#include "tests/support/test_peer.hpp"
#include "tests/support/uring_peers.hpp"

namespace relay::dp {
namespace {

using namespace relay::codec;
using test::Peer;
using test::Peers;
using test::ListeningNode;

Hash20 pkh_of(const crypto::PublicKey& k) {
  auto c = k.compressed();
  return crypto::hash160(ByteSpan(c.data(), c.size()));
}

// http_get_body: GET `path` from the relay's HTTP endpoint; the body of a 200, else "".
std::string http_get_body(std::uint16_t port, const std::string& path) {
  const std::string got = test::http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n");
  if (got.rfind("HTTP/1.1 200 ", 0) != 0) return "";
  return got.substr(got.find("\r\n\r\n") + 4);
}

// A relayed push as a recipient must see it: signed by the relay, the sender's relayers
// extended by exactly the relay.
void expect_relayed_by(const Bytes& got, const crypto::PublicKey& relay_key, std::size_t upstream_relayers) {
  EXPECT_TRUE(validate::verify_message(got, relay_key));
  auto m = decode_message(got);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->relayers.size(), upstream_relayers + 1);
  EXPECT_EQ(m->relayers.back().peer.public_key_hash, pkh_of(relay_key));
}

// last_two_cpus: the last two CPUs this process may run on (one if it has only one).
std::vector<unsigned> last_two_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<unsigned> out;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (unsigned c = CPU_SETSIZE; c-- > 0 && out.size() < 2;)
    if (CPU_ISSET(c, &set)) out.insert(out.begin(), c);
  return out;
}

// thread_cpus: the Cpus_allowed_list of the thread of `pid` named `comm` ("" if none).
std::string thread_cpus(pid_t pid, const std::string& comm) {
  const std::string base = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& e : std::filesystem::directory_iterator(base)) {
    std::ifstream c(e.path() / "comm");
    std::string name;
    std::getline(c, name);
    if (name != comm) continue;
    std::ifstream st(e.path() / "status");
    for (std::string line; std::getline(st, line);)
      if (line.rfind("Cpus_allowed_list:", 0) == 0) return line.substr(line.find_first_not_of(" \t", 18));
  }
  return "";
}

// thread_name_of_self: this thread's name (comm), for thread_cpus of this process.
std::string thread_name_of_self() {
  std::ifstream c("/proc/thread-self/comm");
  std::string name;
  std::getline(c, name);
  return name;
}

TEST(RelayProcess, RelaysTransactionsBlocksAndMicroblocksAndDropsMisbehavingPeers) {
  // A 2.x-style network (microblocks relayed) with a static reward set made of the real
  // mainnet block's signers (24 of 32 weight: above the 70 % threshold).
  auto rows = test::read_tsv_records("real-data/mainnet-nakamoto-block.tsv");
  auto blk = decode_exact<NakamotoBlock>(test::hex(rows[0]["block_hex"]), read_nakamoto_block);
  ASSERT_TRUE(blk.ok());
  char tmpl[] = "/tmp/stacks-relay-cfg-XXXXXX";
  std::string cfg_dir = ::mkdtemp(tmpl);
  const std::vector<unsigned> pinned = last_two_cpus();
  ASSERT_FALSE(pinned.empty());
  {
    std::ofstream rs(cfg_dir + "/reward-set.txt");
    for (const auto& sig : blk->header.signer_signature)
      rs << to_hex(crypto::recover(blk->block_hash, sig, crypto::LowS::kIgnore)->compressed()) << " 1\n";
    for (int i = 0; i < 8; ++i) rs << to_hex(crypto::SecretKey::generate()->public_key().compressed()) << " 1\n";
    std::ofstream cfg(cfg_dir + "/relay.toml");
    cfg << test::kTestFrontierToml << "[network]\nrelay_2x = true\n[rewards]\nreward_set_file = \"" << cfg_dir << "/reward-set.txt\"\n";
    // The dataplane's two threads pinned to the last two CPUs this test may use (one
    // CPU: the run loop only).
    cfg << "[p2p]\ncpus = [" << pinned[0];
    if (pinned.size() > 1) cfg << ", " << pinned[1];
    cfg << "]\n";
  }
  test::RelayRun relay({"--config", cfg_dir + "/relay.toml", "--http-bind", "127.0.0.1:0"});
  ASSERT_GT(relay.port, 0) << "the relay did not report READY";
  // Each thread runs where p2p.cpus put it (the kernel's view, /proc/PID/task/TID/status).
  EXPECT_EQ(thread_cpus(relay.dp_pid, "stacks-relay-da"), std::to_string(pinned[0]));
  if (pinned.size() > 1) {
    EXPECT_EQ(thread_cpus(relay.dp_pid, "dp-stream"), std::to_string(pinned[1]));
  }

  Peers net;
  Peer& a = net.add(50, relay.port);
  Peer& b = net.add(51, relay.port);
  Peer& c = net.add(52, relay.port);
  ASSERT_TRUE(net.all_authenticated());
  const crypto::PublicKey relay_key = *a.conv->peer_key();

  // A transaction: to every other peer once, identical bytes, never back to the sender.
  a.send(a.conv->sign(11, Transaction{test::signed_test_tx(1)}));
  ASSERT_TRUE(net.pump_until([&] { return !b.pushes.empty() && !c.pushes.empty(); }));
  EXPECT_EQ(b.pushes[0], c.pushes[0]);
  expect_relayed_by(b.pushes[0], relay_key, 0);
  EXPECT_TRUE(a.pushes.empty());

  // The real mainnet Nakamoto block, pushed by b.
  NakamotoBlocks nb;
  nb.blocks.push_back(*blk);
  b.send(b.conv->sign(12, nb));
  ASSERT_TRUE(net.pump_until([&] { return a.pushes.size() == 1 && c.pushes.size() == 2; }));
  EXPECT_EQ(a.pushes[0], c.pushes[1]);
  expect_relayed_by(a.pushes[0], relay_key, 0);
  EXPECT_EQ(std::get<NakamotoBlocks>(decode_message(a.pushes[0])->payload).blocks[0].block_id, blk->block_id);
  // …and is served by the HTTP endpoint, byte for byte, once the store has it.
  ASSERT_GT(relay.wait_http(5000), 0) << "no HTTP endpoint reported";
  std::string served;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (served.empty() && std::chrono::steady_clock::now() < until) {  // the store gets it from the ring
    served = http_get_body(relay.http_port, "/v3/blocks/" + to_hex(blk->block_id));
    if (served.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const Bytes want = test::hex(rows[0]["block_hex"]);
  EXPECT_EQ(served, std::string(want.begin(), want.end()));
  const std::string metrics = http_get_body(relay.http_port, "/metrics");
  EXPECT_NE(metrics.find("stacks_relay_dp_relayed_total 2\n"), std::string::npos) << metrics.substr(0, 400);
  EXPECT_NE(metrics.find("stacks_relay_store_blocks 1\n"), std::string::npos);

  // Microblocks (a 2.x network), pushed by c with one upstream relayer.
  Microblocks mbs;
  mbs.microblocks = test::signed_test_microblocks(3, 0x61);
  RelayData upstream;
  upstream.peer.public_key_hash.fill(0x5a);
  c.send(c.conv->sign(13, mbs, {upstream}));
  ASSERT_TRUE(net.pump_until([&] { return a.pushes.size() == 2 && b.pushes.size() == 2; }));
  EXPECT_EQ(a.pushes[1], b.pushes[1]);
  expect_relayed_by(a.pushes[1], relay_key, 1);
  EXPECT_EQ(std::get<Microblocks>(decode_message(a.pushes[1])->payload).microblocks.size(), 3u);
  EXPECT_EQ(c.pushes.size(), 2u);  // nothing echoed

  // The same objects again: deduplicated, nobody gets a second copy.
  c.send(c.conv->sign(14, Transaction{test::signed_test_tx(1)}));
  net.pump_until([] { return false; }, 1);
  EXPECT_EQ(b.pushes.size(), 2u);
  EXPECT_GE(relay.counters().drop_dup.load(), 1u);

  // Four misbehaving peers, each dropped; a and b keep relaying to each other.
  Peer& forger = net.add(60, relay.port);
  Peer& wrong_net = net.add(61, relay.port);
  Peer& oversize = net.add(62, relay.port);
  Peer& cycler = net.add(63, relay.port);
  ASSERT_TRUE(net.all_authenticated());
  Bytes forged = forger.conv->sign(20, Transaction{test::signed_test_tx(2)});
  forged[100] ^= 1;  // inside the signature
  forger.send(forged);
  ctl::LocalPeer other_net = test::make_local_peer(61);
  other_net.network_id = 0x80000000;  // testnet's id on a mainnet relay
  ctl::Conversation foreign(&other_net, true, 0);
  foreign.set_burn_view(test::test_burn_view());
  wrong_net.send(foreign.sign(21, Ping{1}));
  Bytes big = oversize.conv->sign(22, Ping{2});
  big[161] = 0x7f;  // payload_len (preamble bytes 161..164) far beyond the 16 MiB limit
  oversize.send(big);
  RelayData loop;
  loop.peer.public_key_hash.fill(0x33);
  cycler.send(cycler.conv->sign(23, Transaction{test::signed_test_tx(3)}, {loop, loop}));
  ASSERT_TRUE(net.pump_until([&] { return forger.closed && wrong_net.closed && oversize.closed && cycler.closed; }));
  a.send(a.conv->sign(24, Transaction{test::signed_test_tx(4)}));
  ASSERT_TRUE(net.pump_until([&] { return b.pushes.size() == 3 && c.pushes.size() == 3; }));
  EXPECT_FALSE(a.closed || b.closed || c.closed);
  EXPECT_TRUE(forger.pushes.empty() || forger.pushes.size() == 1);  // nothing after it was dropped
  const auto& k = relay.counters();
  EXPECT_GE(k.drop_bad_signature.load(), 1u);
  EXPECT_GE(k.drop_bad_preamble.load(), 1u);
  EXPECT_GE(k.drop_framing.load(), 1u);
  EXPECT_GE(k.drop_relayers.load(), 1u);
  EXPECT_EQ(relay.stop(), 0);

  // The block store kept what was relayed, and keeps it after the relay stopped.
  {
    auto store = store::BlockStore::open(relay.dir + "/data/blocks", {}).value();
    auto snap = store->snapshot().value();
    auto got = snap.get(blk->block_id);
    ASSERT_TRUE(got) << "the mainnet block is not in the store";
    EXPECT_EQ(Bytes(got->bytes.begin(), got->bytes.end()), test::hex(rows[0]["block_hex"]));
    EXPECT_EQ(got->meta.height, blk->header.chain_length);
    for (const auto& mb : mbs.microblocks) EXPECT_TRUE(snap.get(mb.block_hash));
    EXPECT_EQ(store->totals().blocks, 1u + mbs.microblocks.size());
  }
  (void)std::system(("rm -rf " + cfg_dir).c_str());
}

// The dataplane process relays Nakamoto blocks of 64 KiB and transactions of every kind
// without allocating: the heap counter it publishes (jemalloc's count of the bytes its
// thread allocated) does not move while they are relayed.
TEST(RelayProcess, RelaysBlocksAndTransactionsWithoutAllocating) {
  const test::PushCorpus corpus = test::push_corpus();
  char tmpl[] = "/tmp/stacks-relay-cfg-XXXXXX";
  std::string cfg_dir = ::mkdtemp(tmpl);
  const std::vector<unsigned> pinned = last_two_cpus();
  ASSERT_FALSE(pinned.empty());
  {
    test::write_corpus_reward_set(cfg_dir, corpus);
    std::ofstream cfg(cfg_dir + "/relay.toml");
    cfg << test::kTestFrontierToml << "[rewards]\nreward_set_file = \"" << cfg_dir << "/reward-set.txt\"\n";
    cfg << "[p2p]\ncpus = [" << pinned.back() << "]\n";  // the run loop only
  }
  test::RelayRun relay({"--config", cfg_dir + "/relay.toml"});
  ASSERT_GT(relay.port, 0) << "the relay did not report READY";
  // One CPU given: the run loop runs there, and the second thread keeps every CPU the
  // process had (it must not share the run loop's).
  EXPECT_EQ(thread_cpus(relay.dp_pid, "stacks-relay-da"), std::to_string(pinned.back()));
  EXPECT_EQ(thread_cpus(relay.dp_pid, "dp-stream"), thread_cpus(::getpid(), thread_name_of_self()));
  Peers net;
  Peer& a = net.add(70, relay.port);
  Peer& b = net.add(71, relay.port);
  Peer& c = net.add(72, relay.port);
  ASSERT_TRUE(net.all_authenticated());
  for (auto& p : net.ps) p->keep_pushes = false;  // counted, not kept

  test::CorpusRounds rounds(net, a, b, c, corpus);
  ASSERT_TRUE(rounds.warm_up()) << "warm-up: c has " << c.push_count << " of " << rounds.want_c();
  const auto& k = relay.counters();
  if (k.heap_allocated.load() == 0) GTEST_SKIP() << "the dataplane's allocator is not jemalloc (sanitizer build)";
  const auto m = rounds.measure(k);
  ASSERT_TRUE(m.ok) << "c has " << c.push_count << " of " << rounds.want_c();
  EXPECT_EQ(m.relayed, 10u + rounds.transactions() - 40);
  EXPECT_EQ(k.rx_heap_bodies.load(), 0u);  // every large body fitted a receive-pool slot
  EXPECT_EQ(k.drop_invalid.load(), 0u);
  EXPECT_EQ(m.allocated, 0u) << "heap bytes the dataplane allocated relaying " << m.relayed << " pushes";
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + cfg_dir).c_str());
}

// With the HTTP endpoint on, the relay advertises it to nodes (data_url, RPC bit), and a
// transaction uploaded to it reaches every node, with the relay as its one relayer.
TEST(RelayProcess, AdvertisesItsHttpEndpointAndRelaysUploads) {
  const std::uint16_t http_port = test::free_port();
  test::RelayRun relay({"--http-bind", "127.0.0.1:" + std::to_string(http_port)});
  ASSERT_GT(relay.port, 0) << "the relay did not report READY";
  Peers net;
  Peer& a = net.add(55, relay.port);
  Peer& b = net.add(56, relay.port);
  ASSERT_TRUE(net.all_authenticated());
  const auto& hs = a.conv->peer_handshake();
  ASSERT_TRUE(hs.has_value());
  EXPECT_EQ(hs->data_url, "http://127.0.0.1:" + std::to_string(http_port));
  EXPECT_EQ(hs->services, codec::kServiceRelay | codec::kServiceRpc);

  const Bytes raw = encode_with(write_transaction, test::signed_test_tx(808));
  const std::string body(raw.begin(), raw.end());
  const std::string got = test::http_exchange(
      http_port, "POST /v2/transactions HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n"
                 "Content-Type: application/octet-stream\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  ASSERT_TRUE(net.pump_until([&] { return a.pushes.size() == 1 && b.pushes.size() == 1; }));
  EXPECT_EQ(a.pushes[0], b.pushes[0]);
  expect_relayed_by(a.pushes[0], *a.conv->peer_key(), 0);
  EXPECT_EQ(relay.counters().originated.load(), 1u);
  EXPECT_EQ(relay.stop(), 0);
}

// An identity key kept outside the data directory, and a data directory that does not
// exist yet (three levels of it): the relay makes it and starts. (It used not to: the
// key's creation was what made the directory, so the block store had nowhere to go.)
TEST(RelayProcess, StartsWithAKeyKeptElsewhereAndADataDirectoryNotYetMade) {
  char tmpl[] = "/tmp/srl-keyelsewhere-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0711);
  const std::string key = dir + "/relay.key";
  std::ofstream(key) << to_hex(test::make_local_peer(33).key.bytes()) << "\n";
  ::chmod(key.c_str(), 0600);
  const std::string data = dir + "/a/b/data";
  test::RelayRun relay({"--identity-key-file", key, "--data-dir", data});
  ASSERT_GT(relay.port, 0) << "the relay did not start";
  struct stat st{};
  ASSERT_EQ(::stat((data + "/blocks").c_str(), &st), 0) << "no block store in the new data directory";
  Peers net;
  Peer& a = net.add(57, relay.port);
  ASSERT_TRUE(net.all_authenticated());
  EXPECT_EQ(*a.conv->peer_key(), test::make_local_peer(33).key.public_key());  // the key from the file
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + dir).c_str());
}

// Signer sets come from a trusted node's RPC: the relay learns the cycle and its signers,
// and relays a block those signers signed.
TEST(RelayProcess, FetchesRewardSetsFromANodesRpc) {
  test::FakeNodeRpc node;
  sim::SignerSet signers(5);
  node.set_cycle(100);
  node.set_signers(100, signers.reward_set);
  node.set_signers(99, test::push_corpus().real_signers);
  char tmpl[] = "/tmp/stacks-relay-cfg-XXXXXX";
  std::string cfg_dir = ::mkdtemp(tmpl);
  {
    std::ofstream cfg(cfg_dir + "/relay.toml");
    cfg << test::kTestFrontierToml << "[rewards]\nnode_rpc = [\"" << node.url() << "\"]\npoll_s = 1\n";
  }
  test::RelayRun relay({"--config", cfg_dir + "/relay.toml"});
  ASSERT_GT(relay.port, 0) << "the relay did not report READY";
  Peers net;
  Peer& a = net.add(57, relay.port);
  Peer& b = net.add(58, relay.port);
  ASSERT_TRUE(net.all_authenticated());
  ASSERT_TRUE(net.pump_until([&] { return node.requests("/v3/stacker_set/99") == 1; }, 10));
  net.pump_until([] { return false; }, 1);  // the sets reach the dataplane
  NakamotoBlocks nb;
  nb.blocks.push_back(sim::nakamoto_block(7, signers, sim::key_from_byte(4, 4), 1000));
  a.send(a.conv->sign(1, nb));
  ASSERT_TRUE(net.pump_until([&] { return b.pushes.size() == 1; })) << "drop_no_reward_set "
      << relay.counters().drop_no_reward_set.load() << ", drop_invalid " << relay.counters().drop_invalid.load();
  EXPECT_EQ(relay.stop(), 0);
  (void)std::system(("rm -rf " + cfg_dir).c_str());
}

// Started as root, both processes set up and then become an unprivileged user (here
// `nobody`: no `stacks-relay` user on the test machine) with no capabilities, before
// reading from any peer, and the dataplane runs under its system-call filter; the data
// directory is theirs; relaying works; a restarted dataplane drops again. `[process] user = ""` keeps root; an unknown user is refused.
TEST(RelayProcess, DropsRootAfterSettingUp) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const uid_t uid = nobody->pw_uid;
  // The user's own supplementary groups come along (an operator adds the relay's user to
  // debian-tor to read Tor's control cookie): a group of the test's, with nobody in it.
  const std::string grp_name = "srl-grp-" + std::to_string(::getpid());
  struct GroupGuard {
    std::string name;
    ~GroupGuard() { (void)std::system(("groupdel " + name + " >/dev/null 2>&1").c_str()); }
  } guard{grp_name};
  ASSERT_EQ(std::system(("groupadd " + grp_name + " && usermod -a -G " + grp_name + " nobody").c_str()), 0);
  const ::group* extra = ::getgrnam(grp_name.c_str());
  ASSERT_NE(extra, nullptr);
  const std::string extra_gid = std::to_string(extra->gr_gid);
  test::RelayRun relay({"--http-bind", "127.0.0.1:0"});
  ASSERT_GT(relay.port, 0);
  ASSERT_TRUE(relay.wait_control() > 0);
  Peers net;
  Peer& a = net.add(95, relay.port);
  Peer& b = net.add(96, relay.port);
  ASSERT_TRUE(net.all_authenticated());
  test::expect_unprivileged(relay.dataplane_pid(), uid, "dataplane");
  test::expect_unprivileged(relay.control_pid(), uid, "control");
  for (pid_t p : {relay.dataplane_pid(), relay.control_pid()}) {
    const std::string groups = " " + test::proc_status(p, "Groups") + " ";
    EXPECT_NE(groups.find(" " + extra_gid + " "), std::string::npos) << groups;
    EXPECT_EQ(groups.find(" 0 "), std::string::npos) << groups;  // nothing of root's
  }
  if (kSyscallFilterInThisBuild) {
    EXPECT_EQ(test::proc_status(relay.dataplane_pid(), "Seccomp"), "2");  // the system-call filter is on
    EXPECT_EQ(test::proc_status(relay.dataplane_pid(), "Seccomp_filters"), "1");
  }
  struct stat st{};
  ASSERT_EQ(::stat((relay.dir + "/data/identity.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid);
  a.send(a.conv->sign(1, Transaction{test::signed_test_tx(1)}));
  ASSERT_TRUE(net.pump_until([&] { return b.pushes.size() == 1; }));
  // A restarted dataplane drops root again.
  const pid_t dp1 = relay.dp_pid;
  ASSERT_EQ(::kill(dp1, SIGKILL), 0);
  ASSERT_TRUE(relay.wait_ready(15000));
  test::expect_unprivileged(relay.dp_pid, uid, "restarted dataplane");
  if (kSyscallFilterInThisBuild) {
    EXPECT_EQ(test::proc_status(relay.dp_pid, "Seccomp"), "2");
  }
  EXPECT_EQ(relay.stop(), 0);

  char tmpl[] = "/tmp/stacks-relay-cfg-XXXXXX";
  const std::string cfg_dir = ::mkdtemp(tmpl);
  {
    std::ofstream(cfg_dir + "/root.toml") << test::kTestFrontierToml << "[process]\nuser = \"\"\n";
    std::ofstream(cfg_dir + "/unknown.toml") << test::kTestFrontierToml << "[process]\nuser = \"no-such-user-here\"\n";
  }
  {
    test::RelayRun as_root({"--config", cfg_dir + "/root.toml"});
    ASSERT_GT(as_root.port, 0);
    EXPECT_EQ(test::proc_status(as_root.dp_pid, "Uid").substr(0, 2), "0\t");
    EXPECT_EQ(as_root.stop(), 0);
  }
  {
    test::RelayRun refused({"--config", cfg_dir + "/unknown.toml"});
    EXPECT_EQ(refused.port, 0);  // never ready
    EXPECT_EQ(refused.exit_status(), 2);  // the configuration is refused: not restarted
  }
  (void)std::system(("rm -rf " + cfg_dir).c_str());
}

TEST(RelaySupervisor, SurvivesKill9OfTheDataplaneAndRedialsItsPeers) {
  ListeningNode node;
  const std::uint16_t port = test::free_port();
  test::RelayRun relay({"--peer", "127.0.0.1:" + std::to_string(node.port)}, "127.0.0.1:" + std::to_string(port));
  ASSERT_EQ(relay.port, port);
  Peers net;
  Peer& a = net.add(90, port);
  std::uint64_t now = 1;
  auto step = [&](const std::function<bool()>& done, int secs = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      node.pump(++now);
      for (auto& p : net.ps) p->pump(++now, 1);
    }
    return true;
  };
  // Both sessions authenticated on the relay's side too: the node's handshake is in
  // before the relay has its accept, and a push finds only the recipients it knows.
  ASSERT_TRUE(step([&] {
    return a.authenticated() && node.handshakes() == 1 && relay.counters().sessions_auth_live.load() == 2;
  }));
  const crypto::PublicKey key1 = *a.conv->peer_key();
  a.send(a.conv->sign(1, Transaction{test::signed_test_tx(1)}));
  ASSERT_TRUE(step([&] { return node.peer.pushes.size() == 1; }));

  // kill -9 the dataplane: connections die with it; the supervisor starts a new one,
  // which keeps the identity, and the control plane dials the node again.
  const pid_t dp1 = relay.dp_pid;
  const pid_t ctl1 = relay.control_pid();
  ASSERT_EQ(::kill(dp1, SIGKILL), 0);
  ASSERT_TRUE(relay.wait_ready(15000));
  EXPECT_NE(relay.dp_pid, dp1);
  EXPECT_EQ(relay.port, port);
  EXPECT_EQ(relay.control_pid(), ctl1);  // the control process was not restarted
  ASSERT_TRUE(step([&] { return a.closed && node.handshakes() == 2; }));
  Peer& a2 = net.add(91, port);
  ASSERT_TRUE(step([&] { return a2.authenticated() && relay.counters().sessions_auth_live.load() == 2; }));
  EXPECT_TRUE(*a2.conv->peer_key() == key1);
  a2.send(a2.conv->sign(2, Transaction{test::signed_test_tx(2)}));
  ASSERT_TRUE(step([&] { return node.peer.pushes.size() == 2; }));
  EXPECT_EQ(std::get<Transaction>(decode_message(node.peer.pushes[1])->payload).tx.txid, test::signed_test_tx(2).txid);
  EXPECT_EQ(relay.stop(), 0);
}

TEST(RelaySupervisor, SurvivesKill9OfTheControlProcessWithoutDroppingSessions) {
  test::RelayRun relay({});
  ASSERT_GT(relay.port, 0);
  Peers net;
  Peer& a = net.add(100, relay.port);
  Peer& b = net.add(101, relay.port);
  ASSERT_TRUE(net.all_authenticated());
  const pid_t ctl1 = relay.wait_control();
  ASSERT_GT(ctl1, 0);
  ASSERT_EQ(::kill(ctl1, SIGKILL), 0);
  // While it is down, authenticated sessions keep relaying: the dataplane does that alone.
  a.send(a.conv->sign(1, Transaction{test::signed_test_tx(1)}));
  ASSERT_TRUE(net.pump_until([&] { return b.pushes.size() == 1; }));
  const pid_t ctl2 = relay.wait_control(ctl1);
  ASSERT_GT(ctl2, 0) << "the supervisor did not restart the control process";
  ASSERT_TRUE(net.pump_until([&] { return relay.counters().ctl_restarts.load() >= 1; }));
  // The new control plane adopted the sessions: a Ping is answered (not Nack'd), pushes
  // flow both ways, nobody was dropped, and a new peer gets its handshake.
  b.send(b.conv->sign(2, Transaction{test::signed_test_tx(2)}));
  b.send(b.conv->sign(3, Ping{7}));
  ASSERT_TRUE(net.pump_until([&] { return a.pushes.size() == 1; }));
  Peer& c = net.add(102, relay.port);
  ASSERT_TRUE(net.pump_until([&] { return c.authenticated(); }));
  a.send(a.conv->sign(4, Transaction{test::signed_test_tx(3)}));
  ASSERT_TRUE(net.pump_until([&] { return b.pushes.size() == 2 && c.pushes.size() == 1; }));
  EXPECT_FALSE(a.closed || b.closed || c.closed);
  EXPECT_EQ(relay.stop(), 0);
}

}  // namespace
}  // namespace relay::dp
