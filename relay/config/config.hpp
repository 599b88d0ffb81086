// relay/config/config.hpp — the relay's configuration: a TOML file (every key is
// explained in deploy/relay.toml.example), command-line overrides for the main keys,
// and safe defaults when there is neither (mainnet profile, key kept in the data dir).
//
// Loading is strict: an unknown key, a wrong type or an out-of-range value is an error
// naming the key (and the line), because a typo in a relay's config must not silently
// fall back to a default.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "relay/net/address.hpp"
#include "relay/net/peer_address.hpp"
#include "relay/base/result.hpp"
#include "relay/codec/types.hpp"
#include "relay/policy/preamble.hpp"

namespace relay::config {

// A peer to dial: optional pinned public key, and its address (an IP literal, a DNS name,
// an onion address (needs [proxy]), an I2P address NAME.b32.i2p:0 (needs [i2p] sam)).
struct PeerSpec {
  std::optional<codec::PubKey33> public_key;
  net::PeerAddress addr;
  // How to reach this one peer, over p2p.bind_device / bind_source ({ via = "wg0" } in
  // p2p.peers: e.g. only through a WireGuard tunnel). Empty / nullopt: as every dial.
  std::string via_device;
  std::optional<codec::Addr16> via_source;
  std::optional<bool> mptcp;  // { mptcp = true } : this peer over MPTCP or not (nullopt: p2p.mptcp)
  // pair.peers only: the partner's own HTTP endpoint for the store catch-up ({ http =
  // "http://10.7.0.2:20443" }; "": the data_url it announces, which is not the partner
  // itself when both relays announce one proxy or CDN).
  std::string http;
  bool operator==(const PeerSpec&) const = default;
};

// parse_peer: "PUBKEYHEX@HOST:PORT" or "HOST:PORT"; IPv6 hosts in brackets.
// On failure returns nullopt and sets `err`.
std::optional<PeerSpec> parse_peer(std::string_view s, std::string& err);

enum class Network { kMainnet, kTestnet, kCustom };

struct RelayConfig {
  // [node]
  std::string data_dir = "/var/lib/stacks-relay";
  // [process] user: who the processes become once set up, when started as root (unset:
  // `stacks-relay` if it exists, else `nobody`; "": stay root). See privilege.hpp.
  std::optional<std::string> process_user;
  bool seccomp = true;  // [process] seccomp: the dataplane's system-call filter (dataplane/sandbox.hpp)
  std::string identity_key_file;  // empty: <data_dir>/identity.key, created on first start
  // [network]
  Network network = Network::kMainnet;
  std::uint32_t network_id = 0x00000001;
  std::uint32_t peer_version = 0x18000010;
  std::uint32_t stable_confirmations = 7;
  bool relay_2x = false;  // relay Blocks/Microblocks/…Available (2.x networks only)
  // [p2p]
  std::string bind_host = "0.0.0.0";
  std::uint16_t bind_port = 20444;
  std::vector<PeerSpec> peers;
  std::vector<PeerSpec> trusted_peers;
  // [pair] peers: the partner relays of a pair (PUBKEY@HOST:PORT, the key required; the
  // same key more than once: other paths to the same partner, tried in turn). Always
  // dialed (at once when a session ends), never banned, not counted against the inbound
  // limits, trusted for the burn view, asked for their neighbors often, and kept alive
  // with pings every ping_interval_ms (closed and dialed again over the next path when a
  // Pong is ping_timeout_ms late).
  std::vector<PeerSpec> pair_peers;
  std::uint32_t pair_ping_interval_ms = 1000;
  std::uint32_t pair_ping_timeout_ms = 3000;
  std::uint32_t burn_view_quorum = 3;  // peers in distinct netgroups that must agree on a view (no trusted peer)
  net::ConnectOptions outbound;  // how the relay connects to peers: mptcp, bind_device, bind_source
  std::uint32_t max_inbound = 750;
  std::uint32_t max_outbound = 32;
  std::uint32_t max_queued_per_peer = 50;  // our messages a node may have unprocessed
  // Large pushes to a few peers at a time (DpOptions::large_sends_at_once; 0: all at once).
  std::uint32_t large_sends_at_once = 0;
  bool large_sends_in_step = true;  // DpOptions::large_sends_in_step
  std::uint64_t large_push_bytes = 256 << 10;
  std::uint32_t max_message_len = 16778053;
  // Bytes of message bodies the dataplane reads at once, across every session (its
  // receive pool included): a body that does not fit waits, its connection unread.
  std::uint64_t receive_budget = std::uint64_t{512} << 20;
  // Per sender: transaction bytes relayed per second (bursts of 4 s, at least two of the
  // largest transactions) and signature checks its transactions may cost per second
  // (bursts of 4 s). Past either its transactions are not relayed; it is not punished.
  std::uint64_t tx_bytes_per_s = std::uint64_t{1} << 20;
  std::uint64_t tx_checks_per_s = 2000;
  bool busy_poll = false;  // the dataplane spins instead of sleeping in the kernel: lower latency, one core busy
  // The dataplane's threads pinned to these CPUs: [run loop] or [run loop, second thread
  // (block checks, signature help)]; empty: the kernel places them.
  std::vector<std::uint32_t> dataplane_cpus;
  // [dataplane] backend: how the dataplane reaches the network: "uring" (kernel TCP
  // through io_uring, the default) or "dpdk" (kernel bypass: lwIP on a DPDK port, [dpdk]).
  enum class Backend { kUring, kDpdk };
  Backend backend = Backend::kUring;
  // [dpdk] (backend = "dpdk"): the EAL's arguments, the port (a NIC bound to vfio-pci, or
  // a virtual device's devargs, e.g. "net_af_xdp0,iface=eth1"), the relay's own IPv4
  // address on it (its own: the kernel keeps the host's) and gateway, the MTU, and the
  // mbuf count (0: sized from the session limits), zero-copy sends, and on a port that
  // takes every frame the host's interface for the rest. p2p.bind's port is the listener's.
  struct Dpdk {
    std::vector<std::string> eal_args;
    std::string port;
    std::uint32_t address = 0;  // network byte order
    std::uint8_t prefix_len = 24;
    std::uint32_t gateway = 0;  // network byte order; 0: none
    std::uint16_t mtu = 1500;
    std::uint32_t mbufs = 0;
    std::uint16_t rx_desc = 1024;
    std::uint16_t tx_desc = 1024;
    bool zero_copy = true;  // frames sent from the message buffers where the device allows it
    std::string host_iface;  // the exception path's kernel interface (a port that takes every frame)
  } dpdk;
  // [rewards]
  std::string reward_set_file;        // static reward set (private networks)
  std::vector<std::string> node_rpc;  // trusted nodes' RPC base URLs: signer sets fetched from them
  std::uint32_t reward_poll_s = 60;
  // [http]
  std::string http_bind_host;  // empty: no HTTP endpoint
  std::uint16_t http_bind_port = 0;
  std::uint32_t http_max_clients = 1024;
  std::uint32_t http_max_clients_per_ip = 16;  // 0: no limit (e.g. a caching proxy in front)
  std::uint64_t http_response_budget = std::uint64_t{128} << 20;
  std::string http_public_url;  // advertised as data_url; empty: http://<bind> unless bound to any address
  // [store]
  bool store_enabled = true;
  std::string store_path;  // empty: <data_dir>/blocks
  std::uint64_t store_max_bytes = std::uint64_t{4} << 30;
  std::uint64_t store_max_blocks = 200'000;
  // [frontier]
  std::optional<std::vector<PeerSpec>> bootstrap;  // unset: the network's seeds (mainnet); [] for none
  bool walk = true;
  std::uint32_t walk_interval_ms = 60'000;
  std::uint32_t target_outbound = 16;
  std::uint32_t max_peers = 8192;
  std::uint32_t max_neighbor_age_s = 3 * 86400;
  bool private_neighbors = false;
  std::vector<net::Cidr> allow;
  std::vector<net::Cidr> deny;
  std::uint32_t max_inbound_per_ip = 8;
  std::uint32_t ban_s = 600;
  std::uint32_t ban_max_s = 86400;
  std::string peers_path;  // empty: <data_dir>/peers
  // [proxy]: SOCKS5 (relay/net/socks5.hpp). `proxy`: every outbound connection, p2p dials
  // and the control plane's HTTP fetches, names handed to it unresolved; `onion_proxy`:
  // onion peers and URLs (defaults to `proxy`). Each peer gets its own login for Tor's
  // stream isolation unless the proxy needs a login of its own (proxy.username).
  std::optional<net::Socks5Proxy> proxy;
  std::optional<net::Socks5Proxy> onion_proxy;
  bool proxy_isolate = true;
  // [tor]: an onion service for the relay. `tor_control`: Tor's ControlPort ("IP:PORT";
  // empty: none), logged in to with SAFECOOKIE or COOKIE (the cookie file Tor names), else
  // `tor_password`; the service is published with ADD_ONION and its key kept in the data
  // dir. Onion inbound arrives on a listener of its own, `tor_bind` (set alone: Tor's own
  // HiddenServicePort points at it).
  std::string tor_control;
  std::string tor_password;
  bool tor_listener = false;  // the onion listener is on (tor.control or tor.bind set)
  std::string tor_bind_host = "127.0.0.1";
  std::uint16_t tor_bind_port = 0;  // 0: any free port (re-published if it changes)
  bool tor_publish_http = true;     // the HTTP endpoint's port on the onion service too
  std::string onion_key_path() const { return data_dir + "/onion_v3_private_key"; }
  // [i2p]: an I2P SAM v3.1 bridge ("IP:PORT", e.g. i2pd's 127.0.0.1:7656): the relay makes
  // its I2P session there (its destination kept in the data dir), dials I2P peers
  // (NAME.b32.i2p:0) and accepts inbound I2P streams through it.
  std::optional<net::PeerAddress> i2p_sam;
  // i2p.tunnel_length: hops in each of the session's inbound and outbound tunnels (I2P's
  // inbound.length / outbound.length; 3, I2P's default). Fewer hops cost less latency and
  // hide the relay from fewer routers; 1 still keeps its IP from the peers it talks to.
  std::uint32_t i2p_tunnel_length = 3;
  std::string i2p_key_path() const { return data_dir + "/i2p_private_key"; }
  // [gaia]: every stored block also written into a Gaia hub (control/gaia/mirror.hpp).
  // `gaia_hub_url`: the hub's write endpoint (empty: no mirror); the bucket is the key's
  // address (`gaia_key_file`, created if missing; relays sharing a bucket share the file);
  // files under `gaia_prefix` ("" or "a/b/"); a durable outbox of at most
  // `gaia_outbox_max_bytes`; `gaia_timeout_s` per write.
  std::string gaia_hub_url;
  std::string gaia_key_file;
  std::string gaia_prefix;
  // `gaia_read_url`: the bucket's read side, for reading blocks back (a CDN in front of
  // it; ends in '/'); empty: the hub's read_url_prefix + bucket.
  std::string gaia_read_url;
  std::uint64_t gaia_outbox_max_bytes = std::uint64_t{4} << 30;
  std::uint32_t gaia_timeout_s = 30;
  std::string gaia_key_path() const { return gaia_key_file.empty() ? data_dir + "/gaia.key" : gaia_key_file; }
  std::string gaia_outbox_path() const { return data_dir + "/gaia-outbox"; }
  // [privacy] onlynet: the networks the relay may use ("ipv4", "ipv6", "onion", "i2p"), as
  // Bitcoin Core's -onlynet; empty: all. Without ipv4 and ipv6 the relay is in private
  // mode: it never dials or accepts clearnet, advertises no clearnet address or
  // data_url, answers GetNeighbors with nobody and does not walk (checked at load: a
  // configuration that would leak is refused, saying why).
  std::vector<std::string> onlynet;
  bool net_allowed(std::string_view n) const {
    if (onlynet.empty()) return true;
    for (const auto& o : onlynet)
      if (o == n) return true;
    return false;
  }
  bool private_mode() const { return !net_allowed("ipv4") && !net_allowed("ipv6"); }
  // [shm]
  std::string shm_path;  // empty: /dev/shm/stacks-relay-<hash of data_dir>

  std::string identity_key_path() const { return identity_key_file.empty() ? data_dir + "/identity.key" : identity_key_file; }
  std::string block_store_path() const { return store_path.empty() ? data_dir + "/blocks" : store_path; }
  std::string peer_table_path() const { return peers_path.empty() ? data_dir + "/peers" : peers_path; }
  // bootstrap_peers: [frontier] bootstrap if set, else the network's defaults.
  std::vector<PeerSpec> bootstrap_peers() const;
};

// network_params: the network our preambles name and check (id, peer version, stable
// confirmations).
policy::NetworkParams network_params(const RelayConfig& c) noexcept;
// any_network_addr: the address the relay gives for itself in handshakes and relayer
// entries, ::ffff:0.0.0.0 ("any network": peers use the address they see).
codec::Addr16 any_network_addr() noexcept;

// default_bootstrap: the seed nodes a stock node starts from (PROTOCOL.md §6): mainnet's
// four; none for other networks.
std::vector<PeerSpec> default_bootstrap(Network n);

// Command-line overrides (each set field replaces the file's value).
struct ConfigOverrides {
  std::optional<std::string> p2p_bind;           // --p2p-bind ADDR:PORT
  std::optional<std::string> http_bind;          // --http-bind ADDR:PORT
  std::optional<std::string> identity_key_file;  // --identity-key-file F
  std::optional<std::string> network;            // --network NAME
  std::optional<std::string> data_dir;           // --data-dir DIR
  std::vector<std::string> peers;                // --peer PUBKEY@HOST:PORT (repeatable; added)
};

// load_config: parse `toml_text` (empty: defaults only), then apply `ov`. `origin` names
// the file in error messages.
Result<RelayConfig> load_config(std::string_view toml_text, const ConfigOverrides& ov, std::string& err,
                                std::string_view origin = "config");
// load_config_file: read `path` (empty path: defaults) and load it.
Result<RelayConfig> load_config_file(const std::string& path, const ConfigOverrides& ov, std::string& err);

// network_defaults: network_id / peer_version / confirmations of a named network.
bool apply_network(RelayConfig& c, std::string_view name, std::string& err);

}  // namespace relay::config
