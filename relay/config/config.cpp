// toml++ compiled into this file without exceptions (the Debian .so is built with them).
#define TOML_EXCEPTIONS 0
#define TOML_HEADER_ONLY 1
#include "relay/config/config.hpp"

#include "relay/codec/message.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>
#include <toml++/toml.h>

#include "relay/base/hex.hpp"
#include "relay/net/peer_address.hpp"

namespace relay::config {

namespace {

Error config_error(std::string& err, std::string msg) {
  err = std::move(msg);
  return make_error(Errc::kBadValue, "invalid configuration");
}

std::string where(std::string_view origin, const toml::node& n) {
  return std::string(origin) + ":" + std::to_string(n.source().begin.line);
}

// Reads typed values out of one table, remembering which keys were used.
class TableReader {
 public:
  TableReader(const toml::table& t, std::string_view origin, std::string prefix, std::string& err)
      : t_(t), origin_(origin), prefix_(std::move(prefix)), err_(err) {}

  bool str(const char* key, std::string& out) {
    const toml::node* n = find(key);
    if (n == nullptr) return true;
    auto v = n->value<std::string>();
    if (!v) return bad(*n, key, "a string");
    out = *v;
    return true;
  }
  bool boolean(const char* key, bool& out) {
    const toml::node* n = find(key);
    if (n == nullptr) return true;
    // value<bool>() would take 0 and 1 too: a boolean key takes only true or false.
    if (!n->is_boolean()) return bad(*n, key, "true or false");
    out = n->as_boolean()->get();
    return true;
  }
  template <typename T>
  bool integer(const char* key, T& out, std::int64_t lo, std::int64_t hi) {
    const toml::node* n = find(key);
    if (n == nullptr) return true;
    auto v = n->value<std::int64_t>();
    if (!v || *v < lo || *v > hi)
      return bad(*n, key, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    out = static_cast<T>(*v);
    return true;
  }
  bool strings(const char* key, std::vector<std::string>& out) {
    const toml::node* n = find(key);
    if (n == nullptr) return true;
    const toml::array* a = n->as_array();
    if (a == nullptr) return bad(*n, key, "an array of strings");
    for (const auto& e : *a) {
      auto v = e.value<std::string>();
      if (!v) return bad(e, key, "an array of strings");
      out.push_back(*v);
    }
    return true;
  }
  // peers: an array whose entries are "PUBKEY@HOST:PORT" strings, or tables with that
  // `address` and how to reach it: `via` (an interface, e.g. a WireGuard tunnel) and
  // `source` (a local address).
  bool peers(const char* key, std::vector<PeerSpec>& out, bool with_http = false) {
    const toml::node* n = find(key);
    if (n == nullptr) return true;
    const toml::array* a = n->as_array();
    const std::string want =
        "an array of peers: \"PUBKEY@HOST:PORT\" or { address = \"...\", via = \"wg0\", source = \"IP\", mptcp = true }";
    if (a == nullptr) return bad(*n, key, want);
    for (const auto& e : *a) {
      std::string text, via, source, http;
      std::optional<bool> mptcp;
      if (auto v = e.value<std::string>()) {
        text = *v;
      } else if (const toml::table* t = e.as_table()) {
        for (auto&& [k, val] : *t) {
          const std::string name(k.str());
          if (name == "mptcp") {
            if (!val.is_boolean()) {
              err_ = where(origin_, val) + ": " + prefix_ + key + ": a peer's mptcp is true or false";
              return false;
            }
            mptcp = val.value<bool>();
            continue;
          }
          auto sv = val.value<std::string>();
          if (!sv || (name != "address" && name != "via" && name != "source" && !(with_http && name == "http"))) {
            err_ = where(origin_, val) + ": " + prefix_ + key + ": a peer's keys are address, via and source" +
                   (with_http ? ", http" : "") + " (strings) and mptcp (true or false)";
            return false;
          }
          (name == "address" ? text : name == "via" ? via : name == "source" ? source : http) = *sv;
        }
        if (text.empty()) {
          err_ = where(origin_, e) + ": " + prefix_ + key + ": a peer needs its address";
          return false;
        }
      } else {
        return bad(e, key, want);
      }
      std::string why;
      auto p = parse_peer(text, why);
      if (!p) {
        err_ = where(origin_, e) + ": " + prefix_ + key + ": '" + text + "': " + why;
        return false;
      }
      if (via.size() > net::kMaxDeviceName) {
        err_ = where(origin_, e) + ": " + prefix_ + key + ": '" + text + "': via: an interface name has at most 15 characters";
        return false;
      }
      p->via_device = via;
      p->mptcp = mptcp;
      if (!http.empty() && http.rfind("http://", 0) != 0 && http.rfind("https://", 0) != 0) {
        err_ = where(origin_, e) + ": " + prefix_ + key + ": '" + text + "': http: a URL (http://HOST:PORT)";
        return false;
      }
      p->http = http;
      if (!source.empty() && !(p->via_source = net::parse_addr(source))) {
        err_ = where(origin_, e) + ": " + prefix_ + key + ": '" + text + "': source: not an IP address: " + source;
        return false;
      }
      out.push_back(std::move(*p));
    }
    return true;
  }
  // integers: an array of integers, each in [lo, hi], at most max_n of them.
  bool integers(const char* key, std::vector<std::uint32_t>& out, std::int64_t lo, std::int64_t hi, std::size_t max_n) {
    const toml::node* n = find(key);
    if (n == nullptr) return true;
    const std::string want = "an array of at most " + std::to_string(max_n) + " integers in [" + std::to_string(lo) +
                             ", " + std::to_string(hi) + "]";
    const toml::array* a = n->as_array();
    if (a == nullptr || a->size() > max_n) return bad(*n, key, want);
    for (const auto& e : *a) {
      auto v = e.value<std::int64_t>();
      if (!e.is_integer() || !v || *v < lo || *v > hi) return bad(e, key, want);
      out.push_back(static_cast<std::uint32_t>(*v));
    }
    return true;
  }
  // unknown: the first key of the table that no reader asked for.
  bool check_unknown() {
    for (auto&& [k, v] : t_) {
      if (!used_.count(std::string(k.str()))) {
        err_ = where(origin_, v) + ": unknown key '" + prefix_ + std::string(k.str()) + "'";
        return false;
      }
    }
    return true;
  }
  std::string key_name(const char* key) const { return prefix_ + key; }
  const toml::node* lookup(const char* key) { return find(key); }

 private:
  const toml::node* find(const char* key) {
    used_.insert(key);
    return t_.get(key);
  }
  bool bad(const toml::node& n, const char* key, const std::string& want) {
    err_ = where(origin_, n) + ": '" + prefix_ + key + "' must be " + want;
    return false;
  }
  const toml::table& t_;
  std::string_view origin_;
  std::string prefix_;
  std::string& err_;
  std::set<std::string> used_;
};

bool parse_peers(const std::vector<std::string>& in, std::vector<PeerSpec>& out, const std::string& key,
                 std::string& err) {
  for (const auto& s : in) {
    std::string e;
    auto p = parse_peer(s, e);
    if (!p) {
      err = key + ": '" + s + "': " + e;
      return false;
    }
    out.push_back(*p);
  }
  return true;
}

}  // namespace

std::optional<PeerSpec> parse_peer(std::string_view s, std::string& err) {
  PeerSpec p;
  std::size_t at = s.find('@');
  if (at != std::string_view::npos) {
    auto key = array_from_hex<33>(s.substr(0, at));
    if (!key || ((*key)[0] != 0x02 && (*key)[0] != 0x03)) {
      err = "public key must be 33 bytes of compressed secp256k1 hex";
      return std::nullopt;
    }
    p.public_key = *key;
    s.remove_prefix(at + 1);
  }
  auto addr = net::PeerAddress::parse(s, err, true);
  if (!addr) return std::nullopt;
  if (addr->port() == 0 && addr->kind() != net::HostKind::kI2p) {  // I2P has no ports: 0 is its convention
    err = "port 0: give the peer's port";
    return std::nullopt;
  }
  p.addr = *addr;
  return p;
}

namespace {

// parse_proxy: "IP:PORT" (a name would itself have to be resolved, outside the proxy).
bool parse_proxy(const std::string& s, std::optional<net::Socks5Proxy>& out, const std::string& key, std::string& err) {
  if (s.empty()) return true;
  std::string e;
  auto a = net::PeerAddress::parse(s, e);
  if (!a || !a->is_ip()) {
    err = key + ": '" + s + "': give the proxy as IP:PORT" + (a ? " (a name would be resolved outside the proxy)" : ": " + e);
    return false;
  }
  out = net::Socks5Proxy{a->addr(), a->port(), std::nullopt};
  return true;
}

// check_reachable: every peer named in the configuration can be reached as it is
// configured: an onion address through a SOCKS5 proxy for onions.
bool check_reachable(const RelayConfig& c, const std::vector<PeerSpec>& peers, const std::string& key, std::string& err) {
  for (const auto& p : peers) {
    if (p.addr.kind() == net::HostKind::kOnion && !c.onion_proxy) {
      err = key + ": '" + p.addr.to_string() + "': an onion address needs Tor's SOCKS5 proxy: set proxy.onion (or proxy.socks5)";
      return false;
    }
    if (p.addr.kind() == net::HostKind::kI2p && !c.i2p_sam) {
      err = key + ": '" + p.addr.to_string() + "': an I2P address needs an I2P SAM bridge: set i2p.sam";
      return false;
    }
  }
  return true;
}

// check_backend: with the DPDK backend, the dataplane has only its port: no kernel
// sockets, so nothing that needs one (proxies, Tor, I2P, MPTCP, interface binding).
bool check_backend(const RelayConfig& c, std::string_view origin, std::string& err) {
  const std::string at = std::string(origin) + ": ";
  if (c.backend != RelayConfig::Backend::kDpdk) return true;
  auto no = [&](const std::string& what) {
    err = at + what + ": not with dataplane.backend = \"dpdk\" (the DPDK port carries plain TCP over IPv4; use the "
                      "\"uring\" backend for it)";
    return false;
  };
  if (c.dpdk.address == 0) {
    err = at + "dataplane.backend = \"dpdk\" needs dpdk.address, the relay's own IPv4 address on the port (IP/PREFIX)";
    return false;
  }
  if (c.bind_host != "0.0.0.0" && c.bind_host != "::") {
    in_addr a{};
    if (::inet_pton(AF_INET, c.bind_host.c_str(), &a) != 1 || a.s_addr != c.dpdk.address) {
      err = at + "p2p.bind: with the DPDK backend the relay listens on dpdk.address (give 0.0.0.0:PORT or that address)";
      return false;
    }
  }
  if (c.outbound.mptcp) return no("p2p.mptcp");
  if (!c.outbound.bind_device.empty()) return no("p2p.bind_device");
  if (c.outbound.bind_source) return no("p2p.bind_source");
  for (const auto* list : {&c.peers, &c.trusted_peers, &c.pair_peers})
    for (const auto& p : *list)
      if (!p.via_device.empty() || p.via_source || p.mptcp.value_or(false))
        return no("the peer " + p.addr.to_string() + "'s via/mptcp");
  if (c.proxy || c.onion_proxy) return no("proxy.socks5 / proxy.onion");
  if (c.tor_listener) return no("tor.control / tor.bind");
  if (c.i2p_sam) return no("i2p.sam");
  return true;
}

// network_of: the onlynet name of a peer's network ("" for a DNS name: either family).
std::string network_of(const net::PeerAddress& a) {
  switch (a.kind()) {
    case net::HostKind::kIp: return net::is_ipv4(a.addr()) ? "ipv4" : "ipv6";
    case net::HostKind::kOnion: return "onion";
    case net::HostKind::kI2p: return "i2p";
    case net::HostKind::kName: break;
  }
  return "";
}

bool is_loopback_host(const std::string& h) {
  if (h == "localhost") return true;
  auto a = net::parse_addr(h);
  return a && net::is_loopback(*a);
}

// url_host: the host of "scheme://host[:port][/...]" (brackets kept off an IPv6 host).
std::string url_host(std::string_view u) {
  const std::size_t s = u.find("://");
  if (s == std::string_view::npos) return "";
  std::string_view rest = u.substr(s + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (!rest.empty() && rest.front() == '[') return std::string(rest.substr(1, rest.find(']') - 1));
  return std::string(rest.substr(0, rest.rfind(':') == std::string_view::npos ? rest.size() : rest.rfind(':')));
}

bool hidden_host(const std::string& h) {
  auto ends = [&](std::string_view t) { return h.size() > t.size() && h.compare(h.size() - t.size(), t.size(), t) == 0; };
  return ends(".onion") || ends(".i2p");
}

// check_private: with privacy.onlynet, every peer is on an allowed network; in private
// mode (no clearnet), nothing listens on or advertises a clearnet address, and nothing
// is fetched from one.
bool check_private(const RelayConfig& c, std::string& err) {
  if (c.onlynet.empty()) return true;
  std::string nets;
  for (const auto& n : c.onlynet) nets += (nets.empty() ? "" : ", ") + n;
  const std::string why = "privacy.onlynet = [" + nets + "]: ";
  auto check_peers = [&](const std::vector<PeerSpec>& peers, const char* key) {
    for (const auto& p : peers) {
      if (p.addr.is_ip() && is_loopback_host(p.addr.host())) continue;  // this machine: no network at all
      const std::string n = network_of(p.addr);
      if (n.empty() ? c.private_mode() : !c.net_allowed(n)) {
        err = why + key + ": '" + p.addr.to_string() + "' is on " + (n.empty() ? "clearnet (a DNS name)" : n) +
              ", which onlynet leaves out";
        return false;
      }
    }
    return true;
  };
  if (!check_peers(c.peers, "p2p.peers") || !check_peers(c.trusted_peers, "p2p.trusted_peers") ||
      !check_peers(c.pair_peers, "pair.peers") ||
      (c.bootstrap && !check_peers(*c.bootstrap, "frontier.bootstrap")))
    return false;
  if (!c.private_mode()) return true;
  if (!is_loopback_host(c.bind_host)) {
    err = why + "p2p.bind " + c.bind_host + " would accept clearnet peers: bind it to 127.0.0.1 (onion peers arrive on " +
          "tor.bind, I2P peers through the SAM bridge)";
    return false;
  }
  if (!c.http_bind_host.empty() && !is_loopback_host(c.http_bind_host)) {
    err = why + "http.bind " + c.http_bind_host + " would serve clearnet clients: bind it to 127.0.0.1 (tor.publish_http " +
          "puts it on the onion service)";
    return false;
  }
  if (!c.http_public_url.empty() && !hidden_host(url_host(c.http_public_url))) {
    err = why + "http.public_url '" + c.http_public_url + "' is a clearnet data_url: give the onion (or I2P) URL, or none";
    return false;
  }
  for (const std::string* u : {&c.gaia_hub_url, &c.gaia_read_url}) {
    if (const std::string h = url_host(*u); !u->empty() && !hidden_host(h) && !is_loopback_host(h) && !c.proxy) {
      err = why + (u == &c.gaia_hub_url ? "gaia.hub_url '" : "gaia.read_url '") + *u +
            "' is a clearnet hub reached directly: give an onion URL, or reach it through proxy.socks5";
      return false;
    }
  }
  for (const auto& u : c.node_rpc) {
    const std::string h = url_host(u);
    if (!hidden_host(h) && !is_loopback_host(h)) {
      err = why + "rewards.node_rpc '" + u + "' is a clearnet node: give an onion URL or a node on this machine";
      return false;
    }
  }
  return true;
}

}  // namespace

bool apply_network(RelayConfig& c, std::string_view name, std::string& err) {
  if (name == "mainnet") {
    c.network = Network::kMainnet;
    c.network_id = 0x00000001;
    c.peer_version = 0x18000010;
    c.stable_confirmations = 7;
  } else if (name == "testnet") {
    c.network = Network::kTestnet;
    c.network_id = 0x80000000;
    c.peer_version = 0xfacade10;
    c.stable_confirmations = 7;
  } else if (name == "custom") {
    c.network = Network::kCustom;
  } else {
    err = "network must be mainnet, testnet or custom (got '" + std::string(name) + "')";
    return false;
  }
  return true;
}

Result<RelayConfig> load_config(std::string_view text, const ConfigOverrides& ov, std::string& err,
                                std::string_view origin) {
  RelayConfig c;
  toml::parse_result res = toml::parse(text, origin);
  if (!res) {
    const auto& e = res.error();
    return config_error(err, std::string(origin) + ":" + std::to_string(e.source().begin.line) + ": " +
                                 std::string(e.description()));
  }
  const toml::table& root = res.table();
  TableReader top(root, origin, "", err);
  static const char* kSections[] = {"node", "network", "p2p", "http", "rewards", "store", "frontier", "shm", "process", "proxy", "tor", "i2p", "privacy", "pair", "gaia", "dataplane", "dpdk"};
  for (const char* sec : kSections) {
    const toml::node* n = top.lookup(sec);
    if (n != nullptr && !n->is_table())
      return config_error(err, where(origin, *n) + ": '" + sec + "' must be a table ([" + sec + "])");
  }
  if (!top.check_unknown()) return make_error(Errc::kBadValue, "invalid configuration");

  auto section = [&](const char* name) -> const toml::table* {
    const toml::node* n = root.get(name);
    return n != nullptr ? n->as_table() : nullptr;
  };
  static const toml::table kEmpty;
  auto fail = [] { return make_error(Errc::kBadValue, "invalid configuration"); };

  {
    TableReader t(section("node") ? *section("node") : kEmpty, origin, "node.", err);
    if (!t.str("data_dir", c.data_dir) || !t.str("identity_key_file", c.identity_key_file) || !t.check_unknown())
      return fail();
  }
  {
    TableReader t(section("network") ? *section("network") : kEmpty, origin, "network.", err);
    std::string name = "mainnet";
    if (!t.str("name", name)) return fail();
    if (!apply_network(c, name, err)) return fail();
    bool have_id = t.lookup("network_id") != nullptr;
    if (!t.integer("network_id", c.network_id, 0, 0xffffffffLL) ||
        !t.integer("peer_version", c.peer_version, 0, 0xffffffffLL) ||
        !t.integer("stable_confirmations", c.stable_confirmations, 1, 1000) || !t.boolean("relay_2x", c.relay_2x) ||
        !t.check_unknown())
      return fail();
    if (c.network == Network::kCustom && !have_id)
      return config_error(err, std::string(origin) + ": network.name = \"custom\" needs network.network_id");
  }
  {
    TableReader t(section("p2p") ? *section("p2p") : kEmpty, origin, "p2p.", err);
    std::string bind, source;
    if (!t.str("bind", bind) || !t.peers("peers", c.peers) || !t.peers("trusted_peers", c.trusted_peers) ||
        !t.boolean("mptcp", c.outbound.mptcp) || !t.str("bind_device", c.outbound.bind_device) ||
        !t.str("bind_source", source) ||
        !t.integer("burn_view_quorum", c.burn_view_quorum, 1, 64) ||
        !t.integer("max_inbound", c.max_inbound, 0, 100000) || !t.integer("max_outbound", c.max_outbound, 0, 10000) ||
        !t.integer("max_queued_per_peer", c.max_queued_per_peer, 1, 100) ||
        !t.integer("large_sends_at_once", c.large_sends_at_once, 0, 1024) ||
        !t.boolean("large_sends_in_step", c.large_sends_in_step) ||
        !t.integer("large_push_bytes", c.large_push_bytes, std::uint64_t{16} << 10, std::uint64_t{16} << 20) ||
        !t.integer("max_message_len", c.max_message_len, 170, 16778053) ||
        !t.integer("receive_budget", c.receive_budget, std::uint64_t{64} << 20, std::uint64_t{1} << 40) ||
        !t.integer("tx_bytes_per_s", c.tx_bytes_per_s, std::uint64_t{1024}, std::uint64_t{1} << 34) ||
        !t.integer("tx_checks_per_s", c.tx_checks_per_s, std::uint64_t{1}, std::uint64_t{1} << 24) ||
        !t.boolean("busy_poll", c.busy_poll) ||
        !t.integers("cpus", c.dataplane_cpus, 0, CPU_SETSIZE - 1, 2) || !t.check_unknown())
      return fail();
    if (c.outbound.bind_device.size() > net::kMaxDeviceName)
      return config_error(err, std::string(origin) + ": p2p.bind_device: an interface name has at most 15 characters");
    if (!source.empty() && !(c.outbound.bind_source = net::parse_addr(source)))
      return config_error(err, std::string(origin) + ": p2p.bind_source: not an IP address: " + source);
    if (c.dataplane_cpus.size() == 2 && c.dataplane_cpus[0] == c.dataplane_cpus[1])
      return config_error(err, std::string(origin) + ": p2p.cpus: the dataplane's two threads need two different CPUs");
    if (!bind.empty()) {
      auto hp = net::split_host_port(bind, err, true);
      if (!hp) return config_error(err, std::string(origin) + ": p2p.bind: " + err);
      c.bind_host = hp->first;
      c.bind_port = hp->second;
    }
  }
  {
    TableReader t(section("rewards") ? *section("rewards") : kEmpty, origin, "rewards.", err);
    if (!t.str("reward_set_file", c.reward_set_file) || !t.strings("node_rpc", c.node_rpc) ||
        !t.integer("poll_s", c.reward_poll_s, 1, 86400) || !t.check_unknown())
      return fail();
    for (const auto& u : c.node_rpc)
      if (const char* why = codec::validate_url(u); why != nullptr || u.empty())
        return config_error(err, std::string(origin) + ": rewards.node_rpc: '" + u + "': " + (why ? why : "empty"));
    if (!c.reward_set_file.empty() && !c.node_rpc.empty())
      return config_error(err, std::string(origin) + ": rewards: reward_set_file and node_rpc exclude each other");
  }
  {
    TableReader t(section("http") ? *section("http") : kEmpty, origin, "http.", err);
    std::string bind;
    if (!t.str("bind", bind) || !t.integer("max_clients", c.http_max_clients, 1, 4096) ||
        !t.integer("max_clients_per_ip", c.http_max_clients_per_ip, 0, 4096) ||
        !t.integer("response_budget", c.http_response_budget, std::int64_t{32} << 20, std::int64_t{1} << 40) ||
        !t.str("public_url", c.http_public_url) || !t.check_unknown())
      return fail();
    if (const char* why = codec::validate_url(c.http_public_url))
      return config_error(err, std::string(origin) + ": http.public_url: " + why);
    if (!bind.empty()) {
      auto hp = net::split_host_port(bind, err, true);
      if (!hp) return config_error(err, std::string(origin) + ": http.bind: " + err);
      c.http_bind_host = hp->first;
      c.http_bind_port = hp->second;
    }
  }
  {
    TableReader t(section("store") ? *section("store") : kEmpty, origin, "store.", err);
    if (!t.boolean("enabled", c.store_enabled) || !t.str("path", c.store_path) ||
        !t.integer("max_bytes", c.store_max_bytes, 1 << 20, std::int64_t{1} << 44) ||
        !t.integer("max_blocks", c.store_max_blocks, 1, std::int64_t{1} << 32) || !t.check_unknown())
      return fail();
  }
  {
    TableReader t(section("frontier") ? *section("frontier") : kEmpty, origin, "frontier.", err);
    std::vector<std::string> boot, allow, deny;
    const bool have_boot = t.lookup("bootstrap") != nullptr;
    if (!t.strings("bootstrap", boot) || !t.boolean("walk", c.walk) ||
        !t.integer("walk_interval_ms", c.walk_interval_ms, 100, 86'400'000) ||
        !t.integer("target_outbound", c.target_outbound, 0, 10000) || !t.integer("max_peers", c.max_peers, 16, 1 << 24) ||
        !t.integer("max_neighbor_age_s", c.max_neighbor_age_s, 60, 365 * 86400) ||
        !t.boolean("private_neighbors", c.private_neighbors) || !t.strings("allow", allow) || !t.strings("deny", deny) ||
        !t.integer("max_inbound_per_ip", c.max_inbound_per_ip, 1, 100000) || !t.integer("ban_s", c.ban_s, 1, 365 * 86400) ||
        !t.integer("ban_max_s", c.ban_max_s, 1, 365 * 86400) || !t.str("path", c.peers_path) || !t.check_unknown())
      return fail();
    if (have_boot) {
      c.bootstrap.emplace();
      if (!parse_peers(boot, *c.bootstrap, "frontier.bootstrap", err)) return fail();
    }
    for (auto [list, out, name] : {std::tuple{&allow, &c.allow, "frontier.allow"}, std::tuple{&deny, &c.deny, "frontier.deny"}}) {
      for (const auto& e : *list) {
        std::string why;
        auto cidr = net::Cidr::parse(e, why);
        if (!cidr) return config_error(err, std::string(origin) + ": " + name + ": " + why);
        out->push_back(*cidr);
      }
    }
    if (c.ban_max_s < c.ban_s)
      return config_error(err, std::string(origin) + ": frontier.ban_max_s must be at least frontier.ban_s");
    if (c.target_outbound > c.max_outbound)
      return config_error(err, std::string(origin) + ": frontier.target_outbound exceeds p2p.max_outbound");
  }
  {
    TableReader t(section("process") ? *section("process") : kEmpty, origin, "process.", err);
    std::string user = "\x01";  // not set
    if (!t.str("user", user) || !t.boolean("seccomp", c.seccomp) || !t.check_unknown()) return fail();
    if (user != "\x01") c.process_user = user;
  }
  {
    TableReader t(section("shm") ? *section("shm") : kEmpty, origin, "shm.", err);
    if (!t.str("path", c.shm_path) || !t.check_unknown()) return fail();
  }
  {
    TableReader t(section("proxy") ? *section("proxy") : kEmpty, origin, "proxy.", err);
    std::string all, onion, user, pass;
    const bool isolate_set = t.lookup("isolate") != nullptr;
    if (!t.str("socks5", all) || !t.str("onion", onion) || !t.str("username", user) || !t.str("password", pass) ||
        !t.boolean("isolate", c.proxy_isolate) || !t.check_unknown())
      return fail();
    const std::string at = std::string(origin) + ": ";
    if (!parse_proxy(all, c.proxy, at + "proxy.socks5", err) || !parse_proxy(onion, c.onion_proxy, at + "proxy.onion", err))
      return fail();
    if (user.empty() != pass.empty())
      return config_error(err, at + "proxy.username and proxy.password go together (RFC 1929 needs both)");
    if (user.size() > 255 || pass.size() > 255)
      return config_error(err, at + "proxy.username and proxy.password have at most 255 bytes each");
    if (!user.empty()) {
      if (!c.proxy) return config_error(err, at + "proxy.username: there is no proxy.socks5 to log in to");
      // A login of our own would replace the per-peer isolation logins.
      if (isolate_set && c.proxy_isolate)
        return config_error(err, at + "proxy.isolate needs per-peer logins, which proxy.username replaces: drop one of them");
      c.proxy_isolate = false;
      c.proxy->login = net::ProxyLogin{user, pass};
    }
    if (!c.onion_proxy) c.onion_proxy = c.proxy;  // as Bitcoin Core's -onion defaults to -proxy
  }
  {
    TableReader t(section("tor") ? *section("tor") : kEmpty, origin, "tor.", err);
    std::string bind;
    if (!t.str("control", c.tor_control) || !t.str("password", c.tor_password) || !t.str("bind", bind) ||
        !t.boolean("publish_http", c.tor_publish_http) || !t.check_unknown())
      return fail();
    const std::string at = std::string(origin) + ": ";
    if (!c.tor_control.empty()) {
      std::string e;
      auto a = net::PeerAddress::parse(c.tor_control, e);
      if (!a || !a->is_ip())
        return config_error(err, at + "tor.control: '" + c.tor_control + "': give Tor's ControlPort as IP:PORT" + (a ? "" : ": " + e));
    }
    if (!bind.empty()) {
      auto hp = net::split_host_port(bind, err, true);
      if (!hp) return config_error(err, at + "tor.bind: " + err);
      c.tor_bind_host = hp->first;
      c.tor_bind_port = hp->second;
    }
    c.tor_listener = !c.tor_control.empty() || !bind.empty();
  }
  {
    TableReader t(section("privacy") ? *section("privacy") : kEmpty, origin, "privacy.", err);
    if (!t.strings("onlynet", c.onlynet) || !t.check_unknown()) return fail();
    for (const auto& n : c.onlynet)
      if (n != "ipv4" && n != "ipv6" && n != "onion" && n != "i2p")
        return config_error(err, std::string(origin) + ": privacy.onlynet: '" + n + "': the networks are ipv4, ipv6, onion and i2p");
  }
  {
    TableReader t(section("i2p") ? *section("i2p") : kEmpty, origin, "i2p.", err);
    std::string sam;
    if (!t.str("sam", sam) || !t.integer("tunnel_length", c.i2p_tunnel_length, 1, 7) || !t.check_unknown()) return fail();
    if (!sam.empty()) {
      std::string e;
      auto a = net::PeerAddress::parse(sam, e);
      if (!a || !a->is_ip())
        return config_error(err, std::string(origin) + ": i2p.sam: '" + sam + "': give the SAM bridge as IP:PORT" + (a ? "" : ": " + e));
      c.i2p_sam = *a;
    }
  }

  {
    TableReader t(section("pair") ? *section("pair") : kEmpty, origin, "pair.", err);
    if (!t.peers("peers", c.pair_peers, true) || !t.integer("ping_interval_ms", c.pair_ping_interval_ms, 100, 60'000) ||
        !t.integer("ping_timeout_ms", c.pair_ping_timeout_ms, 100, 60'000) || !t.check_unknown())
      return fail();
    for (const auto& p : c.pair_peers)
      if (!p.public_key)
        return config_error(err, std::string(origin) + ": pair.peers: '" + p.addr.to_string() +
                                     "': a partner relay is named by its public key: PUBKEY@HOST:PORT");
  }

  {
    TableReader t(section("gaia") ? *section("gaia") : kEmpty, origin, "gaia.", err);
    if (!t.str("hub_url", c.gaia_hub_url) || !t.str("key_file", c.gaia_key_file) || !t.str("path_prefix", c.gaia_prefix) ||
        !t.str("read_url", c.gaia_read_url) ||
        !t.integer("outbox_max_bytes", c.gaia_outbox_max_bytes, 1 << 20, std::int64_t{1} << 44) ||
        !t.integer("timeout_s", c.gaia_timeout_s, 1, 3600) || !t.check_unknown())
      return fail();
    const std::string at = std::string(origin) + ": gaia.";
    if (!c.gaia_hub_url.empty()) {
      while (c.gaia_hub_url.size() > 1 && c.gaia_hub_url.back() == '/') c.gaia_hub_url.pop_back();
      if (c.gaia_hub_url.rfind("http://", 0) != 0 && c.gaia_hub_url.rfind("https://", 0) != 0)
        return config_error(err, at + "hub_url: '" + c.gaia_hub_url + "': give the hub's http:// or https:// URL");
      if (!c.store_enabled)
        return config_error(err, at + "hub_url: the mirror writes the block store's blocks: it needs store.enabled = true");
    }
    if (!c.gaia_read_url.empty()) {
      if (c.gaia_read_url.rfind("http://", 0) != 0 && c.gaia_read_url.rfind("https://", 0) != 0)
        return config_error(err, at + "read_url: '" + c.gaia_read_url + "': give the bucket's http:// or https:// read URL");
      if (c.gaia_read_url.back() != '/') c.gaia_read_url.push_back('/');
    }
    // The prefix: path segments of [A-Za-z0-9._-], none empty, "." or "..".
    std::string pre = c.gaia_prefix;
    while (!pre.empty() && pre.back() == '/') pre.pop_back();
    std::size_t from = 0;
    while (!pre.empty() && from <= pre.size()) {
      std::size_t end = pre.find('/', from);
      if (end == std::string::npos) end = pre.size();
      const std::string seg = pre.substr(from, end - from);
      const bool chars_ok = std::all_of(seg.begin(), seg.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '.' || ch == '_' || ch == '-';
      });
      if (seg.empty() || seg == "." || seg == ".." || !chars_ok)
        return config_error(err, at + "path_prefix: '" + c.gaia_prefix +
                                     "': path segments of letters, digits, '.', '_' and '-', separated by '/'");
      from = end + 1;
    }
    c.gaia_prefix = pre.empty() ? "" : pre + "/";
  }

  {
    TableReader t(section("dataplane") ? *section("dataplane") : kEmpty, origin, "dataplane.", err);
    std::string backend;
    if (!t.str("backend", backend) || !t.check_unknown()) return fail();
    if (backend == "dpdk") c.backend = RelayConfig::Backend::kDpdk;
    else if (!backend.empty() && backend != "uring")
      return config_error(err, std::string(origin) + ": dataplane.backend: '" + backend + "': \"uring\" or \"dpdk\"");
  }
  {
    TableReader t(section("dpdk") ? *section("dpdk") : kEmpty, origin, "dpdk.", err);
    const std::string at = std::string(origin) + ": dpdk.";
    std::string address, gateway;
    if (!t.strings("eal_args", c.dpdk.eal_args) || !t.str("port", c.dpdk.port) || !t.str("address", address) ||
        !t.str("gateway", gateway) || !t.integer("mtu", c.dpdk.mtu, 576, 9000) ||
        !t.integer("mbufs", c.dpdk.mbufs, 0, 1 << 20) || !t.integer("rx_desc", c.dpdk.rx_desc, 64, 32768) ||
        !t.integer("tx_desc", c.dpdk.tx_desc, 64, 32768) || !t.boolean("zero_copy", c.dpdk.zero_copy) ||
        !t.str("host_iface", c.dpdk.host_iface) || !t.check_unknown())
      return fail();
    {
      const std::string& h = c.dpdk.host_iface;
      const bool name_ok = h.size() < IFNAMSIZ && h != "." && h != ".." &&
                           std::all_of(h.begin(), h.end(), [](char ch) {
                             return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-' || ch == '_' || ch == '.';
                           });
      if (!name_ok)
        return config_error(err, at + "host_iface: '" + h + "': an interface name (at most " + std::to_string(IFNAMSIZ - 1) +
                                     " letters, digits, '-', '_' or '.')");
    }
    if (c.dpdk.mbufs != 0 && c.dpdk.mbufs < 4096)
      return config_error(err, at + "mbufs: at least 4096 (0 sizes the pool from the session limits)");
    if (!address.empty()) {
      const auto slash = address.find('/');
      in_addr a{};
      int len = 24;
      if (slash != std::string::npos) {
        const char* b = address.data() + slash + 1;
        const char* e = address.data() + address.size();
        auto r = std::from_chars(b, e, len);
        if (r.ec != std::errc{} || r.ptr != e || b == e) len = -1;
      }
      if (::inet_pton(AF_INET, address.substr(0, slash).c_str(), &a) != 1 || len < 1 || len > 32 || a.s_addr == 0)
        return config_error(err, at + "address: '" + address + "': the relay's own IPv4 address on the port, as IP/PREFIX");
      c.dpdk.address = a.s_addr;
      c.dpdk.prefix_len = static_cast<std::uint8_t>(len);
    }
    if (!gateway.empty()) {
      in_addr g{};
      if (::inet_pton(AF_INET, gateway.c_str(), &g) != 1)
        return config_error(err, at + "gateway: '" + gateway + "': an IPv4 address");
      c.dpdk.gateway = g.s_addr;
    }
  }

  // Command-line overrides.
  if (ov.network && !apply_network(c, *ov.network, err)) return fail();
  if (ov.network && c.network == Network::kCustom)
    return config_error(err, "--network custom needs network.network_id in a config file");
  if (ov.data_dir) c.data_dir = *ov.data_dir;
  if (ov.identity_key_file) c.identity_key_file = *ov.identity_key_file;
  if (ov.p2p_bind) {
    auto hp = net::split_host_port(*ov.p2p_bind, err, true);
    if (!hp) return config_error(err, "--p2p-bind: " + err);
    c.bind_host = hp->first;
    c.bind_port = hp->second;
  }
  if (ov.http_bind) {
    auto hp = net::split_host_port(*ov.http_bind, err, true);
    if (!hp) return config_error(err, "--http-bind: " + err);
    c.http_bind_host = hp->first;
    c.http_bind_port = hp->second;
  }
  if (!parse_peers(ov.peers, c.peers, "--peer", err)) return fail();
  if (!check_reachable(c, c.peers, "p2p.peers", err) || !check_reachable(c, c.trusted_peers, "p2p.trusted_peers", err) ||
      !check_reachable(c, c.pair_peers, "pair.peers", err) ||
      (c.bootstrap && !check_reachable(c, *c.bootstrap, "frontier.bootstrap", err)))
    return fail();
  for (const auto& u : c.node_rpc)
    if (u.find(".onion") != std::string::npos && !c.onion_proxy)
      return config_error(err, std::string(origin) + ": rewards.node_rpc: '" + u + "': an onion URL needs proxy.onion (or proxy.socks5)");
  if (c.gaia_hub_url.find(".onion") != std::string::npos && !c.onion_proxy)
    return config_error(err, std::string(origin) + ": gaia.hub_url: '" + c.gaia_hub_url + "': an onion URL needs proxy.onion (or proxy.socks5)");
  if (!check_private(c, err)) return fail();
  if (!check_backend(c, origin, err)) return fail();
  return c;
}

std::vector<PeerSpec> default_bootstrap(Network n) {
  if (n != Network::kMainnet) return {};
  static const char* kMainnetSeeds[] = {
      "02196f005965cebe6ddc3901b7b1cc1aa7a88f305bb8c5893456b8f9a605923893@seed.mainnet.hiro.so:20444",
      "02539449ad94e6e6392d8c1deb2b4e61f80ae2a18964349bc14336d8b903c46a8c@cet.stacksnodes.org:20444",
      "02ececc8ce79b8adf813f13a0255f8ae58d4357309ba0cedd523d9f1a306fcfb79@sgt.stacksnodes.org:20444",
      "0303144ba518fe7a0fb56a8a7d488f950307a4330f146e1e1458fc63fb33defe96@est.stacksnodes.org:20444",
  };
  std::vector<PeerSpec> out;
  std::string err;
  for (const char* s : kMainnetSeeds)
    if (auto p = parse_peer(s, err)) out.push_back(*p);
  return out;
}

std::vector<PeerSpec> RelayConfig::bootstrap_peers() const { return bootstrap ? *bootstrap : default_bootstrap(network); }

Result<RelayConfig> load_config_file(const std::string& path, const ConfigOverrides& ov, std::string& err) {
  if (path.empty()) return load_config("", ov, err, "defaults");
  std::ifstream f(path);
  if (!f) return config_error(err, "cannot read config file " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  if (ss.str().size() > (1u << 20)) return config_error(err, path + ": config file larger than 1 MiB");
  return load_config(ss.str(), ov, err, path);
}

policy::NetworkParams network_params(const RelayConfig& c) noexcept {
  return {c.network_id, c.peer_version, c.stable_confirmations};
}

codec::Addr16 any_network_addr() noexcept {
  codec::Addr16 a{};
  a[10] = 0xff;
  a[11] = 0xff;
  return a;
}

}  // namespace relay::config
