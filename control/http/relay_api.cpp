#include "control/http/relay_api.hpp"

#include <charconv>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "control/pair/pair_auth.hpp"
#include "control/store/routes.hpp"
#include "control/store/store_push.hpp"
#include "relay/base/hex.hpp"
#include "relay/codec/limits.hpp"
#include "relay/crypto/hash.hpp"
#include "relay/validate/validate.hpp"

namespace relay::http {

namespace {

constexpr const char* kVersion = "stacks-relay 0.3";

using Json = nlohmann::ordered_json;

// A JSON response body: one line and a newline.
std::string json_body(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n"; }

std::optional<store::Hash32> parse_id(std::string_view s) {
  if (s.size() != 64) return std::nullopt;
  return array_from_hex<32>(std::string(s));
}

// The id in "/prefix/{hex64}", or nullopt (bad id) — `ok` false when the path is not
// under prefix at all.
std::optional<store::Hash32> id_after(const std::string& path, std::string_view prefix, bool& under) {
  under = path.rfind(prefix, 0) == 0;
  if (!under) return std::nullopt;
  return parse_id(std::string_view(path).substr(prefix.size()));
}

std::string query_param(const std::string& q, std::string_view name) {
  std::size_t at = 0;
  while (at <= q.size()) {
    std::size_t end = q.find('&', at);
    if (end == std::string::npos) end = q.size();
    std::string_view kv(q.data() + at, end - at);
    if (kv.size() > name.size() && kv.substr(0, name.size()) == name && kv[name.size()] == '=')
      return std::string(kv.substr(name.size() + 1));
    at = end + 1;
  }
  return "";
}

void immutable_headers(Response& r, const store::Hash32& id) {
  r.headers.emplace_back("ETag", "\"" + to_hex(id) + "\"");
  r.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
}

bool etag_matches(const Request& q, const store::Hash32& id) {
  const std::string* inm = q.header("if-none-match");
  if (inm == nullptr) return false;
  if (*inm == "*") return true;
  const std::string tag = "\"" + to_hex(id) + "\"";
  return inm->find(tag) != std::string::npos;
}

// not_here: a 404 for a block route. A block may arrive any moment: a cache (a CDN in
// front) may keep the answer only briefly.
void not_here(Response& r, std::string text) {
  r.set_text(404, std::move(text));
  r.headers.emplace_back("Cache-Control", "public, max-age=2");
}

// read_back: a Nakamoto block the store lacks, asked of the Gaia reader; the answer comes
// later (true), or now when the reader will not look for it (false: a 404).
bool read_back(const ApiContext& c, Response& r, const store::Hash32& id) {
  auto later = r.defer();
  if (!later) return false;
  const bool queued = c.reader->fetch(id, [later, id](std::optional<Bytes> got) {
    Response resp;
    if (!got) {
      not_here(resp, "no such block: " + to_hex(id) + "\n");
    } else {
      immutable_headers(resp, id);
      resp.set_text(200, std::string(got->begin(), got->end()), "application/octet-stream");
    }
    later->finish(std::move(resp));
  });
  if (!queued) {
    later->withdraw();
    r.deferred = false;
  }
  return queued;
}

// One stored block by id, of the given kind (a Nakamoto block the store lacks may be read
// back from the Gaia bucket).
void serve_block(const ApiContext& c, const Request& q, Response& r, const store::Hash32& id, store::BlockKind kind) {
  if (c.store == nullptr) return r.set_text(404, "this relay keeps no blocks (store disabled)\n");
  auto snap = c.store->snapshot();
  if (!snap.ok()) return r.set_text(503, std::string("block store busy: ") + snap.error().reason + "\n");
  auto holder = std::make_shared<store::BlockStore::Snapshot>(std::move(*snap));
  auto b = holder->get(id);
  if (!b && kind == store::BlockKind::kNakamoto && c.reader != nullptr && read_back(c, r, id)) return;
  if (!b || b->meta.kind != kind) return not_here(r, "no such block: " + to_hex(id) + "\n");
  immutable_headers(r, id);
  r.content_type = "application/octet-stream";
  if (etag_matches(q, id)) {
    r.status = 304;
    r.no_body = true;
    return;
  }
  r.view = b->bytes;
  r.keep = std::move(holder);  // the snapshot stays open until the body is written
}

// The catch-up routes: a partner's signed request, else 401 (403: a key that is not a
// partner's). False when the request was answered here.
bool partner_request(const ApiContext& c, const Request& q, Response& r) {
  const std::int64_t now = c.wall != nullptr ? c.wall() : static_cast<std::int64_t>(::time(nullptr));
  const std::string target = q.query.empty() ? q.path : q.path + "?" + q.query;
  const auto a = pair::check_auth(q.header("authorization"), q.method, target, now, c.public_key, c.pair_keys);
  if (a == pair::AuthResult::kOk) return true;
  r.set_text(a == pair::AuthResult::kNotAPartner ? 403 : 401, std::string("pair partners only: ") + pair::describe(a) + "\n");
  if (a != pair::AuthResult::kNotAPartner) r.headers.emplace_back("WWW-Authenticate", "StacksRelay");
  return false;
}

// /relay/v1/log?from=SEQ&limit=N: the store's log (the ids in the order they were stored),
// from SEQ on, at most N (default and ceiling 1000) entries, and where it ends now.
void serve_log(const ApiContext& c, const Request& q, Response& r) {
  if (c.store == nullptr) return r.set_text(404, "this relay keeps no blocks (store disabled)\n");
  std::uint64_t from = 1, limit = 1000;
  const std::string f = query_param(q.query, "from"), l = query_param(q.query, "limit");
  const auto number = [](const std::string& t, std::uint64_t& v) {
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    return ec == std::errc{} && end == t.data() + t.size();
  };
  if ((!f.empty() && !number(f, from)) || (!l.empty() && (!number(l, limit) || limit == 0)))
    return r.set_text(400, "from and limit are positive numbers\n");
  limit = std::min<std::uint64_t>(limit, 1000);
  auto snap = c.store->snapshot();
  if (!snap.ok()) return r.set_text(503, std::string("block store busy: ") + snap.error().reason + "\n");
  Json entries = Json::array();
  for (const auto& e : snap->log_from(from, static_cast<std::size_t>(limit))) {
    Json o = Json::object();
    o["seq"] = e.seq;
    o["id"] = to_hex(e.id);
    entries.push_back(std::move(o));
  }
  Json j = Json::object();
  j["next_seq"] = c.store->totals().next_seq;
  j["entries"] = std::move(entries);
  r.set_text(200, json_body(j), "application/json");
}

// /relay/v1/push/{id}: the stored block as the push that carries it alone.
void serve_push(const ApiContext& c, Response& r, const store::Hash32& id) {
  if (c.store == nullptr) return r.set_text(404, "this relay keeps no blocks (store disabled)\n");
  auto snap = c.store->snapshot();
  if (!snap.ok()) return r.set_text(503, std::string("block store busy: ") + snap.error().reason + "\n");
  auto b = snap->get(id);
  if (!b) return not_here(r, "no such block: " + to_hex(id) + "\n");
  const Bytes push = store::push_of(b->meta, b->bytes);
  r.set_text(200, std::string(push.begin(), push.end()), "application/octet-stream");
}

// /v3/tenures/{id}[?stop=id]: from `id` back through parents of the same tenure
// (consensus hash), as far as the store has them, stopping before `stop` and before the
// body would exceed MAX_PAYLOAD_LEN.
void serve_tenure(const ApiContext& c, const Request& q, Response& r, const store::Hash32& id) {
  if (c.store == nullptr) return r.set_text(404, "this relay keeps no blocks (store disabled)\n");
  std::optional<store::Hash32> stop;
  if (std::string s = query_param(q.query, "stop"); !s.empty()) {
    stop = parse_id(s);
    if (!stop) return r.set_text(400, "stop must be a 64-hex-digit block id\n");
  }
  auto snap = c.store->snapshot();
  if (!snap.ok()) return r.set_text(503, std::string("block store busy: ") + snap.error().reason + "\n");
  auto first = snap->get(id);
  if (!first || first->meta.kind != store::BlockKind::kNakamoto) return not_here(r, "no such block: " + to_hex(id) + "\n");
  std::string body;
  const store::Hash20 tenure = first->meta.consensus_hash;
  std::optional<store::BlockStore::Snapshot::Block> b = first;
  bool whole = true;  // the walk ended where a node's would: at `stop`, the tenure's start or the size limit
  while (b && b->meta.kind == store::BlockKind::kNakamoto && b->meta.consensus_hash == tenure) {
    if (!body.empty() && body.size() + b->bytes.size() > codec::kMaxPayloadLen) break;
    body.append(reinterpret_cast<const char*>(b->bytes.data()), b->bytes.size());
    if (stop && b->meta.parent == *stop) break;
    b = snap->get(b->meta.parent);
    whole = b.has_value();  // a parent this store lacks: the answer may grow once it arrives
  }
  r.set_text(200, std::move(body), "application/octet-stream");
  // The same URL always gets these bytes once whole: a cache may keep them; a walk cut
  // short by a missing parent is kept only briefly.
  r.headers.emplace_back("Cache-Control", whole ? "public, max-age=31536000, immutable" : "public, max-age=5");
}

// /v3/tenures/info: the newest tenure the store can describe whole (store::tenure_info),
// as a node answers it: lowercase hex without 0x. Its tip block is among the store's
// newest log entries; the answer is kept per tip (working it out decodes two blocks).
struct TenureInfoCache {
  std::uint64_t next_seq = 0;  // the store's log end when it was worked out
  std::optional<store::TenureInfo> info;
  std::string why;
};

void serve_tenure_info(const ApiContext& c, Response& r, TenureInfoCache& cache) {
  if (c.store == nullptr) return r.set_text(404, "this relay keeps no blocks (store disabled)\n");
  const std::uint64_t end = c.store->totals().next_seq;
  if (end != cache.next_seq || end == 0) {
    auto snap = c.store->snapshot();
    if (!snap.ok()) return r.set_text(503, std::string("block store busy: ") + snap.error().reason + "\n");
    // The tip: the highest block among the newest log entries, or the tip answered before
    // if it is higher (old blocks read back from Gaia or caught up from a partner land in
    // the log too, and must not make an old tenure look like the ongoing one).
    auto recent = snap->log_from(end > 64 ? end - 64 : 0, 64);
    if (cache.info) recent.push_back(store::LogEntry{0, cache.info->tip_block_id});
    cache.info = store::tenure_info(*snap, recent, cache.why);
    cache.next_seq = end;
  }
  if (!cache.info) {
    not_here(r, "no tenure this relay can describe whole: " + cache.why + "\n");
    return;
  }
  const auto& t = *cache.info;
  Json j = Json::object();
  j["consensus_hash"] = to_hex(t.consensus_hash);
  j["tenure_start_block_id"] = to_hex(t.tenure_start_block_id);
  j["parent_consensus_hash"] = to_hex(t.parent_consensus_hash);
  j["parent_tenure_start_block_id"] = to_hex(t.parent_tenure_start_block_id);
  j["tip_block_id"] = to_hex(t.tip_block_id);
  j["tip_height"] = t.tip_height;
  j["reward_cycle"] = c.reward_cycle != nullptr ? c.reward_cycle->load(std::memory_order_relaxed) : std::uint64_t{0};
  r.set_text(200, json_body(j), "application/json");
  r.headers.emplace_back("Cache-Control", "no-cache");
}

// ---- 2.x microblock streams (PROTOCOL.md §8) --------------------------------------

void serve_stream(const Request& q, Response& r, const store::Hash32& etag, std::string body) {
  immutable_headers(r, etag);
  if (etag_matches(q, etag)) {
    r.status = 304;
    r.no_body = true;
    return;
  }
  r.set_text(200, std::move(body), "application/octet-stream");
}

// GET /v2/microblocks/{tail index hash}: the stream ending at that microblock.
void serve_microblocks_indexed(const ApiContext& c, const Request& q, Response& r, const store::Hash32& tail) {
  if (c.store == nullptr) return r.set_text(404, "this relay keeps no blocks (store disabled)\n");
  auto snap = c.store->snapshot();
  if (!snap.ok()) return r.set_text(503, std::string("block store busy: ") + snap.error().reason + "\n");
  auto t = snap->by_alias(tail);
  if (!t) return not_here(r, "no such microblock: " + to_hex(tail) + "\n");
  auto body = store::microblock_stream(*snap, *t);
  if (!body) return not_here(r, "microblock stream incomplete here: " + to_hex(tail) + "\n");
  serve_stream(q, r, tail, std::move(*body));
}

// GET /v2/microblocks/confirmed/{child index block hash}: the stream that anchored block
// confirms (its header's parent_microblock and sequence).
void serve_microblocks_confirmed(const ApiContext& c, const Request& q, Response& r, const store::Hash32& child) {
  if (c.store == nullptr) return r.set_text(404, "this relay keeps no blocks (store disabled)\n");
  auto snap = c.store->snapshot();
  if (!snap.ok()) return r.set_text(503, std::string("block store busy: ") + snap.error().reason + "\n");
  auto b = snap->get(child);
  if (!b || b->meta.kind != store::BlockKind::kStacks) return not_here(r, "no such block: " + to_hex(child) + "\n");
  const auto ct = store::confirmed_tail(b->bytes);
  if (!ct) return r.set_text(500, "stored block too short\n");
  const store::Hash32 tail = ct->microblock;
  const std::uint16_t seq = ct->seq;
  if (tail == store::Hash32{}) return not_here(r, "that block confirms no microblocks\n");
  auto t = snap->get(tail);
  if (!t || t->meta.kind != store::BlockKind::kMicroblock || t->meta.height != seq)
    return not_here(r, "the confirmed microblocks are not here: " + to_hex(tail) + "\n");
  auto body = store::microblock_stream(*snap, *t);
  if (!body) return not_here(r, "microblock stream incomplete here: " + to_hex(tail) + "\n");
  serve_stream(q, r, child, std::move(*body));
}

// GET /v2/microblocks/unconfirmed/{parent index block hash}/{start seq}: the stream
// building on that block, from start_seq up, concatenated (it may still grow: not cached).
void serve_microblocks_unconfirmed(const ApiContext& c, Response& r, const store::Hash32& anchor, std::uint16_t start) {
  if (c.store == nullptr) return r.set_text(404, "this relay keeps no blocks (store disabled)\n");
  auto snap = c.store->snapshot();
  if (!snap.ok()) return r.set_text(503, std::string("block store busy: ") + snap.error().reason + "\n");
  std::string body;
  for (std::uint32_t seq = start; seq <= 0xffff; ++seq) {
    auto m = snap->microblock_at(anchor, static_cast<std::uint16_t>(seq));
    if (!m || body.size() + m->bytes.size() > codec::kMaxPayloadLen) break;
    body.append(reinterpret_cast<const char*>(m->bytes.data()), m->bytes.size());
  }
  if (body.empty()) return r.set_text(404, "no microblocks from sequence " + std::to_string(start) + " on " + to_hex(anchor) + "\n");
  r.set_text(200, std::move(body), "application/octet-stream");
  r.headers.emplace_back("Cache-Control", "no-cache");
}

void serve_info(const ApiContext& c, Response& r) {
  const auto s = c.board->read();
  Json j = Json::object();
  j["peer_version"] = std::uint64_t{c.peer_version};
  j["burn_block_height"] = s.view.height;
  j["burn_block_hash"] = to_hex(s.view.hash);
  j["stable_burn_block_height"] = s.view.stable_height;
  j["stable_burn_block_hash"] = to_hex(s.view.stable_hash);
  j["server_version"] = kVersion;
  j["network_id"] = std::uint64_t{c.network_id};
  j["p2p_port"] = std::uint64_t{c.p2p_port};
  j["node_public_key"] = to_hex(c.public_key);
  j["node_public_key_hash"] = to_hex(crypto::hash160(ByteSpan(c.public_key.data(), c.public_key.size())));
  j["sessions"] = std::uint64_t{s.sessions};
  j["authenticated_sessions"] = std::uint64_t{s.authenticated};
  r.set_text(200, json_body(j), "application/json");
}

// GET /v2/neighbors: a node's layout (PROTOCOL.md §8), from what the control loop last
// published.
void serve_neighbors(const ApiContext& c, Response& r) {
  const ctl::NeighborsView v = c.board->neighbors();
  auto list = [](const std::vector<ctl::NeighborEntry>& es) {
    Json a = Json::array();
    for (const auto& e : es) {
      Json o = Json::object();
      o["network_id"] = std::uint64_t{e.network_id};
      o["peer_version"] = std::uint64_t{e.peer_version};
      o["ip"] = net::addr_to_string(e.addr);
      o["port"] = std::uint64_t{e.port};
      o["public_key_hash"] = to_hex(e.pkh);
      o["authenticated"] = e.authenticated;
      if (e.age_s >= 0) o["age"] = static_cast<std::uint64_t>(e.age_s);
      a.push_back(std::move(o));
    }
    return a;
  };
  Json j = Json::object();
  j["bootstrap"] = list(v.bootstrap);
  j["sample"] = list(v.sample);
  j["inbound"] = list(v.inbound);
  j["outbound"] = list(v.outbound);
  r.set_text(200, json_body(j), "application/json");
}

void serve_status(const ApiContext& c, Response& r) {
  const auto s = c.board->read();
  Json j = Json::object();
  j["server_version"] = kVersion;
  j["network_id"] = std::uint64_t{c.network_id};
  Json view = Json::object();
  view["height"] = s.view.height;
  view["hash"] = to_hex(s.view.hash);
  view["stable_height"] = s.view.stable_height;
  view["stable_hash"] = to_hex(s.view.stable_hash);
  j["burn_view"] = std::move(view);
  Json sessions = Json::object();
  sessions["live"] = std::uint64_t{s.sessions};
  sessions["authenticated"] = std::uint64_t{s.authenticated};
  j["sessions"] = std::move(sessions);
  if (c.store != nullptr) {
    const auto t = c.store->totals();
    Json st = Json::object();
    st["blocks"] = t.blocks;
    st["bytes"] = t.bytes;
    st["evicted"] = t.evicted;
    j["block_store"] = std::move(st);
  }
  if (!s.pairs.empty()) {
    Json pairs = Json::array();
    for (const auto& pv : s.pairs) {
      Json e = Json::object();
      e["public_key"] = to_hex(pv.key);
      e["up"] = pv.up;
      e["direction"] = !pv.up ? "" : pv.outbound ? "outbound" : "inbound";
      e["path"] = pv.path;
      e["paths"] = std::uint64_t{pv.paths};
      e["for_s"] = pv.since_ns / 1'000'000'000ull;  // up (or down) this long
      e["rtt_us"] = pv.rtt_ns / 1000;
      e["sessions"] = pv.sessions;
      e["lost"] = pv.lost;
      e["ping_timeouts"] = pv.ping_timeouts;
      e["dial_failures"] = pv.dial_failures;
      pairs.push_back(std::move(e));
    }
    j["pair"] = std::move(pairs);
  }
  if (!s.catch_up.empty()) {  // the store catch-up from each partner: where it is in its log
    Json cu = Json::array();
    for (const auto& v : s.catch_up) {
      Json e = Json::object();
      e["public_key"] = to_hex(v.key);
      e["url"] = v.url;
      e["caught_up"] = v.caught_up();
      e["cursor"] = v.cursor;
      e["partner_next_seq"] = v.partner_next;
      e["behind"] = v.partner_next > v.cursor ? v.partner_next - v.cursor : 0;
      e["fetched"] = v.fetched;
      e["stored"] = v.stored;
      e["already_had"] = v.already_had;
      e["refused"] = v.refused;
      e["unverifiable"] = v.unverifiable;
      e["failures"] = v.failures;
      e["last_error"] = v.last_error;
      cu.push_back(std::move(e));
    }
    j["catch_up"] = std::move(cu);
  }
  if (c.inventory != nullptr) {  // what GetNakamotoInv is answered with
    const auto v = c.inventory->view();
    Json e = Json::object();
    e["state"] = v.state;
    e["sortitions"] = v.sortitions;
    e["canonical_tenures"] = std::uint64_t{v.canonical};
    e["claimed_tenures"] = std::uint64_t{v.claimed};
    e["stopped"] = v.stopped;
    e["requests"] = v.requests;
    e["failures"] = v.failures;
    j["inventory"] = std::move(e);
  }
  if (s.gaia) {  // the Gaia mirror: the hub, the outbox, what became of the files
    const auto& g = *s.gaia;
    Json e = Json::object();
    e["hub_url"] = g.hub_url;
    e["bucket"] = g.bucket;
    e["read_url"] = g.read_url;
    e["state"] = g.state;
    e["outbox_files"] = g.outbox_files;
    e["outbox_bytes"] = g.outbox_bytes;
    e["outbox_full"] = g.outbox_full;
    e["written"] = g.written;
    e["written_bytes"] = g.written_bytes;
    e["already_there"] = g.already;
    e["refused"] = g.refused;
    e["retries"] = g.retries;
    e["missed"] = g.missed;
    e["skipped"] = g.skipped;
    e["outbox_errors"] = g.outbox_errors;
    e["last_error"] = g.last_error;
    if (c.reader != nullptr) {  // blocks the store lacked, read back from the bucket
      const auto rv = c.reader->view();
      Json rb = Json::object();
      rb["asked"] = rv.asked;
      rb["served"] = rv.served;
      rb["not_found"] = rv.not_found + rv.remembered;
      rb["refused"] = rv.refused;
      rb["unverifiable"] = rv.unverifiable;
      rb["failures"] = rv.failures;
      rb["busy"] = rv.busy;
      rb["last_error"] = rv.last_error;
      e["read_back"] = std::move(rb);
    }
    j["gaia"] = std::move(e);
  }
  Json control = Json::object();
#define RELAY_X(name, help) control[#name] = s.stats.name;
  RELAY_CTL_COUNTERS(RELAY_X)
#undef RELAY_X
  j["control"] = std::move(control);
  {
    const ctl::NeighborsView n = c.board->neighbors();
    Json fr = Json::object();
    fr["peers"] = std::uint64_t{n.table_size};
    fr["bans_in_force"] = std::uint64_t{n.bans_in_force};
    fr["outbound"] = std::uint64_t{n.outbound.size()};
    fr["inbound"] = std::uint64_t{n.inbound.size()};
#define RELAY_X(name, help) fr[#name] = s.frontier.name;
    RELAY_FRONTIER_COUNTERS(RELAY_X)
#undef RELAY_X
    j["frontier"] = std::move(fr);
  }
  if (c.dp != nullptr) {
    Json dp = Json::object();
#define RELAY_X(name, help) dp[#name] = c.dp->name.load(std::memory_order_relaxed);
    RELAY_DP_COUNTERS(RELAY_X)
#undef RELAY_X
    dp["heap_allocated"] = c.dp->heap_allocated.load(std::memory_order_relaxed);
    dp["rx_heap_bytes"] = c.dp->rx_heap_bytes.load(std::memory_order_relaxed);
    dp["mptcp_sessions"] = c.dp->mptcp_sessions.load(std::memory_order_relaxed);
    dp["mptcp_subflows"] = c.dp->mptcp_subflows.load(std::memory_order_relaxed);
    const bool dpdk = c.dp->backend.load(std::memory_order_relaxed) == static_cast<std::uint64_t>(link::Backend::kDpdk);
    dp["backend"] = dpdk ? "dpdk" : "io_uring";
    if (dpdk) {
      Json port = Json::object();
#define RELAY_X(name, kind, help) port[#name] = c.dp->port.name.load(std::memory_order_relaxed);
      RELAY_PORT_COUNTERS(RELAY_X)
#undef RELAY_X
      dp["port"] = std::move(port);
    }
    Json lat = Json::object();
    lat["p50"] = link::latency_quantile_us(*c.dp, 0.5);
    lat["p99"] = link::latency_quantile_us(*c.dp, 0.99);
    lat["p999"] = link::latency_quantile_us(*c.dp, 0.999);
    dp["relay_latency_us"] = std::move(lat);
    j["dataplane"] = std::move(dp);
  }
  Json rings = Json::object();
  struct RingRef {
    const char* name;
    const void* mem;
    std::size_t sz;
  };
  for (const RingRef& ring_ref : {RingRef{"dp_to_ctl", c.ring_dp_to_ctl, c.ring_dp_to_ctl_sz},
                                  RingRef{"ctl_to_dp", c.ring_ctl_to_dp, c.ring_ctl_to_dp_sz}}) {
    const char* name = ring_ref.name;
    if (auto o = shm::ring_occupancy(ring_ref.mem, ring_ref.sz)) {
      Json ring = Json::object();
      ring["fragments"] = o->frags;
      ring["depth"] = o->depth;
      ring["bytes"] = o->bytes;
      ring["arena_bytes"] = o->arena_sz;
      rings[name] = std::move(ring);
    }
  }
  j["rings"] = std::move(rings);
  r.set_text(200, json_body(j), "application/json");
}

void metric(std::string& out, const char* name, const char* type, const char* help, std::uint64_t v) {
  out += "# HELP stacks_relay_";
  out += name;
  out += " ";
  out += help;
  out += "\n# TYPE stacks_relay_";
  out += name;
  out += " ";
  out += type;
  out += "\nstacks_relay_";
  out += name;
  out += " " + std::to_string(v) + "\n";
}

void serve_metrics(const ApiContext& c, Response& r) {
  std::string out;
  out.reserve(8192);
  const auto s = c.board->read();
  if (c.dp != nullptr) {
#define RELAY_X(name, help) metric(out, "dp_" #name "_total", "counter", help, c.dp->name.load(std::memory_order_relaxed));
    RELAY_DP_COUNTERS(RELAY_X)
#undef RELAY_X
    metric(out, "dp_sessions", "gauge", "sessions the dataplane holds", c.dp->sessions_live.load());
    metric(out, "dp_sessions_authenticated", "gauge", "authenticated sessions", c.dp->sessions_auth_live.load());
    metric(out, "dp_mptcp_sessions", "gauge", "sessions running MPTCP", c.dp->mptcp_sessions.load());
    metric(out, "dp_mptcp_subflows", "gauge", "TCP subflows of the sessions running MPTCP (sampled each second)",
           c.dp->mptcp_subflows.load());
    metric(out, "dp_backend", "gauge", "the dataplane's backend: 0 io_uring, 1 DPDK", c.dp->backend.load());
    if (c.dp->backend.load() == static_cast<std::uint64_t>(link::Backend::kDpdk)) {
#define RELAY_X(name, kind, help)                                                                           \
  metric(out, link::CounterKind::kind == link::CounterKind::kGauge ? "dp_port_" #name : "dp_port_" #name "_total", \
         link::CounterKind::kind == link::CounterKind::kGauge ? "gauge" : "counter", help, c.dp->port.name.load());
      RELAY_PORT_COUNTERS(RELAY_X)
#undef RELAY_X
    }
    metric(out, "dp_heap_allocated_bytes", "counter", "heap bytes the dataplane thread allocated", c.dp->heap_allocated.load());
    metric(out, "dp_rx_heap_bytes", "gauge", "heap bytes of message bodies being received (within the receive budget)",
           c.dp->rx_heap_bytes.load());
    // Relay latency: last byte of a push reaped → its copies queued to every recipient.
    {
      const char* h = "stacks_relay_dp_relay_latency_seconds";
      out += std::string("# HELP ") + h +
             " from the receive completing a push to its copies queued to every recipient\n# TYPE " + h + " histogram\n";
      std::uint64_t cum = 0;
      char le[32];
      for (std::size_t b = 0; b < link::kLatencyBuckets; ++b) {
        cum += c.dp->relay_latency_buckets[b].load(std::memory_order_relaxed);
        if (b + 1 < link::kLatencyBuckets)
          std::snprintf(le, sizeof le, "%g", static_cast<double>(link::latency_bucket_le_us(b)) * 1e-6);
        else
          std::snprintf(le, sizeof le, "+Inf");
        out += std::string(h) + "_bucket{le=\"" + le + "\"} " + std::to_string(cum) + "\n";
      }
      char sum[40];
      std::snprintf(sum, sizeof sum, "%.9f", static_cast<double>(c.dp->relay_latency_ns_sum.load(std::memory_order_relaxed)) * 1e-9);
      out += std::string(h) + "_sum " + sum + "\n" + h + "_count " + std::to_string(cum) + "\n";
    }
    // Traffic by message type and direction (types never seen are left out).
    const struct {
      const char* name;
      const char* help;
      const std::atomic<std::uint64_t>* in;
      const std::atomic<std::uint64_t>* out;
    } families[] = {{"dp_messages_total", "whole messages by type and direction", c.dp->msgs_in_by_type, c.dp->msgs_out_by_type},
                    {"dp_message_bytes_total", "message bytes by type and direction", c.dp->bytes_in_by_type,
                     c.dp->bytes_out_by_type}};
    for (const auto& f : families) {
      out += std::string("# HELP stacks_relay_") + f.name + " " + f.help + "\n# TYPE stacks_relay_" + f.name + " counter\n";
      for (std::size_t t = 0; t < link::kMsgTypes; ++t) {
        const char* type = codec::msg_name(static_cast<std::uint8_t>(t));
        for (int dir = 0; dir < 2; ++dir) {
          const std::uint64_t v = (dir == 0 ? f.in : f.out)[t].load(std::memory_order_relaxed);
          if (v == 0 || *type == '\0') continue;
          out += std::string("stacks_relay_") + f.name + "{direction=\"" + (dir == 0 ? "in" : "out") + "\",type=\"" + type +
                 "\"} " + std::to_string(v) + "\n";
        }
      }
    }
  }
  // The shared-memory rings between the processes: how much is waiting in each.
  {
    const struct {
      const char* name;
      const void* mem;
      std::size_t sz;
    } rings[] = {{"dp_to_ctl", c.ring_dp_to_ctl, c.ring_dp_to_ctl_sz}, {"ctl_to_dp", c.ring_ctl_to_dp, c.ring_ctl_to_dp_sz}};
    const struct {
      const char* name;
      const char* help;
      std::uint64_t shm::RingOccupancy::*field;
    } fams[] = {{"ring_fragments", "fragments waiting in the ring", &shm::RingOccupancy::frags},
                {"ring_depth_fragments", "the ring's descriptor capacity", &shm::RingOccupancy::depth},
                {"ring_bytes", "payload bytes waiting in the ring", &shm::RingOccupancy::bytes},
                {"ring_arena_bytes", "the ring's payload capacity", &shm::RingOccupancy::arena_sz}};
    for (const auto& f : fams) {
      bool head = false;
      for (const auto& [name, mem, sz] : rings) {
        auto o = shm::ring_occupancy(mem, sz);
        if (!o) continue;
        if (!head) {
          out += std::string("# HELP stacks_relay_") + f.name + " " + f.help + "\n# TYPE stacks_relay_" + f.name + " gauge\n";
          head = true;
        }
        out += std::string("stacks_relay_") + f.name + "{ring=\"" + name + "\"} " + std::to_string((*o).*f.field) + "\n";
      }
    }
  }
#define RELAY_X(name, help) metric(out, "ctl_" #name "_total", "counter", help, s.stats.name);
  RELAY_CTL_COUNTERS(RELAY_X)
#undef RELAY_X
  metric(out, "burn_block_height", "gauge", "the burn block height our preambles carry", s.view.height);
  if (!s.pairs.empty()) {
    std::uint64_t up = 0;
    for (const auto& pv : s.pairs) up += pv.up;
    metric(out, "pair_partners", "gauge", "pair partners configured", s.pairs.size());
    metric(out, "pair_partners_up", "gauge", "pair partners with a session up", up);
  }
  if (!s.catch_up.empty()) {
    std::uint64_t behind = 0, stored = 0, refused = 0, failures = 0;
    for (const auto& v : s.catch_up) {
      behind += v.partner_next > v.cursor ? v.partner_next - v.cursor : 0;
      stored += v.stored;
      refused += v.refused;
      failures += v.failures;
    }
    metric(out, "catch_up_behind", "gauge", "entries of the partners' store logs not read yet", behind);
    metric(out, "catch_up_stored_total", "counter", "blocks stored from a partner's log", stored);
    metric(out, "catch_up_refused_total", "counter", "blocks from a partner that failed the checks (refused)", refused);
    metric(out, "catch_up_failures_total", "counter", "catch-up requests that failed", failures);
  }
  if (c.inventory != nullptr) {
    const auto v = c.inventory->view();
    metric(out, "inv_canonical_tenures", "gauge", "canonical tenures in the inventory's window", v.canonical);
    metric(out, "inv_claimed_tenures", "gauge", "tenures the inventory claims (bits set)", v.claimed);
    metric(out, "inv_rpc_failures_total", "counter", "trusted-node RPC requests for sortitions that failed", v.failures);
  }
  if (s.gaia) {
    const auto& g = *s.gaia;
    metric(out, "gaia_hub_up", "gauge", "1 when the Gaia hub took the last write", g.state == "up" ? 1 : 0);
    metric(out, "gaia_outbox_files", "gauge", "files waiting in the Gaia outbox", g.outbox_files);
    metric(out, "gaia_outbox_bytes", "gauge", "bytes waiting in the Gaia outbox", g.outbox_bytes);
    metric(out, "gaia_written_total", "counter", "files written into the Gaia hub", g.written);
    metric(out, "gaia_written_bytes_total", "counter", "bytes written into the Gaia hub", g.written_bytes);
    metric(out, "gaia_already_there_total", "counter", "files the hub already had (412)", g.already);
    metric(out, "gaia_refused_total", "counter", "files the hub refused for good (4xx), not retried", g.refused);
    metric(out, "gaia_retries_total", "counter", "back-offs after a failed write or hub_info", g.retries);
    metric(out, "gaia_missed_total", "counter", "blocks evicted from the store before the outbox took them", g.missed);
    metric(out, "gaia_skipped_total", "counter", "microblocks with no file (their stream is not whole here)", g.skipped);
    metric(out, "gaia_outbox_errors_total", "counter", "outbox reads or writes that failed (disk full)", g.outbox_errors);
    if (c.reader != nullptr) {
      const auto rv = c.reader->view();
      metric(out, "gaia_read_back_served_total", "counter", "blocks the store lacked, read back from the bucket and served", rv.served);
      metric(out, "gaia_read_back_not_found_total", "counter", "misses the bucket did not have either", rv.not_found + rv.remembered);
      metric(out, "gaia_read_back_refused_total", "counter", "blocks read back that failed the checks", rv.refused);
      metric(out, "gaia_read_back_busy_total", "counter", "misses answered 404 at once: too many waiting", rv.busy);
    }
  }
  {
    const ctl::NeighborsView n = c.board->neighbors();
    metric(out, "frontier_peers", "gauge", "peers in the table", n.table_size);
    metric(out, "frontier_bans_in_force", "gauge", "addresses banned now", n.bans_in_force);
    metric(out, "frontier_outbound", "gauge", "outbound sessions", n.outbound.size());
    metric(out, "frontier_inbound", "gauge", "inbound sessions", n.inbound.size());
#define RELAY_X(name, help) metric(out, "frontier_" #name "_total", "counter", help, s.frontier.name);
    RELAY_FRONTIER_COUNTERS(RELAY_X)
#undef RELAY_X
  }
  if (c.store != nullptr) {
    const auto t = c.store->totals();
    metric(out, "store_blocks", "gauge", "blocks in the block store", t.blocks);
    metric(out, "store_bytes", "gauge", "block bytes in the block store", t.bytes);
    metric(out, "store_evicted_total", "counter", "blocks evicted from the store", t.evicted);
  }
  if (c.server != nullptr) {
    metric(out, "http_requests_total", "counter", "HTTP requests", c.server->requests.load());
    metric(out, "http_client_errors_total", "counter", "HTTP 4xx responses", c.server->client_errors.load());
    metric(out, "http_server_errors_total", "counter", "HTTP 5xx responses", c.server->server_errors.load());
    metric(out, "http_timeouts_total", "counter", "HTTP connections closed for slowness or idleness", c.server->timeouts.load());
    metric(out, "http_refused_total", "counter", "HTTP connections refused (too many)", c.server->refused.load());
    metric(out, "http_refused_per_ip_total", "counter", "HTTP connections refused: max_clients_per_ip from one address",
           c.server->refused_per_ip.load());
    metric(out, "http_budget_waits_total", "counter", "HTTP requests that waited for response memory (response_budget)",
           c.server->budget_waits.load());
    metric(out, "http_response_bytes", "gauge", "HTTP response bodies built in memory and not yet written (within response_budget)",
           c.server->response_bytes.load());
  }
  r.set_text(200, std::move(out), "text/plain; version=0.0.4");
}

// A mempool-style rejection, as a node words it (PROTOCOL.md §8).
void reject_tx(Response& r, const char* reason, const std::string& message, const std::string& txid) {
  Json j = Json::object();
  j["error"] = "transaction rejected";
  j["reason"] = reason;
  Json data = Json::object();
  data["message"] = message;
  j["reason_data"] = std::move(data);
  if (!txid.empty()) j["txid"] = txid;
  r.set_text(400, json_body(j), "application/json");
}

// The hex of "tx" in a flat JSON object ({"tx":"…","attachment":…}), or nullopt.
std::optional<Bytes> json_tx_hex(const Bytes& body) {
  const std::string s(body.begin(), body.end());
  std::size_t k = s.find("\"tx\"");
  if (k == std::string::npos) return std::nullopt;
  std::size_t c = s.find(':', k + 4);
  if (c == std::string::npos) return std::nullopt;
  std::size_t q = s.find_first_not_of(" \t\r\n", c + 1);
  if (q == std::string::npos || s[q] != '"') return std::nullopt;
  std::size_t e = s.find('"', q + 1);
  if (e == std::string::npos) return std::nullopt;
  std::string hex = s.substr(q + 1, e - q - 1);
  if (hex.rfind("0x", 0) == 0) hex = hex.substr(2);
  return from_hex(hex);
}

bool content_type_is(const Request& q, std::string_view type) {
  const std::string* ct = q.header("content-type");
  return ct != nullptr && ct->compare(0, type.size(), type) == 0;
}

void post_transaction(const ApiContext& c, const Request& q, Response& r) {
  Bytes raw;
  if (content_type_is(q, "application/json")) {
    auto hex = json_tx_hex(q.body);
    if (!hex) return reject_tx(r, "Deserialization", "expected a JSON object with \"tx\": hex", "");
    raw = std::move(*hex);
  } else if (content_type_is(q, "application/octet-stream")) {
    raw = q.body;
  } else {
    return r.set_text(400, "Content-Type must be application/octet-stream or application/json\n");
  }
  auto tx = codec::decode_exact<codec::StacksTransaction>(raw, codec::read_transaction);
  if (!tx.ok()) return reject_tx(r, "Deserialization", tx.error().reason, "");
  const std::string txid = to_hex(tx->txid);
  const bool mainnet_net = (c.network_id & 0x80000000u) == 0;
  if (tx->mainnet() != mainnet_net || tx->chain_id != c.network_id)
    return reject_tx(r, "BadTransactionVersion", "transaction is for another network", txid);
  auto auth = validate::verify_transaction(*tx, raw);
  if (!auth.ok) return reject_tx(r, "SignatureValidation", auth.reason, txid);
  Bytes payload(1 + raw.size());
  payload[0] = static_cast<std::uint8_t>(codec::MsgId::kTransaction);
  std::copy(raw.begin(), raw.end(), payload.begin() + 1);
  if (c.originate) c.originate(std::move(payload));
  r.set_text(200, "\"" + txid + "\"\n", "application/json");
}

void post_block(const ApiContext& c, const Request& q, Response& r) {
  if (!content_type_is(q, "application/octet-stream")) return r.set_text(400, "Content-Type must be application/octet-stream\n");
  auto b = codec::decode_exact<codec::NakamotoBlock>(q.body, codec::read_nakamoto_block);
  if (!b.ok()) return r.set_text(400, std::string("not a Nakamoto block: ") + b.error().reason + "\n");
  validate::SignerCheck signers;
  signers.reason = "no reward set to check signer signatures";
  if (c.check_signers) signers = c.check_signers(*b);
  Json j = Json::object();
  j["stacks_block_id"] = to_hex(b->block_id);
  j["accepted"] = signers.ok;
  if (!signers.ok) j["reason"] = signers.reason;
  if (signers.ok && c.originate) {
    Bytes payload(5 + q.body.size(), 0);  // NakamotoBlocks holding this one block
    payload[0] = static_cast<std::uint8_t>(codec::MsgId::kNakamotoBlocks);
    payload[4] = 1;
    std::copy(q.body.begin(), q.body.end(), payload.begin() + 5);
    c.originate(std::move(payload));
  }
  r.set_text(signers.ok ? 200 : 400, json_body(j), "application/json");
}

}  // namespace

Handler make_relay_api(const ApiContext* ctx) {
  auto tenure_cache = std::make_shared<TenureInfoCache>();  // (the handler runs on the server's one thread)
  return [ctx, tenure_cache](const Request& q, Response& r) {
    const ApiContext& c = *ctx;
    const bool get = q.method == "GET" || q.method == "HEAD";
    bool under = false;
    if (q.path == "/v3/tenures/info" || q.path == "/v3/tenures/info/") {
      if (!get) return r.set_text(405, "use GET or HEAD\n");
      return serve_tenure_info(c, r, *tenure_cache);
    }
    if (q.path == "/v3/blocks/upload" || q.path == "/v3/blocks/upload/") {
      if (q.method != "POST") return r.set_text(405, "use POST\n");
      return post_block(c, q, r);
    }
    if (auto id = id_after(q.path, "/v3/blocks/", under); under) {
      if (!get) return r.set_text(405, "use GET or HEAD\n");
      if (!id) return r.set_text(400, "a block id is 64 hex digits\n");
      return serve_block(c, q, r, *id, store::BlockKind::kNakamoto);
    }
    if (auto id = id_after(q.path, "/v3/tenures/", under); under) {
      if (!get) return r.set_text(405, "use GET or HEAD\n");
      if (!id) return r.set_text(400, "a block id is 64 hex digits\n");
      return serve_tenure(c, q, r, *id);
    }
    if (auto id = id_after(q.path, "/v2/blocks/", under); under) {
      if (!get) return r.set_text(405, "use GET or HEAD\n");
      if (!id) return r.set_text(400, "an index block hash is 64 hex digits\n");
      return serve_block(c, q, r, *id, store::BlockKind::kStacks);
    }
    if (q.path.rfind("/v2/microblocks/", 0) == 0) {
      if (!get) return r.set_text(405, "use GET or HEAD\n");
      if (auto id = id_after(q.path, "/v2/microblocks/confirmed/", under); under) {
        if (!id) return r.set_text(400, "an index block hash is 64 hex digits\n");
        return serve_microblocks_confirmed(c, q, r, *id);
      }
      if (q.path.rfind("/v2/microblocks/unconfirmed/", 0) == 0) {
        const std::string_view rest = std::string_view(q.path).substr(std::strlen("/v2/microblocks/unconfirmed/"));
        const std::size_t slash = rest.find('/');
        auto anchor = slash == std::string_view::npos ? std::nullopt : parse_id(rest.substr(0, slash));
        const std::string_view seq = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        unsigned v = 0;
        bool ok = anchor.has_value() && !seq.empty() && seq.size() <= 5;
        for (char ch : seq) ok = ok && ch >= '0' && ch <= '9' && (v = v * 10 + static_cast<unsigned>(ch - '0')) <= 0xffff;
        if (!ok) return r.set_text(400, "expected /v2/microblocks/unconfirmed/{64 hex digits}/{sequence 0..65535}\n");
        return serve_microblocks_unconfirmed(c, r, *anchor, static_cast<std::uint16_t>(v));
      }
      auto id = id_after(q.path, "/v2/microblocks/", under);
      if (!id) return r.set_text(400, "a microblock index hash is 64 hex digits\n");
      return serve_microblocks_indexed(c, q, r, *id);
    }
    if (q.path.rfind("/relay/v1/", 0) == 0 && !c.pair_keys.empty()) {
      if (!get) return r.set_text(405, "use GET\n");
      if (!partner_request(c, q, r)) return;
      if (q.path == "/relay/v1/log") return serve_log(c, q, r);
      if (auto id = id_after(q.path, "/relay/v1/push/", under); under) {
        if (!id) return r.set_text(400, "a block id is 64 hex digits\n");
        return serve_push(c, r, *id);
      }
      return r.set_text(404, "no such route\n");
    }
    if (q.path == "/v2/transactions") {
      if (q.method != "POST") return r.set_text(405, "use POST\n");
      return post_transaction(c, q, r);
    }
    if (q.path == "/v2/info" || q.path == "/v2/neighbors" || q.path == "/status" || q.path == "/metrics") {
      if (!get) return r.set_text(405, "use GET or HEAD\n");
      if (q.path == "/v2/info") return serve_info(c, r);
      if (q.path == "/v2/neighbors") return serve_neighbors(c, r);
      if (q.path == "/status") return serve_status(c, r);
      return serve_metrics(c, r);
    }
    r.set_text(404, "not found: " + q.path + "\n");
  };
}

}  // namespace relay::http
