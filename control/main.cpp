// stacks-relay-control — the relay's control plane: handshakes and replies for every
// session the dataplane reports, burn view adoption, the reward set, and dialing the
// configured peers. It joins the shared region `stacks-relay run` created (--shm).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <mutex>
#include <vector>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "control/cli/decode.hpp"
#include "relay/config/privilege.hpp"
#include "relay/config/process_start.hpp"
#include "control/engine/control_engine.hpp"
#include "control/http/relay_api.hpp"
#include "control/rewards/reward_fetcher.hpp"
#include "control/i2p/sam_session.hpp"
#include "control/pair/catch_up.hpp"
#include "control/gaia/mirror.hpp"
#include "control/inv/sortition_fetcher.hpp"
#include "control/tor/tor_control.hpp"
#include "relay/shm/region.hpp"

namespace {

constexpr const char* kProg = "stacks-relay-control";
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  using namespace relay;
  using config::log_line;
  int rc = 0;
  auto start = config::start_process(argc, argv, kProg, "stacks-relay-control: the relay's control plane (started by `stacks-relay run`)", rc);
  if (!start) return rc;
  const config::CommonArgs& args = start->args;
  const config::RelayConfig* cfg = &start->cfg;
  const crypto::SecretKey* key = &start->key;
  const link::Link* lk = &start->link;
  std::string err;
  ctl::ControlOptions o;
  o.outbound = cfg->outbound;
  o.proxy = cfg->proxy;
  o.onion_proxy = cfg->onion_proxy;
  o.isolate = cfg->proxy_isolate;
  crypto::fill_random(reinterpret_cast<std::uint8_t*>(&o.isolation_salt), sizeof o.isolation_salt);
  o.log = [](const std::string& line) { log_line(kProg, "%s", line.c_str()); };
  auto dial_spec = [](const config::PeerSpec& p) {
    ctl::DialSpec d{p.addr, std::nullopt, p.via_device, p.via_source};
    d.mptcp = p.mptcp;
    d.http = p.http;
    if (p.public_key) d.pinned = crypto::parse_public_key(ByteSpan(p.public_key->data(), 33));
    return d;
  };
  for (const auto& p : cfg->peers) o.peers.push_back(dial_spec(p));
  for (const auto& p : cfg->pair_peers) {
    o.pairs.push_back(dial_spec(p));
    if (!o.pairs.back().pinned) {
      log_line(kProg, "pair.peers: %s: not a valid public key", p.addr.to_string().c_str());
      return 2;
    }
  }
  o.pair_ping_interval_ns = std::uint64_t{cfg->pair_ping_interval_ms} * 1'000'000ull;
  o.pair_ping_timeout_ns = std::uint64_t{cfg->pair_ping_timeout_ms} * 1'000'000ull;
  o.burn_view_quorum = cfg->burn_view_quorum;
  o.view_path = cfg->data_dir + "/burn-view";
  for (const auto& p : cfg->trusted_peers)
    if (p.public_key) o.trusted_pkhs.push_back(crypto::hash160(ByteSpan(p.public_key->data(), 33)));
  if (!cfg->reward_set_file.empty()) {
    std::ifstream rf(cfg->reward_set_file);
    if (!rf) {
      log_line(kProg, "reward set %s: cannot read it", cfg->reward_set_file.c_str());
      return 2;
    }
    std::stringstream ss;
    ss << rf.rdbuf();
    auto rs = cli::parse_reward_set(ss.str(), err);
    if (!rs) {
      log_line(kProg, "reward set %s: %s", cfg->reward_set_file.c_str(), err.c_str());
      return 2;
    }
    o.reward_set = *rs;
  }

  // Signer sets from trusted nodes' RPC: what the cache has now, fresh ones as they come.
  std::unique_ptr<rewards::RewardFetcher> fetcher;
  std::vector<validate::RewardSetSigner> previous_set;
  std::uint64_t cached_cycle = 0;
  if (!cfg->node_rpc.empty()) {
    rewards::FetcherOptions fo;
    fo.node_urls = cfg->node_rpc;
    fo.cache_dir = cfg->data_dir + "/reward-sets";
    fo.poll_s = cfg->reward_poll_s;
    fo.proxy = cfg->proxy;
    fo.onion_proxy = cfg->onion_proxy;
    fo.isolate = cfg->proxy_isolate;
    crypto::fill_random(reinterpret_cast<std::uint8_t*>(&fo.isolation_salt), sizeof fo.isolation_salt);
    fetcher = std::make_unique<rewards::RewardFetcher>(fo);
    if (auto cached = fetcher->load_cache()) {
      o.reward_set = cached->current;
      previous_set = cached->previous;
      cached_cycle = cached->cycle;
      log_line(kProg, "reward cycle %llu from the cache: %zu signers (previous cycle: %zu)",
               static_cast<unsigned long long>(cached->cycle), cached->current.size(), cached->previous.size());
    }
  }

  auto ends = link::join_ends(*lk, link::Side::kControl);
  if (!ends.ok()) {
    log_line(kProg, "shared region %s: %s", start->shm.c_str(), ends.error().reason);
    return 2;
  }

  std::unique_ptr<store::BlockStore> blocks;
  if (cfg->store_enabled) {
    auto st = store::BlockStore::open(cfg->block_store_path(), {cfg->store_max_bytes, cfg->store_max_blocks});
    if (!st.ok()) {
      log_line(kProg, "block store %s: %s", cfg->block_store_path().c_str(), st.error().reason);
      return 2;
    }
    blocks = std::move(*st);
    o.store = blocks.get();
    const auto t = blocks->totals();
    log_line(kProg, "block store %s: %llu blocks, %llu bytes", cfg->block_store_path().c_str(),
             static_cast<unsigned long long>(t.blocks), static_cast<unsigned long long>(t.bytes));
  }

  // The frontier: peers known and banned, kept across restarts.
  frontier::FrontierOptions fo;
  fo.path = cfg->peer_table_path();
  fo.network_id = cfg->network_id;
  fo.max_peers = cfg->max_peers;
  fo.max_neighbor_age_s = cfg->max_neighbor_age_s;
  fo.private_neighbors = cfg->private_neighbors;
  fo.allow = cfg->allow;
  fo.deny = cfg->deny;
  fo.ban_base_s = cfg->ban_s;
  fo.ban_max_s = cfg->ban_max_s;
  auto table = frontier::Frontier::open(fo);
  if (!table.ok()) {
    log_line(kProg, "peer table %s: %s", fo.path.c_str(), table.error().reason);
    return 2;
  }
  o.ipv4 = cfg->net_allowed("ipv4");
  o.ipv6 = cfg->net_allowed("ipv6");
  // Private mode: the peer table holds clearnet addresses only, so there is none: no
  // walk, no bootstrap, GetNeighbors answered with nobody.
  const bool private_mode = cfg->private_mode();
  o.frontier = private_mode ? nullptr : table->get();
  if (private_mode) log_line(kProg, "private mode (privacy.onlynet): no clearnet dials, sessions, walk or neighbors");
  for (const auto& p : private_mode ? std::vector<config::PeerSpec>{} : cfg->bootstrap_peers()) {
    ctl::DialSpec d{p.addr, std::nullopt, {}, std::nullopt};
    if (p.public_key) d.pinned = crypto::parse_public_key(ByteSpan(p.public_key->data(), 33));
    o.bootstrap.push_back(std::move(d));
  }
  o.walk = cfg->walk && !private_mode;
  o.walk_interval_ns = std::uint64_t{cfg->walk_interval_ms} * 1'000'000;
  o.target_outbound = cfg->target_outbound;
  o.max_outbound = cfg->max_outbound;
  o.max_inbound = cfg->max_inbound;
  o.max_inbound_per_ip = cfg->max_inbound_per_ip;
  log_line(kProg, "peer table %s: %zu peers, %zu bans in force; %zu bootstrap peers; walk %s (target %u outbound)",
           fo.path.c_str(), (*table)->size(), (*table)->bans_in_force(static_cast<std::int64_t>(::time(nullptr))),
           o.bootstrap.size(), o.walk ? "on" : "off", o.target_outbound);

  ctl::LocalPeer local{*key,           cfg->network_id, cfg->peer_version,        cfg->stable_confirmations,
                       codec::kServiceRelay, config::any_network_addr(), cfg->bind_port, "", 3600, 0x7fffffffffffffffull};
  o.local = &local;
  // With the HTTP endpoint on, nodes may download blocks from us: advertise it as our
  // data_url with the RPC service bit (PROTOCOL.md §11), when there is a URL to give.
  if (!cfg->http_bind_host.empty()) {
    std::string url = cfg->http_public_url;
    const bool wildcard = cfg->http_bind_host == "0.0.0.0" || cfg->http_bind_host == "::";
    if (url.empty() && !wildcard && cfg->http_bind_port != 0 && !cfg->private_mode()) {
      const bool v6 = cfg->http_bind_host.find(':') != std::string::npos;
      url = "http://" + (v6 ? "[" + cfg->http_bind_host + "]" : cfg->http_bind_host) + ":" + std::to_string(cfg->http_bind_port);
    }
    if (!url.empty() && codec::validate_url(url) == nullptr) {
      local.data_url = url;
      local.services = static_cast<std::uint16_t>(local.services | codec::kServiceRpc);
    } else {
      log_line(kProg, "HTTP endpoint not advertised to nodes: set http.public_url");
    }
  }
  // A node that dialed us and shares our burn view asks our data_url for the ongoing tenure
  // (stackslib's unconfirmed tenure downloader) and drops the session when there is none.
  if (local.data_url.empty())
    log_line(kProg, "no data_url: nodes that dial this relay will drop their sessions now and then (their tenure "
             "downloader asks every peer with their burn view for /v3/tenures/info); enable [http] with a public_url");
  // We advertise the port the dataplane really listens on (--p2p-bind may ask for any).
  if (auto p = lk->counters->p2p_port.load(std::memory_order_acquire); p != 0 && p <= 65535) local.port = static_cast<std::uint16_t>(p);
  ctl::ControlEngine engine(*ends, o);
  if (!previous_set.empty() || cached_cycle != 0) engine.set_reward_sets(o.reward_set, previous_set, cached_cycle);
  // The sets uploaded blocks are checked against (read on the HTTP thread).
  std::mutex sets_mu;
  std::vector<validate::RewardSetSigner> sets_current = o.reward_set, sets_previous = previous_set;

  // The HTTP endpoint: a thread of its own; it reads the store, the shared counters and
  // what this loop publishes on the status board.
  http::StatusBoard board;
  http::ApiContext api;
  api.public_key = key->public_key().compressed();
  api.network_id = local.network_id;
  api.peer_version = local.peer_version;
  api.p2p_port = local.port;
  api.store = blocks.get();
  api.dp = lk->counters;
  api.ring_dp_to_ctl = lk->dp_to_ctl;
  api.ring_dp_to_ctl_sz = lk->dp_to_ctl_sz;
  api.ring_ctl_to_dp = lk->ctl_to_dp;
  api.ring_ctl_to_dp_sz = lk->ctl_to_dp_sz;
  api.board = &board;
  std::atomic<std::uint64_t> reward_cycle{cached_cycle};
  api.reward_cycle = &reward_cycle;
  for (const auto& pp : o.pairs) api.pair_keys.push_back(pp.pinned->compressed());
  api.check_signers = [&](const codec::NakamotoBlock& b) {
    std::lock_guard<std::mutex> g(sets_mu);
    auto r = validate::verify_signer_signatures(b, sets_current);
    if (!r.ok && !sets_previous.empty()) r = validate::verify_signer_signatures(b, sets_previous);
    return r;
  };
  // Uploads validated on the HTTP thread wait here for the control loop.
  std::mutex outbox_mu;
  std::vector<Bytes> outbox;
  api.originate = [&](Bytes payload) {
    std::lock_guard<std::mutex> g(outbox_mu);
    if (outbox.size() < 1024) outbox.push_back(std::move(payload));
  };
  std::unique_ptr<http::Server> http_server;
  if (!cfg->http_bind_host.empty()) {
    http::ServerOptions so;
    so.host = cfg->http_bind_host;
    so.port = cfg->http_bind_port;
    so.max_conns = cfg->http_max_clients;
    so.max_conns_per_ip = cfg->http_max_clients_per_ip;
    so.response_budget = cfg->http_response_budget;
    so.serve_now = false;  // bound now (the port may be privileged), served once root is dropped
    so.limits.max_body = cfg->max_message_len;
    auto srv = http::Server::start(so, http::make_relay_api(&api));
    if (!srv.ok()) {
      log_line(kProg, "HTTP endpoint %s:%u: %s (%s)", so.host.c_str(), so.port, srv.error().reason,
               std::strerror(static_cast<int>(srv.error().offset)));
      // A port in use or an address not (yet) up may clear: restarted. A bad address or
      // a port we may not bind cannot.
      const auto e = static_cast<int>(srv.error().offset);
      return e == 0 || e == EACCES || e == EINVAL || e == EAFNOSUPPORT ? config::kExitConfig : config::kExitFailure;
    }
    http_server = std::move(*srv);
    api.server = &http_server->stats();
    log_line(kProg, "HTTP endpoint on %s:%u", so.host.c_str(), http_server->port());
    std::printf("HTTP %u\n", http_server->port());  // for whoever started us with port 0
    std::fflush(stdout);
  }
  // The pair's store catch-up (its own thread, started once this process is unprivileged:
  // it writes its cursors into the data dir): from each partner's data_url.
  std::unique_ptr<pair::CatchUp> catch_up;
  if (!o.pairs.empty() && blocks) {
    pair::CatchUpOptions co;
    co.key = key;
    co.store = blocks.get();
    co.cursor_dir = cfg->data_dir;
    co.http.proxy = cfg->proxy;
    co.http.onion_proxy = cfg->onion_proxy;
    co.http.isolate = cfg->proxy_isolate;
    crypto::fill_random(reinterpret_cast<std::uint8_t*>(&co.http.isolation_salt), sizeof co.http.isolation_salt);
    co.log = [](const std::string& line) { log_line(kProg, "%s", line.c_str()); };
    catch_up = std::make_unique<pair::CatchUp>(std::move(co));
    catch_up->set_reward_sets(sets_current, sets_previous);
  }
  // The Gaia mirror (its own thread, started once this process is unprivileged): every
  // stored block written into the hub, from a durable outbox in the data dir.
  std::unique_ptr<gaia::GaiaMirror> mirror;
  std::unique_ptr<gaia::GaiaReader> reader;
  if (!cfg->gaia_hub_url.empty() && blocks) {
    gaia::MirrorOptions mo;
    mo.hub_url = cfg->gaia_hub_url;
    mo.key = config::load_identity_key(cfg->gaia_key_path(), true, err);
    if (!mo.key) {
      log_line(kProg, "gaia.key_file: %s", err.c_str());
      return config::kExitConfig;
    }
    mo.prefix = cfg->gaia_prefix;
    mo.store = blocks.get();
    mo.outbox_dir = cfg->gaia_outbox_path();
    mo.outbox_max_bytes = cfg->gaia_outbox_max_bytes;
    mo.http.timeout_s = cfg->gaia_timeout_s;
    mo.http.proxy = cfg->proxy;
    mo.http.onion_proxy = cfg->onion_proxy;
    mo.http.isolate = cfg->proxy_isolate;
    crypto::fill_random(reinterpret_cast<std::uint8_t*>(&mo.http.isolation_salt), sizeof mo.http.isolation_salt);
    const std::uint64_t mo_salt = mo.http.isolation_salt;
    mo.log = [](const std::string& line) { log_line(kProg, "%s", line.c_str()); };
    auto m = gaia::GaiaMirror::open(std::move(mo));
    if (!m.ok()) {
      log_line(kProg, "gaia outbox %s: %s", cfg->gaia_outbox_path().c_str(), m.error().reason);
      return 2;
    }
    mirror = std::move(*m);
    log_line(kProg, "gaia: mirroring the block store into %s, bucket %s%s%s", cfg->gaia_hub_url.c_str(), mirror->bucket().c_str(),
             cfg->gaia_prefix.empty() ? "" : ", under ", cfg->gaia_prefix.c_str());
    // Blocks the store lacks, read back from the bucket for the HTTP endpoint.
    gaia::ReaderOptions ro;
    ro.read_url = cfg->gaia_read_url;
    ro.read_url_now = [m = mirror.get()] { return m->view().read_url; };
    ro.hub_url = cfg->gaia_hub_url;
    ro.bucket = mirror->bucket();
    ro.prefix = cfg->gaia_prefix;
    ro.store = blocks.get();
    ro.http.timeout_s = cfg->gaia_timeout_s;
    ro.http.proxy = cfg->proxy;
    ro.http.onion_proxy = cfg->onion_proxy;
    ro.http.isolate = cfg->proxy_isolate;
    ro.http.isolation_salt = mo_salt;
    ro.log = [](const std::string& line) { log_line(kProg, "%s", line.c_str()); };
    reader = std::make_unique<gaia::GaiaReader>(std::move(ro));
    reader->set_reward_sets(sets_current, sets_previous);
    api.reader = reader.get();
  }
  // The Nakamoto inventory (its own thread): built from a trusted node's sortitions over
  // the block store, and only when nodes can download what it claims (a data_url).
  std::unique_ptr<inv::SortitionFetcher> inventory;
  if (!cfg->node_rpc.empty() && blocks && !local.data_url.empty()) {
    inv::SortitionFetcherOptions io;
    io.node_urls = cfg->node_rpc;
    io.store = blocks.get();
    io.http.proxy = cfg->proxy;
    io.http.onion_proxy = cfg->onion_proxy;
    io.http.isolate = cfg->proxy_isolate;
    crypto::fill_random(reinterpret_cast<std::uint8_t*>(&io.http.isolation_salt), sizeof io.http.isolation_salt);
    io.log = [](const std::string& line) { log_line(kProg, "%s", line.c_str()); };
    inventory = std::make_unique<inv::SortitionFetcher>(std::move(io));
    api.inventory = inventory.get();
  } else {
    log_line(kProg, "GetNakamotoInv answered Nack 2 (an inventory needs rewards.node_rpc, the block store and a data_url)");
  }
  // The onion service, published through Tor's control port (its own thread; started
  // once this process is unprivileged, as the key it keeps is in the data dir).
  std::unique_ptr<tor::TorController> tor_ctl;
  const std::string onion_address_path = cfg->data_dir + "/onion_address";
  if (cfg->tor_control.empty()) {
    ::unlink(onion_address_path.c_str());  // no service: nothing stale for `stacks-relay status`
  } else {
    tor::TorOptions to;
    std::string e;
    to.control = net::PeerAddress::parse(cfg->tor_control, e).value_or(net::PeerAddress{});
    to.password = cfg->tor_password;
    to.key_path = cfg->onion_key_path();
    to.address_path = onion_address_path;
    to.p2p_virtual = [lk] { return static_cast<std::uint16_t>(lk->counters->p2p_port.load(std::memory_order_acquire)); };
    to.p2p_target = [lk] { return static_cast<std::uint16_t>(lk->counters->onion_port.load(std::memory_order_acquire)); };
    if (http_server && cfg->tor_publish_http) {
      to.http_virtual = to.http_target = http_server->port();
      const bool any = cfg->http_bind_host == "0.0.0.0" || cfg->http_bind_host == "::";
      to.http_target_host = any ? "127.0.0.1" : cfg->http_bind_host;
      if (to.http_target_host.find(':') != std::string::npos) to.http_target_host = "[" + to.http_target_host + "]";
    }
    to.log = [](const std::string& line) { log_line(kProg, "%s", line.c_str()); };
    tor_ctl = std::make_unique<tor::TorController>(std::move(to));
  }
  // The I2P session on the SAM bridge (its own thread; SESSION CREATE takes a while).
  std::unique_ptr<i2p::SamSession> sam;
  const std::string i2p_address_path = cfg->data_dir + "/i2p_address";
  if (!cfg->i2p_sam) {
    ::unlink(i2p_address_path.c_str());
  } else {
    i2p::SamOptions so;
    so.bridge = *cfg->i2p_sam;
    so.key_path = cfg->i2p_key_path();
    so.tunnel_length = cfg->i2p_tunnel_length;
    so.address_path = i2p_address_path;
    so.log = [](const std::string& line) { log_line(kProg, "%s", line.c_str()); };
    sam = std::make_unique<i2p::SamSession>(std::move(so));
  }
  std::uint64_t sam_generation = 0;
  std::uint64_t next_board = 0, next_neighbors = 0, stored_seen = 0;

  std::uint64_t incarnation = 0;
  crypto::fill_random(reinterpret_cast<std::uint8_t*>(&incarnation), sizeof incarnation);
  // Everything that needed root is done: nothing from a peer, a client or a node has
  // been read yet. From here on this process is unprivileged.
  if (const int drop = config::become_unprivileged(*cfg, kProg); drop != 0) return drop;
  if (http_server) http_server->serve();
  if (tor_ctl) tor_ctl->start();
  if (sam) sam->start();
  if (catch_up) catch_up->start();
  if (mirror) mirror->start();
  if (reader) reader->start();
  if (inventory) inventory->start();
  engine.start(incarnation, shm::monotonic_ns());
  if (fetcher) fetcher->start();
  log_line(kProg, "running (%zu peers to dial, %zu trusted, %zu pair partner paths, reward set of %zu signers)",
           o.peers.size(), o.trusted_pkhs.size(), o.pairs.size(), o.reward_set.size());

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  const std::uint64_t every = static_cast<std::uint64_t>(args.stats_interval_s) * std::uint64_t{1000000000};
  std::uint64_t next_stats = shm::monotonic_ns() + every;
  bool dp_stall_reported = false;
  while (!g_stop.load(std::memory_order_relaxed)) {
    const std::uint64_t now = shm::monotonic_ns();
    if (auto p = lk->counters->p2p_port.load(std::memory_order_acquire); p != 0 && p <= 65535) local.port = static_cast<std::uint16_t>(p);
    {
      std::vector<Bytes> ready;
      {
        std::lock_guard<std::mutex> g(outbox_mu);
        ready.swap(outbox);
      }
      for (const auto& p : ready) engine.originate(p);
    }
    if (fetcher) {
      if (auto sets = fetcher->take()) {
        log_line(kProg, "reward cycle %llu: %zu signers (previous cycle: %zu, next: %zu)",
                 static_cast<unsigned long long>(sets->cycle), sets->current.size(), sets->previous.size(),
                 sets->next.size());
        {
          std::lock_guard<std::mutex> g(sets_mu);
          sets_current = sets->current;
          sets_previous = sets->previous;
        }
        if (catch_up) catch_up->set_reward_sets(sets->current, sets->previous);
        if (reader) reader->set_reward_sets(sets->current, sets->previous);
        reward_cycle.store(sets->cycle, std::memory_order_relaxed);
        engine.set_reward_sets(std::move(sets->current), std::move(sets->previous), sets->cycle, std::move(sets->next));
      }
    }
    if (sam) {
      if (const auto st = sam->state(); st.generation != sam_generation) {
        sam_generation = st.generation;
        std::optional<net::SamBridge> b;
        if (st.up) b = net::SamBridge{cfg->i2p_sam->addr(), cfg->i2p_sam->port(), st.id, false};
        engine.set_i2p(std::move(b), now);
      }
    }
    if (inventory)
      if (auto t = inventory->take()) engine.set_inventory(std::move(t));
    if (!engine.poll(now)) ::usleep(200);
    if (mirror && engine.stats().blocks_stored != stored_seen) {  // new blocks for the hub
      stored_seen = engine.stats().blocks_stored;
      mirror->wake();
    }
    if (now >= next_board) {
      auto pairs = engine.pairs_view(now);
      if (catch_up) {  // whom to catch up from: the partners' data_urls
        std::vector<pair::Partner> ps;
        for (const auto& pv : pairs) ps.push_back(pair::Partner{pv.key, pv.data_url});
        catch_up->set_partners(std::move(ps));
      }
      board.publish({engine.burn_view(), engine.sessions(), engine.authenticated_sessions(), engine.stats(),
                     (*table)->stats(), std::move(pairs), catch_up ? catch_up->view() : std::vector<pair::CatchUpView>{},
                     mirror ? std::optional<gaia::MirrorView>(mirror->view()) : std::nullopt});
      next_board = now + 100'000'000;
    }
    if (now >= next_neighbors) {
      board.publish_neighbors(engine.neighbors_view());
      next_neighbors = now + 1'000'000'000;
    }
    const bool stalled = engine.dp_stalled(now, 5'000'000'000ull);
    if (stalled != dp_stall_reported) {
      log_line(kProg, stalled ? "the dataplane has not beaten its heartbeat for 5 s" : "the dataplane is beating again");
      dp_stall_reported = stalled;
    }
    if (every != 0 && now >= next_stats) {
      const auto& s = engine.stats();
      log_line(kProg, "sessions %zu (authenticated %zu) handshakes %llu dials %llu failed %llu burn height %llu "
               "blocks stored %llu (errors %llu)",
               engine.sessions(), engine.authenticated_sessions(), static_cast<unsigned long long>(s.authenticated),
               static_cast<unsigned long long>(s.dials), static_cast<unsigned long long>(s.dial_failures),
               static_cast<unsigned long long>(engine.burn_view().height),
               static_cast<unsigned long long>(s.blocks_stored), static_cast<unsigned long long>(s.store_errors));
      next_stats = now + every;
    }
  }
  http_server.reset();  // no more requests: the reader and the store may go
  if (inventory) inventory->stop();
  if (reader) reader->stop();
  if (mirror) mirror->stop();
  if (auto f = (*table)->flush(); !f.ok()) log_line(kProg, "peer table %s: %s", fo.path.c_str(), f.error().reason);
  shm::cnc_beat(*lk->ctl_cnc, shm::CncState::kHalt, static_cast<std::uint32_t>(::getpid()), shm::monotonic_ns());
  log_line(kProg, "stopping");
  return 0;
}
