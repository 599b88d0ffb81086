#include "relay/config/config.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace relay::config {
namespace {

std::string example() {
  std::ifstream f(std::string(RELAY_TEST_DATA_DIR) + "/../../deploy/config/relay.toml.example");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Config, DefaultsAreTheMainnetProfile) {
  std::string err;
  auto c = load_config("", {}, err);
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_EQ(c->network, Network::kMainnet);
  EXPECT_EQ(c->network_id, 1u);
  EXPECT_EQ(c->peer_version, 0x18000010u);
  EXPECT_EQ(c->bind_port, 20444);
  EXPECT_EQ(c->identity_key_path(), "/var/lib/stacks-relay/identity.key");
}

TEST(Config, ExampleFileLoadsToTheDefaults) {
  std::string text = example();
  ASSERT_FALSE(text.empty());
  std::string err;
  auto c = load_config(text, {}, err, "relay.toml.example");
  ASSERT_TRUE(c.ok()) << err;
  auto d = load_config("", {}, err);
  EXPECT_EQ(c->bind_host, d->bind_host);
  EXPECT_EQ(c->max_queued_per_peer, d->max_queued_per_peer);
  EXPECT_EQ(c->large_sends_at_once, d->large_sends_at_once);
  EXPECT_EQ(c->large_sends_in_step, d->large_sends_in_step);
  EXPECT_EQ(c->large_push_bytes, d->large_push_bytes);
  EXPECT_EQ(c->shm_path, d->shm_path);
  EXPECT_EQ(c->max_message_len, d->max_message_len);
  EXPECT_EQ(c->store_enabled, d->store_enabled);
  EXPECT_EQ(c->store_max_bytes, d->store_max_bytes);
  EXPECT_EQ(c->store_max_blocks, d->store_max_blocks);
  EXPECT_EQ(c->block_store_path(), d->block_store_path());
  EXPECT_EQ(c->bootstrap_peers(), d->bootstrap_peers());
  EXPECT_EQ(c->walk, d->walk);
  EXPECT_EQ(c->walk_interval_ms, d->walk_interval_ms);
  EXPECT_EQ(c->target_outbound, d->target_outbound);
  EXPECT_EQ(c->max_peers, d->max_peers);
  EXPECT_EQ(c->max_neighbor_age_s, d->max_neighbor_age_s);
  EXPECT_EQ(c->private_neighbors, d->private_neighbors);
  EXPECT_EQ(c->max_inbound_per_ip, d->max_inbound_per_ip);
  EXPECT_EQ(c->ban_s, d->ban_s);
  EXPECT_EQ(c->ban_max_s, d->ban_max_s);
  EXPECT_EQ(c->peer_table_path(), d->peer_table_path());
  EXPECT_EQ(c->busy_poll, d->busy_poll);
  EXPECT_EQ(c->receive_budget, d->receive_budget);
  EXPECT_EQ(c->tx_bytes_per_s, d->tx_bytes_per_s);
  EXPECT_EQ(c->tx_checks_per_s, d->tx_checks_per_s);
}

TEST(Config, ReceiveBudget) {
  std::string err;
  auto d = load_config("", {}, err);
  ASSERT_TRUE(d.ok()) << err;
  EXPECT_EQ(d->receive_budget, std::uint64_t{512} << 20);
  auto c = load_config("[p2p]\nreceive_budget = 1073741824\n", {}, err);
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_EQ(c->receive_budget, std::uint64_t{1} << 30);
  // Below what the receive pool and one largest message need: refused, with the key named.
  EXPECT_FALSE(load_config("[p2p]\nreceive_budget = 1000000\n", {}, err, "r.toml").ok());
  EXPECT_NE(err.find("'p2p.receive_budget' must be an integer in"), std::string::npos) << err;
}

TEST(Config, TransactionAllowances) {
  std::string err;
  auto d = load_config("", {}, err);
  ASSERT_TRUE(d.ok()) << err;
  EXPECT_EQ(d->tx_bytes_per_s, std::uint64_t{1} << 20);
  EXPECT_EQ(d->tx_checks_per_s, 2000u);
  auto c = load_config("[p2p]\ntx_bytes_per_s = 65536\ntx_checks_per_s = 50\n", {}, err);
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_EQ(c->tx_bytes_per_s, 65536u);
  EXPECT_EQ(c->tx_checks_per_s, 50u);
  EXPECT_FALSE(load_config("[p2p]\ntx_checks_per_s = 0\n", {}, err, "r.toml").ok());
  EXPECT_NE(err.find("'p2p.tx_checks_per_s' must be an integer in"), std::string::npos) << err;
}

TEST(Config, LargePushesAFewPeersAtATime) {
  std::string err;
  auto d = load_config("", {}, err);
  ASSERT_TRUE(d.ok()) << err;
  EXPECT_EQ(d->large_sends_at_once, 0u);  // every peer at once
  EXPECT_EQ(d->large_push_bytes, 256u << 10);
  auto c = load_config("[p2p]\nlarge_sends_at_once = 3\nlarge_push_bytes = 65536\n", {}, err);
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_EQ(c->large_sends_at_once, 3u);
  EXPECT_EQ(c->large_push_bytes, 65536u);
  EXPECT_TRUE(d->large_sends_in_step);  // the slots kept in step unless turned off
  auto off = load_config("[p2p]\nlarge_sends_at_once = 2\nlarge_sends_in_step = false\n", {}, err);
  ASSERT_TRUE(off.ok()) << err;
  EXPECT_FALSE(off->large_sends_in_step);
  EXPECT_FALSE(load_config("[p2p]\nlarge_sends_in_step = 1\n", {}, err, "r.toml").ok());
  EXPECT_FALSE(load_config("[p2p]\nlarge_push_bytes = 100\n", {}, err, "r.toml").ok());
  EXPECT_NE(err.find("'p2p.large_push_bytes' must be an integer in"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[p2p]\nlarge_sends_at_once = -1\n", {}, err, "r.toml").ok());
}

TEST(Config, HttpAndRewardsSections) {
  std::string err;
  auto c = load_config("[http]\nbind = \"0.0.0.0:20443\"\npublic_url = \"http://relay.example.org:20443\"\n"
                       "[rewards]\nnode_rpc = [\"http://10.0.0.5:20443\", \"https://node.example.org\"]\npoll_s = 30\n",
                       {}, err);
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_EQ(c->http_bind_host, "0.0.0.0");
  EXPECT_EQ(c->http_bind_port, 20443);
  EXPECT_EQ(c->http_public_url, "http://relay.example.org:20443");
  EXPECT_EQ(c->node_rpc.size(), 2u);
  EXPECT_EQ(c->reward_poll_s, 30u);
  ConfigOverrides ov;
  ov.http_bind = "127.0.0.1:8080";
  auto d = load_config("", ov, err);
  ASSERT_TRUE(d.ok()) << err;
  EXPECT_EQ(d->http_bind_port, 8080);
  EXPECT_TRUE(load_config("", {}, err)->http_bind_host.empty());  // off by default
  EXPECT_FALSE(load_config("[http]\npublic_url = \"ftp://x\"\n", {}, err).ok());
  EXPECT_NE(err.find("http.public_url"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[rewards]\nnode_rpc = [\"10.0.0.5:20443\"]\n", {}, err).ok());
  EXPECT_NE(err.find("rewards.node_rpc"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[rewards]\nnode_rpc = [\"http://a:1\"]\nreward_set_file = \"/x\"\n", {}, err).ok());
  ov.http_bind = "nope";
  EXPECT_FALSE(load_config("", ov, err).ok());
  EXPECT_NE(err.find("--http-bind"), std::string::npos);
}

// [dataplane] backend and [dpdk]: the DPDK port's settings, and what the port cannot
// carry refused at load with the reason.
TEST(Config, DpdkBackend) {
  std::string err;
  auto d = load_config("", {}, err);
  ASSERT_TRUE(d.ok()) << err;
  EXPECT_EQ(d->backend, RelayConfig::Backend::kUring);
  const std::string dpdk =
      "[dataplane]\nbackend = \"dpdk\"\n[dpdk]\neal_args = [\"--no-huge\", \"-m\", \"512\"]\n"
      "port = \"net_af_xdp0,iface=eth1\"\naddress = \"198.18.5.2/23\"\ngateway = \"198.18.4.1\"\nmbufs = 65536\n";
  auto c = load_config(dpdk, {}, err, "r.toml");
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_EQ(c->backend, RelayConfig::Backend::kDpdk);
  EXPECT_EQ(c->dpdk.eal_args, (std::vector<std::string>{"--no-huge", "-m", "512"}));
  EXPECT_EQ(c->dpdk.port, "net_af_xdp0,iface=eth1");
  EXPECT_EQ(c->dpdk.address, htonl(0xC6120502u));  // 198.18.5.2
  EXPECT_EQ(c->dpdk.prefix_len, 23);
  EXPECT_EQ(c->dpdk.gateway, htonl(0xC6120401u));
  EXPECT_EQ(c->dpdk.mbufs, 65536u);
  EXPECT_EQ(c->dpdk.mtu, 1500);
  EXPECT_TRUE(c->dpdk.zero_copy);
  auto copying = load_config(dpdk + "zero_copy = false\n", {}, err, "r.toml");
  ASSERT_TRUE(copying.ok()) << err;
  EXPECT_FALSE(copying->dpdk.zero_copy);
  EXPECT_EQ(c->dpdk.host_iface, "");
  auto sharing = load_config(dpdk + "host_iface = \"eth0host\"\n", {}, err, "r.toml");
  ASSERT_TRUE(sharing.ok()) << err;
  EXPECT_EQ(sharing->dpdk.host_iface, "eth0host");

  auto refused = [&](const std::string& text, const char* says) {
    EXPECT_FALSE(load_config(text, {}, err, "r.toml").ok()) << text;
    EXPECT_NE(err.find(says), std::string::npos) << err;
  };
  refused("[dataplane]\nbackend = \"xdp\"\n", "dataplane.backend");
  refused("[dataplane]\nbackend = \"dpdk\"\n", "needs dpdk.address");
  refused("[dpdk]\naddress = \"198.18.5.2/33\"\n", "dpdk.address");
  refused("[dpdk]\naddress = \"fe80::1/64\"\n", "dpdk.address");
  refused("[dpdk]\naddress = \"198.18.5.2/\"\n", "dpdk.address");
  refused("[dpdk]\ngateway = \"nope\"\n", "dpdk.gateway");
  refused("[dpdk]\nmbufs = 100\n", "dpdk.mbufs");
  refused("[dpdk]\nhost_iface = \"eth 0\"\n", "dpdk.host_iface");
  refused("[dpdk]\nhost_iface = \"an-interface-name-too-long\"\n", "dpdk.host_iface");
  refused("[dpdk]\nhost_iface = \"..\"\n", "dpdk.host_iface");
  refused("[dpdk]\nzero_copy = 1\n", "dpdk.zero_copy");
  refused("[dpdk]\nqueues = 2\n", "unknown key 'dpdk.queues'");
  refused(dpdk + "[p2p]\nmptcp = true\n", "p2p.mptcp: not with dataplane.backend");
  refused(dpdk + "[p2p]\nbind_device = \"wg0\"\n", "p2p.bind_device");
  refused(dpdk + "[p2p]\nbind = \"10.0.0.1:20444\"\n", "p2p.bind: with the DPDK backend");
  refused(dpdk + "[proxy]\nsocks5 = \"127.0.0.1:9050\"\n", "proxy.socks5");
  refused(dpdk + "[i2p]\nsam = \"127.0.0.1:7656\"\n", "i2p.sam");
  refused(dpdk + "[tor]\nbind = \"127.0.0.1:0\"\n", "tor.control / tor.bind");
  // The port's own address as the bind host is fine.
  EXPECT_TRUE(load_config(dpdk + "[p2p]\nbind = \"198.18.5.2:20444\"\n", {}, err).ok()) << err;
}

TEST(Config, BlockStoreSection) {
  std::string err;
  auto d = load_config("[node]\ndata_dir = \"/srv/relay\"\n", {}, err);
  ASSERT_TRUE(d.ok()) << err;
  EXPECT_TRUE(d->store_enabled);
  EXPECT_EQ(d->block_store_path(), "/srv/relay/blocks");
  auto c = load_config("[store]\nenabled = false\npath = \"/mnt/blocks\"\nmax_bytes = 1073741824\nmax_blocks = 5000\n", {}, err);
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_FALSE(c->store_enabled);
  EXPECT_EQ(c->block_store_path(), "/mnt/blocks");
  EXPECT_EQ(c->store_max_bytes, 1073741824u);
  EXPECT_EQ(c->store_max_blocks, 5000u);
  EXPECT_FALSE(load_config("[store]\nmax_bytes = 1000\n", {}, err, "r.toml").ok());  // below 1 MiB
  EXPECT_NE(err.find("'store.max_bytes' must be an integer in"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[store]\nsize = 1\n", {}, err, "r.toml").ok());
  EXPECT_EQ(err, "r.toml:2: unknown key 'store.size'");
}

TEST(Config, FrontierSection) {
  std::string err;
  auto d = load_config("[node]\ndata_dir = \"/srv/relay\"\n", {}, err);
  ASSERT_TRUE(d.ok()) << err;
  EXPECT_EQ(d->peer_table_path(), "/srv/relay/peers");
  EXPECT_TRUE(d->walk);
  EXPECT_FALSE(d->private_neighbors);
  EXPECT_EQ(d->target_outbound, 16u);
  EXPECT_EQ(d->max_inbound_per_ip, 8u);
  // Mainnet starts from the node's four seeds, each with its key; testnet from none.
  const auto seeds = d->bootstrap_peers();
  ASSERT_EQ(seeds.size(), 4u);
  EXPECT_EQ(seeds[0].addr.host(), "seed.mainnet.hiro.so");
  EXPECT_EQ(seeds[0].addr.port(), 20444);
  for (const auto& s : seeds) EXPECT_TRUE(s.public_key.has_value());
  EXPECT_TRUE(load_config("[network]\nname = \"testnet\"\n", {}, err)->bootstrap_peers().empty());
  EXPECT_TRUE(load_config("[frontier]\nbootstrap = []\n", {}, err)->bootstrap_peers().empty());  // none, on purpose

  auto c = load_config(R"([frontier]
bootstrap = ["02196f005965cebe6ddc3901b7b1cc1aa7a88f305bb8c5893456b8f9a605923893@198.51.100.1:20444"]
walk = false
walk_interval_ms = 5000
target_outbound = 8
max_peers = 1024
max_neighbor_age_s = 86400
private_neighbors = true
allow = ["192.0.2.0/24", "2001:db8::/32"]
deny = ["203.0.113.66"]
max_inbound_per_ip = 2
ban_s = 60
ban_max_s = 3600
path = "/var/lib/relay-peers"
)", {}, err, "f.toml");
  ASSERT_TRUE(c.ok()) << err;
  ASSERT_EQ(c->bootstrap_peers().size(), 1u);
  EXPECT_EQ(c->bootstrap_peers()[0].addr.host(), "198.51.100.1");
  EXPECT_FALSE(c->walk);
  EXPECT_EQ(c->walk_interval_ms, 5000u);
  EXPECT_EQ(c->target_outbound, 8u);
  EXPECT_EQ(c->max_peers, 1024u);
  EXPECT_EQ(c->max_neighbor_age_s, 86400u);
  EXPECT_TRUE(c->private_neighbors);
  ASSERT_EQ(c->allow.size(), 2u);
  EXPECT_EQ(c->allow[0].to_string(), "192.0.2.0/24");
  ASSERT_EQ(c->deny.size(), 1u);
  EXPECT_EQ(c->deny[0].to_string(), "203.0.113.66/32");
  EXPECT_EQ(c->max_inbound_per_ip, 2u);
  EXPECT_EQ(c->ban_s, 60u);
  EXPECT_EQ(c->ban_max_s, 3600u);
  EXPECT_EQ(c->peer_table_path(), "/var/lib/relay-peers");

  EXPECT_FALSE(load_config("[frontier]\ndeny = [\"10.0.0.1/8\"]\n", {}, err, "f.toml").ok());
  EXPECT_NE(err.find("frontier.deny"), std::string::npos) << err;
  EXPECT_NE(err.find("10.0.0.0/8"), std::string::npos) << err;  // says what was probably meant
  EXPECT_FALSE(load_config("[frontier]\nallow = [\"not-an-ip\"]\n", {}, err, "f.toml").ok());
  EXPECT_NE(err.find("frontier.allow"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[frontier]\nbootstrap = [\"x\"]\n", {}, err).ok());
  EXPECT_NE(err.find("frontier.bootstrap"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[frontier]\nban_s = 100\nban_max_s = 10\n", {}, err).ok());
  EXPECT_FALSE(load_config("[frontier]\ntarget_outbound = 40\n", {}, err).ok());  // above p2p.max_outbound
  EXPECT_NE(err.find("max_outbound"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[frontier]\nwalk_interval_ms = 0\n", {}, err).ok());
  EXPECT_FALSE(load_config("[frontier]\nmax_inbound_per_ip = 0\n", {}, err).ok());
}

TEST(Config, TheShippedRelayHasNoBenchmarkMode) {
  // The stacks-core baseline is a separate program of the benchmark's (bench/reference/):
  // no key of the relay's configuration selects it.
  std::string err;
  EXPECT_FALSE(load_config("[bench]\nreference_relay = true\n", {}, err, "b.toml").ok());
  EXPECT_NE(err.find("bench"), std::string::npos) << err;
}

TEST(Config, FileValuesAndOverrides) {
  const char* text = R"(
[node]
data_dir = "/tmp/relay"
[network]
name = "testnet"
[p2p]
bind = "[::1]:30444"
peers = ["02196f005965cebe6ddc3901b7b1cc1aa7a88f305bb8c5893456b8f9a605923893@seed.mainnet.hiro.so:20444",
         "127.0.0.1:20445"]
max_queued_per_peer = 40
)";
  std::string err;
  auto c = load_config(text, {}, err, "t.toml");
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_EQ(c->network_id, 0x80000000u);
  EXPECT_EQ(c->peer_version, 0xfacade10u);
  EXPECT_EQ(c->bind_host, "::1");
  EXPECT_EQ(c->bind_port, 30444);
  ASSERT_EQ(c->peers.size(), 2u);
  EXPECT_TRUE(c->peers[0].public_key.has_value());
  EXPECT_EQ(c->peers[0].addr.host(), "seed.mainnet.hiro.so");
  EXPECT_FALSE(c->peers[1].public_key.has_value());
  EXPECT_EQ(c->max_queued_per_peer, 40u);
  EXPECT_FALSE(c->busy_poll);
  EXPECT_TRUE(load_config("[p2p]\nbusy_poll = true\n", {}, err)->busy_poll);
  EXPECT_FALSE(load_config("[p2p]\nbusy_poll = 1\n", {}, err).ok());
  // p2p.cpus: none, one (the run loop) or two different ones.
  EXPECT_TRUE(c->dataplane_cpus.empty());
  EXPECT_EQ(load_config("[p2p]\ncpus = [3]\n", {}, err)->dataplane_cpus, (std::vector<std::uint32_t>{3}));
  EXPECT_EQ(load_config("[p2p]\ncpus = [0, 1]\n", {}, err)->dataplane_cpus, (std::vector<std::uint32_t>{0, 1}));
  for (const char* bad : {"cpus = [0, 0]", "cpus = [0, 1, 2]", "cpus = [-1]", "cpus = [\"0\"]", "cpus = 0",
                          "cpus = [1.5]", "cpus = [4096]"}) {
    err.clear();
    EXPECT_FALSE(load_config(std::string("[p2p]\n") + bad + "\n", {}, err).ok()) << bad;
    EXPECT_NE(err.find("p2p.cpus"), std::string::npos) << bad << ": " << err;
  }

  ConfigOverrides ov;
  ov.network = "mainnet";
  ov.p2p_bind = "127.0.0.1:1234";
  ov.data_dir = "/srv/relay";
  ov.peers = {"10.0.0.1:20444"};
  auto o = load_config(text, ov, err, "t.toml");
  ASSERT_TRUE(o.ok()) << err;
  EXPECT_EQ(o->network_id, 1u);
  EXPECT_EQ(o->bind_host, "127.0.0.1");
  EXPECT_EQ(o->bind_port, 1234);
  EXPECT_EQ(o->identity_key_path(), "/srv/relay/identity.key");
  EXPECT_EQ(o->peers.size(), 3u);
}

TEST(Config, ErrorsNameTheKeyAndLine) {
  std::string err;
  EXPECT_FALSE(load_config("[p2p]\nbnid = \"0.0.0.0:1\"\n", {}, err, "r.toml").ok());
  EXPECT_EQ(err, "r.toml:2: unknown key 'p2p.bnid'");
  EXPECT_FALSE(load_config("[p2p]\nmax_inbound = \"many\"\n", {}, err, "r.toml").ok());
  EXPECT_NE(err.find("r.toml:2: 'p2p.max_inbound' must be an integer"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[p2p]\nmax_queued_per_peer = 500\n", {}, err).ok());  // a node drops us at 100
  EXPECT_FALSE(load_config("[network]\nname = \"custom\"\n", {}, err).ok());
  EXPECT_NE(err.find("network_id"), std::string::npos);
  EXPECT_TRUE(load_config("[network]\nname = \"custom\"\nnetwork_id = 0x12345678\n", {}, err).ok()) << err;
  EXPECT_FALSE(load_config("[network]\nname = \"devnet\"\n", {}, err).ok());
  EXPECT_FALSE(load_config("[p2p]\npeers = [\"nohostport\"]\n", {}, err).ok());
  EXPECT_NE(err.find("p2p.peers"), std::string::npos);
  EXPECT_FALSE(load_config("this is not toml", {}, err, "x.toml").ok());
  EXPECT_EQ(err.rfind("x.toml:1:", 0), 0u) << err;
  EXPECT_FALSE(load_config("bogus = 1\n", {}, err).ok());
  EXPECT_FALSE(load_config("p2p = 5\n", {}, err).ok());
  ConfigOverrides bad;
  bad.p2p_bind = "localhost";
  EXPECT_FALSE(load_config("", bad, err).ok());
  EXPECT_NE(err.find("--p2p-bind"), std::string::npos);
}

TEST(Config, PeerAndAddressSyntax) {
  std::string err;
  EXPECT_TRUE(parse_peer("[2001:db8::1]:20444", err).has_value());
  EXPECT_FALSE(parse_peer("[2001:db8::1]20444", err).has_value());
  EXPECT_FALSE(parse_peer("2001:db8::1:20444", err).has_value());  // IPv6 needs brackets
  EXPECT_FALSE(parse_peer("host:0", err).has_value());
  EXPECT_FALSE(parse_peer("host:65536", err).has_value());
  EXPECT_FALSE(parse_peer("04" + std::string(64, 'a') + "@h:1", err).has_value());  // not compressed
  EXPECT_FALSE(parse_peer("zz@h:1", err).has_value());
  EXPECT_FALSE(parse_peer("ho st:1", err).has_value());
}

// Onion and I2P peers are refused, with the reason, until the relay can reach them
// through their proxies: dialing one directly would resolve its name (a leak) and fail.
TEST(Config, OnionPeersNeedAProxyAndI2pPeersASamBridge) {
  std::string err;
  const std::string onion = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead.onion:20444";
  auto p = parse_peer("02" + std::string(64, 'a') + "@" + onion, err);
  ASSERT_TRUE(p.has_value()) << err;  // the syntax is fine; reaching it needs a proxy
  EXPECT_EQ(p->addr.kind(), net::HostKind::kOnion);
  EXPECT_FALSE(load_config("[p2p]\npeers = [\"" + onion + "\"]\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("needs Tor's SOCKS5 proxy: set proxy.onion"), std::string::npos) << err;
  ConfigOverrides ov;
  ov.peers = {onion};
  EXPECT_FALSE(load_config("", ov, err, "c.toml").ok());  // --peer too
  auto c = load_config("[proxy]\nonion = \"127.0.0.1:9050\"\n", ov, err, "c.toml");
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_EQ(c->peers.at(0).addr.to_string(), onion);
  EXPECT_FALSE(c->proxy.has_value());  // clearnet peers stay direct
  ASSERT_TRUE(c->onion_proxy.has_value());
  EXPECT_EQ(c->onion_proxy->port, 9050);
  EXPECT_FALSE(load_config("[p2p]\npeers = [\"x.i2p:1\"]\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("p2p.peers: 'x.i2p:1'"), std::string::npos) << err;
  EXPECT_NE(err.find("I2P SAM bridge: set i2p.sam"), std::string::npos) << err;
  const std::string i2p = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq.b32.i2p:0";  // I2P: port 0
  auto with_sam = load_config("[i2p]\nsam = \"127.0.0.1:7656\"\n[p2p]\npeers = [\"" + i2p + "\"]\n", {}, err, "c.toml");
  ASSERT_TRUE(with_sam.ok()) << err;
  EXPECT_EQ(with_sam->peers.at(0).addr.kind(), net::HostKind::kI2p);
  EXPECT_EQ(with_sam->i2p_sam->port(), 7656);
  EXPECT_EQ(with_sam->i2p_tunnel_length, 3u);  // I2P's default
  auto short_tunnels = load_config("[i2p]\nsam = \"127.0.0.1:7656\"\ntunnel_length = 1\n", {}, err, "c.toml");
  ASSERT_TRUE(short_tunnels.ok()) << err;
  EXPECT_EQ(short_tunnels->i2p_tunnel_length, 1u);
  EXPECT_FALSE(load_config("[i2p]\ntunnel_length = 0\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("i2p.tunnel_length"), std::string::npos) << err;
  EXPECT_FALSE(parse_peer("198.18.0.1:0", err).has_value());  // port 0 is I2P's only
  EXPECT_NE(err.find("port 0"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[i2p]\nsam = \"localhost:7656\"\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("give the SAM bridge as IP:PORT"), std::string::npos) << err;
  auto dns = parse_peer("Node.Example.org:20444", err);
  ASSERT_TRUE(dns.has_value()) << err;
  EXPECT_EQ(dns->addr.kind(), net::HostKind::kName);
}

// A peer may be a table saying how to reach it: only through a WireGuard tunnel's
// interface, from a given local address, over MPTCP or not.
TEST(Config, PeersMayNameTheInterfaceOrSourceTheyAreReachedThrough) {
  std::string err;
  auto c = load_config(
      "[p2p]\npeers = [\"198.18.0.1:20444\", { address = \"02" + std::string(64, 'b') +
          "@198.19.0.2:20444\", via = \"wg0\", source = \"198.19.0.1\" }, { address = \"198.18.0.3:20444\", mptcp = true },"
          " { address = \"198.18.0.4:20444\", mptcp = false }]\n",
      {}, err, "c.toml");
  ASSERT_TRUE(c.ok()) << err;
  ASSERT_EQ(c->peers.size(), 4u);
  EXPECT_TRUE(c->peers[0].via_device.empty());
  EXPECT_EQ(c->peers[1].via_device, "wg0");
  EXPECT_EQ(c->peers[1].via_source, net::parse_addr("198.19.0.1"));
  EXPECT_TRUE(c->peers[1].public_key.has_value());
  EXPECT_FALSE(c->peers[1].mptcp.has_value());  // as p2p.mptcp says
  EXPECT_EQ(c->peers[2].mptcp, std::optional<bool>(true));
  EXPECT_EQ(c->peers[3].mptcp, std::optional<bool>(false));
  struct Bad {
    const char* toml;
    const char* says;
  };
  const Bad bad[] = {
      {"[p2p]\npeers = [{ via = \"wg0\" }]\n", "c.toml:2: p2p.peers: a peer needs its address"},
      {"[p2p]\npeers = [{ address = \"198.18.0.1:1\", device = \"wg0\" }]\n", "keys are address, via and source"},
      {"[p2p]\npeers = [{ address = \"198.18.0.1:1\", via = \"a-very-long-name-0\" }]\n", "at most 15 characters"},
      {"[p2p]\npeers = [{ address = \"198.18.0.1:1\", source = \"nope\" }]\n", "source: not an IP address"},
      {"[p2p]\npeers = [{ address = \"198.18.0.1\" }]\n", "'198.18.0.1'"},
      {"[p2p]\npeers = [7]\n", "an array of peers"},
      {"[p2p]\npeers = [{ address = \"198.18.0.1:1\", mptcp = \"yes\" }]\n", "a peer's mptcp is true or false"},
  };
  for (const auto& b : bad) {
    err.clear();
    EXPECT_FALSE(load_config(b.toml, {}, err, "c.toml").ok()) << b.toml;
    EXPECT_NE(err.find(b.says), std::string::npos) << b.toml << " -> " << err;
  }
}

// privacy.onlynet: every peer on an allowed network; without clearnet (private mode),
// nothing may listen on, advertise or fetch from a clearnet address: each leak is
// refused at load, saying which key and why.
TEST(Config, PrivateModeRefusesEveryConfigurationThatWouldLeak) {
  const std::string onion = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead.onion";
  const std::string good = "[privacy]\nonlynet = [\"onion\"]\n[proxy]\nonion = \"127.0.0.1:9050\"\n"
                           "[p2p]\nbind = \"127.0.0.1:20444\"\npeers = [\"" + onion + ":20444\", \"127.0.0.1:20555\"]\n";
  std::string err;
  auto c = load_config(good + "[http]\nbind = \"127.0.0.1:20443\"\npublic_url = \"http://" + onion + ":20443\"\n", {}, err, "c.toml");
  ASSERT_TRUE(c.ok()) << err;  // loopback peers are this machine: no network
  EXPECT_TRUE(c->private_mode());
  EXPECT_TRUE(c->net_allowed("onion"));
  EXPECT_FALSE(c->net_allowed("ipv4"));
  struct Bad {
    std::string toml;
    const char* says;
  };
  const Bad bad[] = {
      {"[privacy]\nonlynet = [\"tor\"]\n", "the networks are ipv4, ipv6, onion and i2p"},
      {"[privacy]\nonlynet = [\"onion\"]\n", "p2p.bind 0.0.0.0 would accept clearnet peers"},  // the default bind
      {good + "[http]\nbind = \"0.0.0.0:20443\"\n", "http.bind 0.0.0.0 would serve clearnet clients"},
      {good + "[http]\nbind = \"127.0.0.1:20443\"\npublic_url = \"http://relay.example.org:20443\"\n",
       "is a clearnet data_url"},
      {good + "[rewards]\nnode_rpc = [\"http://198.51.100.4:20443\"]\n", "is a clearnet node"},
      {"[privacy]\nonlynet = [\"onion\"]\n[p2p]\nbind = \"127.0.0.1:1\"\npeers = [\"198.51.100.4:20444\"]\n",
       "p2p.peers: '198.51.100.4:20444' is on ipv4, which onlynet leaves out"},
      {"[privacy]\nonlynet = [\"onion\"]\n[p2p]\nbind = \"127.0.0.1:1\"\npeers = [\"seed.example.org:20444\"]\n",
       "is on clearnet (a DNS name)"},
      {"[privacy]\nonlynet = [\"ipv4\"]\n[p2p]\npeers = [\"[2001:db8::1]:20444\"]\n", "is on ipv6"},
      {"[privacy]\nonlynet = [\"onion\"]\n[p2p]\nbind = \"127.0.0.1:1\"\n[frontier]\nbootstrap = [\"198.51.100.4:20444\"]\n",
       "frontier.bootstrap"},
  };
  for (const auto& b : bad) {
    err.clear();
    EXPECT_FALSE(load_config(b.toml, {}, err, "c.toml").ok()) << b.toml;
    EXPECT_NE(err.find(b.says), std::string::npos) << b.toml << " -> " << err;
  }
  // Some clearnet is not private mode: the other family's peers are refused, no more.
  auto v4 = load_config("[privacy]\nonlynet = [\"ipv4\", \"onion\"]\n[proxy]\nonion = \"127.0.0.1:9050\"\n", {}, err, "c.toml");
  ASSERT_TRUE(v4.ok()) << err;
  EXPECT_FALSE(v4->private_mode());
}

TEST(Config, ProxySectionSetsBothProxiesTheLoginAndIsolation) {
  std::string err;
  auto c = load_config("[proxy]\nsocks5 = \"127.0.0.1:9050\"\n", {}, err, "c.toml");
  ASSERT_TRUE(c.ok()) << err;
  ASSERT_TRUE(c->proxy && c->onion_proxy);
  EXPECT_EQ(*c->onion_proxy, *c->proxy);  // onions go the same way unless told otherwise
  EXPECT_TRUE(c->proxy_isolate);
  EXPECT_FALSE(c->proxy->login.has_value());
  c = load_config("[proxy]\nsocks5 = \"[::1]:1080\"\nonion = \"127.0.0.1:9050\"\nusername = \"u\"\npassword = \"p\"\n", {}, err,
                  "c.toml");
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_EQ(c->proxy->port, 1080);
  EXPECT_EQ(c->proxy->login, (net::ProxyLogin{"u", "p"}));
  EXPECT_FALSE(c->onion_proxy->login.has_value());
  EXPECT_FALSE(c->proxy_isolate);  // the proxy's own login replaces per-peer logins
  struct Bad {
    const char* toml;
    const char* says;
  };
  const Bad bad[] = {
      {"[proxy]\nsocks5 = \"localhost:9050\"\n", "give the proxy as IP:PORT"},
      {"[proxy]\nsocks5 = \"127.0.0.1\"\n", "proxy.socks5"},
      {"[proxy]\nsocks5 = \"127.0.0.1:1\"\nusername = \"u\"\n", "go together"},
      {"[proxy]\nonion = \"127.0.0.1:1\"\nusername = \"u\"\npassword = \"p\"\n", "no proxy.socks5"},
      {"[proxy]\nsocks5 = \"127.0.0.1:1\"\nusername = \"u\"\npassword = \"p\"\nisolate = true\n", "drop one of them"},
      {"[proxy]\nsock5 = \"127.0.0.1:1\"\n", "sock5"},
      {"[rewards]\nnode_rpc = [\"http://aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp3kead.onion:20443\"]\n",
       "an onion URL needs proxy.onion"},
  };
  for (const auto& b : bad) {
    err.clear();
    EXPECT_FALSE(load_config(b.toml, {}, err, "c.toml").ok()) << b.toml;
    EXPECT_NE(err.find(b.says), std::string::npos) << b.toml << " -> " << err;
  }
}

TEST(Config, OutboundConnectionOptions) {
  std::string err;
  auto d = load_config("", {}, err);
  ASSERT_TRUE(d.ok()) << err;
  EXPECT_EQ(d->outbound, net::ConnectOptions{});  // plain TCP, the kernel's choice of source
  auto c = load_config("[p2p]\nmptcp = true\nbind_device = \"wg0\"\nbind_source = \"198.18.0.2\"\n", {}, err);
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_TRUE(c->outbound.mptcp);
  EXPECT_EQ(c->outbound.bind_device, "wg0");
  EXPECT_EQ(c->outbound.bind_source, net::parse_addr("198.18.0.2"));
  EXPECT_FALSE(load_config("[p2p]\nbind_source = \"wg0\"\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("p2p.bind_source"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[p2p]\nbind_device = \"a-name-too-long-for-linux\"\n", {}, err).ok());
  EXPECT_NE(err.find("p2p.bind_device"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[p2p]\nmptcp = 1\n", {}, err).ok());
}

TEST(Config, PairPeersNeedTheirKeyAndMayHaveSeveralPaths) {
  std::string err;
  const std::string key = "02196f005965cebe6ddc3901b7b1cc1aa7a88f305bb8c5893456b8f9a605923893";
  auto c = load_config("[pair]\npeers = [\"" + key + "@198.51.100.1:20444\", { address = \"" + key +
                           "@10.7.0.2:20444\", via = \"wg0\", http = \"http://10.7.0.2:20443\" }]\nping_interval_ms = 500\nping_timeout_ms = 2000\n",
                       {}, err, "c.toml");
  ASSERT_TRUE(c.ok()) << err;
  ASSERT_EQ(c->pair_peers.size(), 2u);
  EXPECT_EQ(c->pair_peers[1].via_device, "wg0");
  EXPECT_EQ(c->pair_peers[1].http, "http://10.7.0.2:20443");
  EXPECT_EQ(c->pair_peers[0].http, "");
  EXPECT_EQ(c->pair_peers[0].public_key, c->pair_peers[1].public_key);
  EXPECT_EQ(c->pair_ping_interval_ms, 500u);
  EXPECT_EQ(c->pair_ping_timeout_ms, 2000u);
  auto d = load_config("", {}, err, "c.toml");
  ASSERT_TRUE(d.ok()) << err;
  EXPECT_TRUE(d->pair_peers.empty());
  EXPECT_EQ(d->pair_ping_interval_ms, 1000u);
  EXPECT_EQ(d->pair_ping_timeout_ms, 3000u);
  EXPECT_FALSE(load_config("[pair]\npeers = [\"198.51.100.1:20444\"]\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("a partner relay is named by its public key"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[pair]\npeers = [{ address = \"" + key + "@10.7.0.2:1\", http = \"10.7.0.2:20443\" }]\n", {}, err,
                           "c.toml").ok());
  EXPECT_NE(err.find("http: a URL"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[p2p]\npeers = [{ address = \"10.7.0.2:1\", http = \"http://10.7.0.2:2\" }]\n", {}, err,
                           "c.toml").ok());  // p2p peers have no catch-up
  EXPECT_FALSE(load_config("[pair]\nping_timeout_ms = 10\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("pair.ping_timeout_ms"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[pair]\npeers = [\"" + key + "@x.b32.i2p:0\"]\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("pair.peers"), std::string::npos) << err;
}

TEST(Config, GaiaMirrorKeysAreCheckedAndDefaulted) {
  std::string err;
  auto d = load_config("[node]\ndata_dir = \"/srv/relay\"\n", {}, err, "c.toml");
  ASSERT_TRUE(d.ok()) << err;
  EXPECT_TRUE(d->gaia_hub_url.empty());  // no mirror unless asked
  EXPECT_EQ(d->gaia_key_path(), "/srv/relay/gaia.key");
  EXPECT_EQ(d->gaia_outbox_path(), "/srv/relay/gaia-outbox");
  auto c = load_config("[gaia]\nhub_url = \"https://hub.example.com/\"\nkey_file = \"/etc/relay/gaia.key\"\npath_prefix = "
                       "\"stacks/mainnet/\"\noutbox_max_bytes = 1073741824\ntimeout_s = 10\n",
                       {}, err, "c.toml");
  ASSERT_TRUE(c.ok()) << err;
  EXPECT_EQ(c->gaia_hub_url, "https://hub.example.com");  // the trailing '/' goes
  EXPECT_EQ(c->gaia_key_path(), "/etc/relay/gaia.key");
  EXPECT_EQ(c->gaia_prefix, "stacks/mainnet/");
  EXPECT_EQ(c->gaia_outbox_max_bytes, std::uint64_t{1} << 30);
  EXPECT_EQ(c->gaia_timeout_s, 10u);
  auto p = load_config("[gaia]\nhub_url = \"http://127.0.0.1:4000\"\npath_prefix = \"net\"\n", {}, err, "c.toml");
  ASSERT_TRUE(p.ok()) << err;
  EXPECT_EQ(p->gaia_prefix, "net/");
  for (const char* bad : {"a//b", "../up", "a/./b", "sp ace", "q?x"}) {
    EXPECT_FALSE(load_config(std::string("[gaia]\nhub_url = \"http://127.0.0.1:4000\"\npath_prefix = \"") + bad + "\"\n", {}, err, "c.toml").ok()) << bad;
    EXPECT_NE(err.find("gaia.path_prefix"), std::string::npos) << err;
  }
  EXPECT_FALSE(load_config("[gaia]\nhub_url = \"ftp://hub\"\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("http:// or https://"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[gaia]\nhub_url = \"http://127.0.0.1:4000\"\n[store]\nenabled = false\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("store.enabled"), std::string::npos) << err;
  EXPECT_FALSE(load_config("[gaia]\nhub = \"http://127.0.0.1:4000\"\n", {}, err, "c.toml").ok());  // a typo is an error
  EXPECT_FALSE(load_config("[gaia]\nhub_url = \"http://abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcd.onion\"\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("needs proxy.onion"), std::string::npos) << err;
  // Private mode: a clearnet hub only through the proxy.
  const std::string priv = "[privacy]\nonlynet = [\"onion\"]\n[p2p]\nbind = \"127.0.0.1:20444\"\n";
  EXPECT_FALSE(load_config(priv + "[gaia]\nhub_url = \"https://hub.example.com\"\n", {}, err, "c.toml").ok());
  EXPECT_NE(err.find("gaia.hub_url"), std::string::npos) << err;
  auto via_tor = load_config(priv + "[proxy]\nsocks5 = \"127.0.0.1:9050\"\n[gaia]\nhub_url = \"https://hub.example.com\"\n", {}, err, "c.toml");
  EXPECT_TRUE(via_tor.ok()) << err;
}

}  // namespace
}  // namespace relay::config
