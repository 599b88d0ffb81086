#include "bench/suite/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "bench/suite/format.hpp"

namespace relay::bench {

namespace {

using Json = nlohmann::ordered_json;

// real: a measurement rounded to six significant digits, as result.json has always held
// them (printf's %.6g; NaN and infinities as null). Every number parses to the same double
// as the %.6g text did; most are spelled the same too. nlohmann spells some differently:
// from 10^6 up to 10^15 in full ("1181430.0" for "1.18143e+06"), and now and then a
// round-trip form longer than six digits ("0.5494560000000001" for "0.549456"; its
// Grisu2 is not always shortest). Whole numbers below 10^6 stay integers ("42"); -0 is 0.
Json real(double v) {
  if (!std::isfinite(v)) return nullptr;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  const double r = std::strtod(buf, nullptr);
  if (std::fabs(r) < 1e6 && r == std::trunc(r)) return static_cast<std::int64_t>(r);
  return r;
}

Json dist_json(const Dist& d, bool with_cdf = false) {
  Json o = {{"n", std::uint64_t{d.n}}, {"p50_us", real(d.p50)}, {"p99_us", real(d.p99)},
            {"p999_us", real(d.p999)}, {"max_us", real(d.max)}, {"mean_us", real(d.mean)}};
  if (with_cdf) {
    Json cdf = Json::array();
    for (const auto& [x, y] : d.cdf) cdf.push_back(Json::array({real(x), real(y)}));
    o["cdf"] = std::move(cdf);
  }
  return o;
}

// array_of: a JSON array holding one(x) for each x of `items`.
template <typename T, typename F>
Json array_of(const std::vector<T>& items, F&& one) {
  Json a = Json::array();
  for (const auto& x : items) a.push_back(one(x));
  return a;
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

std::string num(double v, const char* f = "%.0f") { return std::isfinite(v) ? fmt(f, v) : "–"; }
std::string cpu_list(const std::vector<unsigned>& cpus) {
  std::string s = "[";
  for (std::size_t i = 0; i < cpus.size(); ++i) s += (i != 0 ? ", " : "") + std::to_string(cpus[i]);
  return s + "]";
}

std::string bytes_str(std::size_t b) {
  if (b >= (1u << 20)) return num(static_cast<double>(b) / (1 << 20), "%.0f MiB");
  if (b >= 1024) return num(static_cast<double>(b) / 1024, "%.0f KiB");
  return std::to_string(b) + " B";
}

// ---- SVG line charts -------------------------------------------------------------

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> pts;
  bool dashed = false;
};

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string chart(const std::string& title, const std::string& xlab, const std::string& ylab, std::vector<Series> series,
                  bool logx, bool logy) {
  constexpr double W = 640, H = 360, L = 70, R = 20, T = 34, B = 52;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (auto& s : series) {
    std::erase_if(s.pts, [&](const auto& p) { return (logx && p.first <= 0) || (logy && p.second <= 0); });
    for (const auto& [x, y] : s.pts) {
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  std::string o = "<figure><svg xmlns='http://www.w3.org/2000/svg' width='" + num(W) + "' height='" + num(H) +
                  "' viewBox='0 0 " + num(W) + " " + num(H) + "' font-family='sans-serif' font-size='11'>";
  o += "<text x='" + num(W / 2) + "' y='18' text-anchor='middle' font-size='13' font-weight='bold'>" + esc(title) + "</text>";
  if (!std::isfinite(x0)) return o + "<text x='" + num(W / 2) + "' y='" + num(H / 2) + "' text-anchor='middle'>no data</text></svg></figure>";
  auto tx = [&](double v) { return logx ? std::log10(v) : v; };
  auto ty = [&](double v) { return logy ? std::log10(v) : v; };
  double ax0 = tx(x0), ax1 = tx(x1), ay0 = ty(y0), ay1 = ty(y1);
  if (logx) ax0 = std::floor(ax0), ax1 = std::ceil(ax1);
  if (logy) ay0 = std::floor(ay0), ay1 = std::ceil(ay1);
  if (!logy) ay0 = std::min(0.0, ay0);
  if (ax1 <= ax0) ax1 = ax0 + 1;
  if (ay1 <= ay0) ay1 = ay0 + 1;
  auto px = [&](double v) { return L + (tx(v) - ax0) / (ax1 - ax0) * (W - L - R); };
  auto py = [&](double v) { return H - B - (ty(v) - ay0) / (ay1 - ay0) * (H - T - B); };
  o += "<rect x='" + num(L) + "' y='" + num(T) + "' width='" + num(W - L - R) + "' height='" + num(H - T - B) +
       "' fill='none' stroke='#999'/>";
  // Ticks: decades on log axes, five steps on linear ones.
  auto ticks = [](double a0, double a1, bool lg) {
    std::vector<double> t;
    if (lg) {
      for (double e = a0; e <= a1 + 1e-9; e += 1) t.push_back(std::pow(10, e));
    } else {
      for (int i = 0; i <= 5; ++i) t.push_back(a0 + (a1 - a0) * i / 5);
    }
    return t;
  };
  auto label = [](double v) {
    if (v >= 1e6) return num(v / 1e6, "%gM");
    if (v >= 1e3) return num(v / 1e3, "%gk");
    return num(v, v < 10 ? "%.2g" : "%.0f");
  };
  for (double v : ticks(ax0, ax1, logx)) {
    const double x = logx ? px(v) : L + (v - ax0) / (ax1 - ax0) * (W - L - R);
    o += "<line x1='" + num(x) + "' y1='" + num(H - B) + "' x2='" + num(x) + "' y2='" + num(T) + "' stroke='#eee'/>";
    o += "<text x='" + num(x) + "' y='" + num(H - B + 14) + "' text-anchor='middle'>" + label(v) + "</text>";
  }
  for (double v : ticks(ay0, ay1, logy)) {
    const double y = logy ? py(v) : H - B - (v - ay0) / (ay1 - ay0) * (H - T - B);
    o += "<line x1='" + num(L) + "' y1='" + num(y) + "' x2='" + num(W - R) + "' y2='" + num(y) + "' stroke='#eee'/>";
    o += "<text x='" + num(L - 6) + "' y='" + num(y + 4) + "' text-anchor='end'>" + label(v) + "</text>";
  }
  o += "<text x='" + num(L + (W - L - R) / 2) + "' y='" + num(H - 14) + "' text-anchor='middle'>" + esc(xlab) + "</text>";
  o += "<text transform='translate(16," + num(T + (H - T - B) / 2) + ") rotate(-90)' text-anchor='middle'>" + esc(ylab) + "</text>";
  for (std::size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    if (s.pts.empty()) continue;
    const char* col = kColors[i % std::size(kColors)];
    std::string pts;
    for (const auto& [x, y] : s.pts) pts += num(px(x), "%.1f") + "," + num(py(y), "%.1f") + " ";
    o += std::string("<polyline fill='none' stroke='") + col + "' stroke-width='2'" +
         (s.dashed ? " stroke-dasharray='6 4'" : "") + " points='" + pts + "'/>";
    if (s.pts.size() < 30)
      for (const auto& [x, y] : s.pts)
        o += std::string("<circle r='3' fill='") + col + "' cx='" + num(px(x), "%.1f") + "' cy='" + num(py(y), "%.1f") + "'/>";
    const double ly = T + 14 + 14 * static_cast<double>(i);
    o += std::string("<line x1='") + num(L + 10) + "' y1='" + num(ly - 4) + "' x2='" + num(L + 30) + "' y2='" + num(ly - 4) +
         "' stroke='" + col + "' stroke-width='2'" + (s.dashed ? " stroke-dasharray='6 4'" : "") + "/>";
    o += "<text x='" + num(L + 36) + "' y='" + num(ly) + "'>" + esc(s.name) + "</text>";
  }
  return o + "</svg></figure>";
}

}  // namespace

std::string to_json(const SuiteResult& r) {
  Json j = {{"date", r.date}, {"machine", r.machine}, {"cores", std::uint64_t{r.cores}}, {"kernel", r.kernel},
            {"commit", r.commit}, {"smoke", r.smoke}, {"busy_poll", r.busy_poll}, {"seconds", real(r.seconds)},
            {"relay_cpus", r.relay_cpus}};
  j["baselines"] = {{"sha512_256_mb_s", real(r.base.sha512_256_mb_s)}, {"recover_us", real(r.base.recover_us)},
                    {"sign_us", real(r.base.sign_us)}, {"iperf3_gbps", real(r.base.iperf3_gbps)},
                    {"iperf3_note", r.base.iperf3_note}};
  j["targets"] = array_of(r.targets, [](const Target& t) -> Json {
    return {{"name", t.name}, {"measured", t.measured}, {"limit", t.limit},
            {"pass", t.pass < 0 ? Json(nullptr) : Json(t.pass == 1)}, {"judged_here", t.pass != Target::kNotJudgedHere},
            {"note", t.note}};
  });
  j["tx_flood"] = array_of(r.tx, [](const TxStep& t) -> Json {
    return {{"topology", t.topology}, {"k", std::uint64_t{t.k}}, {"target_rate", real(t.target_rate)},
            {"sent_rate", real(t.sent_rate)}, {"delivered_per_s", real(t.delivered_per_s)}, {"loss", real(t.loss)},
            {"gbit_s", real(t.gbps)}, {"relay_cpu_us_per_msg", real(t.relay_cpu_us_per_msg)}, {"relay_rss", t.relay_rss},
            {"relay_histogram_p50_us", t.relay_hist_p50_us}, {"relay_histogram_p99_us", t.relay_hist_p99_us},
            {"relay_drops", t.relay_drops}, {"hop", dist_json(t.hop, true)}};
  });
  j["block_bursts"] = array_of(r.blocks, [](const BlockStep& b) -> Json {
    return {{"topology", b.topology}, {"k", std::uint64_t{b.k}}, {"bytes", std::uint64_t{b.bytes}},
            {"link_mbps", std::uint64_t{b.link_mbps}}, {"streamed", b.streamed},
            {"dataplane_cpu_ms_per_block", real(b.dp_cpu_ms_per_block)}, {"dataplane_user_share", real(b.dp_user_share)},
            {"relay_histogram_p50_us", b.relay_latency_p50_us}, {"hop", dist_json(b.hop)},
            {"first_byte_out", dist_json(b.first_out)}, {"last_peer", dist_json(b.last_peer)}};
  });
  j["mixed"] = array_of(r.mixed, [](const Mixed& m) -> Json {
    return {{"k", std::uint64_t{m.k}}, {"block_bytes", std::uint64_t{m.block_bytes}}, {"tx_rate", real(m.tx_rate)},
            {"tx_loss", real(m.tx_loss)}, {"block_last_peer_idle", dist_json(m.block_idle)},
            {"block_last_peer_loaded", dist_json(m.block_loaded)}, {"tx_hop_loaded", dist_json(m.tx_loaded)}};
  });
  j["fanout"] = array_of(r.fanout, [](const FanoutStep& f) -> Json {
    return {{"k", std::uint64_t{f.k}}, {"relay_cpu_us_per_msg", real(f.cpu_us_per_msg)},
            {"relay_path_us_per_msg", real(f.user_us_per_msg)}, {"relay_path_cpu_us_per_msg", real(f.path_cpu_us_per_msg)},
            {"relay_path_helper_wait_us_per_msg", real(f.helper_wait_us_per_msg)},
            {"relay_path_fanout_cpu_ns_per_copy", real(f.fanout_cpu_ns_per_copy)},
            {"floor_beside_us", real(f.floor_beside_us)}, {"floor_beside_sets", std::uint64_t{f.floor_beside_sets}},
            {"relay_cpu_us_per_copy", real(f.cpu_us_per_copy)}, {"dataplane_kernel_us_per_copy", real(f.kernel_us_per_copy)},
            {"tx_hop", dist_json(f.tx_hop)}, {"block_first_byte_out", dist_json(f.block_first_out)},
            {"block_last_peer", dist_json(f.block_last_peer)}, {"block_last_peer_direct", dist_json(f.block_last_peer_direct)},
            {"block_last_peer_reference", dist_json(f.block_last_peer_reference)}};
  });
  j["http"] = array_of(r.http, [](const HttpServe& h) -> Json {
    return {{"server", h.server}, {"clients", std::uint64_t{h.conns}}, {"bytes", std::uint64_t{h.bytes}},
            {"requests_per_s", real(h.req_per_s)}, {"gbit_s", real(h.gbps)}, {"errors", h.errors},
            {"latency", dist_json(h.latency)}};
  });
  j["http_note"] = r.http_note;
  j["backends"] = array_of(r.backends, [](const BackendRun& b) -> Json {
    return {{"backend", b.backend}, {"k", std::uint64_t{b.k}}, {"top_rate", real(b.top_rate)},
            {"relayed_per_s", real(b.relayed_per_s)}, {"dataplane_cores", real(b.dp_cores)},
            {"relayed_per_s_per_core", real(b.msgs_per_core)}, {"veth_rx_dropped", b.veth_rx_dropped},
            {"busy_cores", real(b.busy_cores)}, {"relayed_per_s_per_busy_core", real(b.msgs_per_busy_core)}, {"relay_path_us", real(b.relay_path_us)},
            {"transport_us_per_copy", real(b.transport_us_per_copy)}, {"ramp_end", b.ramp_end}, {"tx_hop", dist_json(b.tx_hop)},
            {"block_bytes", std::uint64_t{b.block_bytes}}, {"block_first_byte_out", dist_json(b.block_first_out)},
            {"block_last_peer", dist_json(b.block_last_peer)},
            {"copied_per_byte", b.copied_per_byte < 0 ? Json(nullptr) : real(b.copied_per_byte)}, {"retransmits", b.retransmits}};
  });
  j["backends_note"] = r.backends_note;
  j["privacy"] = array_of(r.privacy, [](const PrivacyPath& p) -> Json {
    return {{"lab", p.lab}, {"path", p.path}, {"k", std::uint64_t{p.tx.k}}, {"tx_rate", real(p.tx.target_rate)},
            {"tx_loss", real(p.tx.loss)}, {"tx_hop", dist_json(p.tx.hop, true)}, {"block_bytes", std::uint64_t{p.block.bytes}},
            {"block_first_byte_out", dist_json(p.block.first_out)}, {"block_last_peer", dist_json(p.block.last_peer)}};
  });
  j["privacy_note"] = r.privacy_note;
  j["uplink"] = array_of(r.uplink, [](const UplinkStep& u) -> Json {
    return {{"at_once", std::uint64_t{u.at_once}}, {"k", std::uint64_t{u.k}}, {"bytes", std::uint64_t{u.bytes}},
            {"uplink_mbps", std::uint64_t{u.uplink_mbps}}, {"median_peer", dist_json(u.median_peer)},
            {"last_peer", dist_json(u.last_peer)}, {"waited", u.waited}};
  });
  j["uplink_note"] = r.uplink_note;
  j["failover"] = array_of(r.failover, [](const Failover& f) -> Json {
    return {{"k", std::uint64_t{f.k}}, {"tx_rate", real(f.tx_rate)}, {"seconds", real(f.seconds)},
            {"kill_at_s", real(f.kill_at_s)}, {"restart_at_s", real(f.restart_at_s)}, {"sent", f.sent},
            {"expected_deliveries", f.expected}, {"delivered", f.delivered}, {"longest_gap_ms_before", real(f.gap_ms_before)},
            {"longest_gap_ms_outage", real(f.gap_ms_outage)}, {"send_interval_ms", real(f.gap_ms_send)},
            {"blocks_pushed", f.blocks_pushed}, {"blocks_missed", f.blocks_missed}, {"restart_ready_s", real(f.restart_ready_s)},
            {"catch_up_s", real(f.catch_up_s)}, {"catch_up_stored", f.catch_up_stored}, {"note", f.note}};
  });
  j["failover_note"] = r.failover_note;
  j["gaia"] = array_of(r.gaia, [](const GaiaRun& g) -> Json {
    return {{"file_bytes", std::uint64_t{g.file_bytes}}, {"files", std::uint64_t{g.files}}, {"seconds", real(g.seconds)},
            {"files_per_s", real(g.files_per_s)}, {"mb_per_s", real(g.mb_per_s)}, {"retries", g.retries}};
  });
  j["soak"] = array_of(r.soak, [](const SoakResult& s) -> Json {
    const SoakParams& p = s.params;
    return {{"seconds", real(p.seconds)}, {"interval_s", real(p.interval_s)}, {"honest_peers", std::uint64_t{p.honest_peers}},
            {"tx_rate", real(p.tx_rate)}, {"block_bytes", std::uint64_t{p.block_bytes}},
            {"claimants", std::uint64_t{p.claimants}}, {"junk_peers", std::uint64_t{p.junk_peers}},
            {"junk_rate", real(p.junk_rate)}, {"junk_chunk_bytes", std::uint64_t{p.junk_chunk_bytes}}, {"pipeliners", std::uint64_t{p.pipeliners}},
            {"slow_clients", std::uint64_t{p.slow_clients}}, {"junk_peers_dropped", s.junk_peers_dropped},
            {"note", s.note},
            {"samples", array_of(s.samples, [](const SoakSample& x) -> Json {
               return {{"t_s", real(x.t_s)}, {"dataplane_rss", x.dp_rss}, {"rss", x.rss}, {"dataplane_cpu", real(x.dp_cpu)},
                       {"cpu", real(x.cpu)}, {"pushes", std::uint64_t{x.pushes}}, {"delivered", real(x.delivered)},
                       {"hop", dist_json(x.hop)}, {"claimants_dropped", x.claimants_dropped},
                       {"junk_sent", x.junk_sent}, {"junk_dropped", x.junk_dropped}, {"http_cut", x.http_cut}};
             })}};
  });
  j["log"] = r.log;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string to_html(const SuiteResult& r) {
  std::string h = "<!doctype html><html><head><meta charset='utf-8'><title>stacks-relay benchmark " + esc(r.date) +
                  "</title><style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
                  "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                  "th{background:#f4f4f4}td.l,th.l{text-align:left}.pass{background:#d8f5d8}.fail{background:#f8d7d7}"
                  ".na{background:#eee}figure{margin:1em 0}</style></head><body>";
  h += "<h1>stacks-relay benchmark</h1><p>" + esc(r.date) + (r.smoke ? " — <b>smoke run</b> (reduced; not for comparison)" : "") +
       "<br>" + esc(r.machine) + ", " + std::to_string(r.cores) + " cores, " + esc(r.kernel) + ", commit " + esc(r.commit) +
       ", " + num(r.seconds, "%.0f") + " s" + (r.busy_poll ? ", relay with <code>p2p.busy_poll</code>" : "") +
       (r.relay_cpus.empty() ? std::string(", relay threads not pinned") : ", relay <code>p2p.cpus = " + cpu_list(r.relay_cpus) + "</code>") +
       ". Relay and simulated nodes share this machine; numbers in one table come from one run.</p>";
  h += "<h2>Targets</h2><table><tr><th class=l>target</th><th>measured</th><th>limit</th><th>result</th><th class=l>note</th></tr>";
  for (const auto& t : r.targets)
    h += "<tr class='" + std::string(t.pass == 1 ? "pass" : t.pass == 0 ? "fail" : "na") + "'><td class=l>" + esc(t.name) +
         "</td><td>" + esc(t.measured.empty() ? "–" : t.measured) + "</td><td>" + esc(t.limit) + "</td><td>" +
         (t.pass == 1 ? "pass" : t.pass == 0 ? "FAIL" : t.pass == Target::kNotJudgedHere ? "not judged here" : "not measured") +
         "</td><td class=l>" + esc(t.note) + "</td></tr>";
  h += "</table>";
  h += "<h2>Baselines (same run)</h2><table><tr><th class=l>what</th><th>value</th></tr>";
  h += "<tr><td class=l>SHA-512/256 (OpenSSL, 1 MiB)</td><td>" + num(r.base.sha512_256_mb_s) + " MB/s</td></tr>";
  h += "<tr><td class=l>secp256k1 sign / recover</td><td>" + num(r.base.sign_us, "%.1f") + " / " + num(r.base.recover_us, "%.1f") + " µs</td></tr>";
  h += "<tr><td class=l>loopback TCP (iperf3)</td><td>" +
       (r.base.iperf3_gbps >= 0 ? num(r.base.iperf3_gbps, "%.1f") + " Gbit/s" : esc(r.base.iperf3_note)) + "</td></tr></table>";

  auto dist_cells = [](const Dist& d) {
    return "<td>" + num(d.p50) + "</td><td>" + num(d.p99) + "</td><td>" + num(d.p999) + "</td>";
  };
  if (!r.tx.empty()) {
    h += "<h2>Transaction flood</h2><p>" + std::to_string(r.tx.front().k) +
         " peers; one origin pushes 300-byte contract calls at each offered rate; hop = origin's last byte out (through a "
         "relay: the kernel's transmit timestamp; direct: the write's completion) → each recipient's last byte read. <i>direct</i>: the origin writes to every peer itself (no relay); <i>reference</i>: "
         "the relay running stacks-core's algorithm (store-and-forward, hash and sign per recipient; bench/reference/).</p>";
    h += "<table><tr><th class=l>topology</th><th>offered/s</th><th>sent/s</th><th>delivered/s</th><th>loss</th><th>Gbit/s</th>"
         "<th>hop p50 µs</th><th>p99</th><th>p99.9</th><th>relay's own p50/p99 µs</th><th>relay CPU µs/msg</th><th>relay drops</th></tr>";
    for (const auto& t : r.tx)
      h += "<tr><td class=l>" + t.topology + "</td><td>" + num(t.target_rate) + "</td><td>" + num(t.sent_rate) + "</td><td>" +
           num(t.delivered_per_s) + "</td><td>" + num(t.loss * 100, "%.2f%%") + "</td><td>" + num(t.gbps, "%.3f") + "</td>" +
           dist_cells(t.hop) + "<td>" +
           (t.topology != "direct" ? "≤ " + std::to_string(t.relay_hist_p50_us) + " / ≤ " + std::to_string(t.relay_hist_p99_us) : "–") +
           "</td><td>" + (t.relay_cpu_us_per_msg >= 0 ? num(t.relay_cpu_us_per_msg, "%.1f") : "–") + "</td><td>" +
           (t.topology != "direct" ? std::to_string(t.relay_drops) : "–") + "</td></tr>";
    h += "</table>";
    std::vector<Series> cdf, lat, thr;
    for (const char* topo : {"relay", "reference", "direct"}) {
      Series p50{std::string(topo) + " p50", {}}, p99{std::string(topo) + " p99", {}, true}, del{topo, {}};
      for (const auto& t : r.tx) {
        if (t.topology != topo) continue;
        if (cdf.size() < 2 && &t == &*std::find_if(r.tx.begin(), r.tx.end(), [&](const TxStep& x) { return x.topology == topo; }))
          cdf.push_back(Series{std::string(topo) + " at " + num(t.target_rate) + "/s", t.hop.cdf});
        p50.pts.emplace_back(t.target_rate, t.hop.p50);
        p99.pts.emplace_back(t.target_rate, t.hop.p99);
        del.pts.emplace_back(t.target_rate, t.delivered_per_s / static_cast<double>(t.k - 1));
      }
      lat.push_back(p50);
      lat.push_back(p99);
      thr.push_back(del);
    }
    h += chart("Transaction hop latency, CDF (lowest rate)", "µs", "fraction of deliveries", cdf, true, false);
    h += chart("Transaction hop latency vs offered rate", "offered tx/s", "µs", lat, true, true);
    h += chart("Throughput: deliveries per peer per second vs offered rate", "offered tx/s", "tx/s reaching each peer", thr, true, true);
  }
  if (!r.blocks.empty()) {
    h += "<h2>Block bursts</h2><p>Nakamoto blocks (signed by " + std::string("the simulated reward set") +
         ") pushed one at a time; first byte out = origin's last byte out (through a relay: the kernel's transmit "
         "timestamp) → the earliest first byte at any peer; last peer = the origin starting to write → the latest last byte. Relay histogram = the dataplane's own receive-reaped → queued p50.</p>";
    h += "<table><tr><th class=l>topology</th><th>K</th><th>size</th><th>first byte out p50 µs</th><th>last peer p50 µs</th>"
         "<th>p99</th><th>hop p50 µs</th><th>relay histogram p50 µs</th><th>dataplane CPU ms/block</th></tr>";
    for (const auto& b : r.blocks)
      h += "<tr><td class=l>" + b.topology + "</td><td>" + std::to_string(b.k) + "</td><td>" + bytes_str(b.bytes) + "</td><td>" +
           num(b.first_out.p50) + "</td><td>" + num(b.last_peer.p50) + "</td><td>" + num(b.last_peer.p99) + "</td><td>" +
           num(b.hop.p50) + "</td><td>" + (b.topology != "direct" ? "≤ " + std::to_string(b.relay_latency_p50_us) : "–") + "</td><td>" +
           (b.dp_cpu_ms_per_block >= 0 ? num(b.dp_cpu_ms_per_block, "%.2f") : "–") + "</td></tr>";
    h += "</table>";
    std::vector<Series> s;
    for (const char* topo : {"relay", "reference", "direct"}) {
      Series last{std::string(topo) + " last peer", {}}, first{std::string(topo) + " first byte out", {}, true};
      for (const auto& b : r.blocks)
        if (b.topology == topo) {
          last.pts.emplace_back(static_cast<double>(b.bytes), b.last_peer.p50);
          first.pts.emplace_back(static_cast<double>(b.bytes), b.first_out.p50);
        }
      s.push_back(last);
      s.push_back(first);
    }
    h += chart("Block delivery vs size (p50)", "block bytes", "µs", s, true, true);
    // The link scenario: how long after the origin's last byte the first copy goes out,
    // as the origin's link gets faster (the relay keeps up until it does not).
    Series sweep{"relay, K = 16: first byte out after the origin's last byte left", {}};
    for (const auto& b : r.blocks)
      if (b.link_mbps != 0 && b.k == 16 && b.bytes == (2u << 20) && b.topology.rfind("relay (", 0) == 0 && b.first_out.n)
        sweep.pts.emplace_back(static_cast<double>(b.link_mbps), b.first_out.p50);
    std::sort(sweep.pts.begin(), sweep.pts.end());
    if (sweep.pts.size() >= 2)
      h += chart("2 MiB block over the origin's link: first byte out vs link rate (p50)", "origin link, Mbit/s", "µs", {sweep},
                 true, true);
  }
  for (const auto& m : r.mixed) {
    h += "<h2>Mixed traffic</h2><p>" + bytes_str(m.block_bytes) + " blocks to the last of " + std::to_string(m.k - 1) +
         " peers, alone and among " + num(m.tx_rate) + " tx/s (blocks must not wait behind transactions).</p>";
    h += "<table><tr><th class=l>what</th><th>p50 µs</th><th>p99</th><th>p99.9</th></tr><tr><td class=l>block, idle</td>" +
         dist_cells(m.block_idle) + "</tr><tr><td class=l>block, among transactions</td>" + dist_cells(m.block_loaded) +
         "</tr><tr><td class=l>transaction hop (loss " + num(m.tx_loss * 100, "%.2f%%") + ")</td>" + dist_cells(m.tx_loaded) +
         "</tr></table>";
  }
  if (!r.fanout.empty()) {
    h += "<h2>Fan-out</h2><table><tr><th>K</th><th>tx hop p50 µs</th><th>p99</th><th>block first out p50 µs</th>"
         "<th>block last peer p50 µs</th><th>direct</th><th>reference</th><th>relay CPU µs/msg</th><th>relay path µs/msg</th>"
         "<th>relay path CPU µs/msg</th><th>of it, copies ns/copy</th><th>floor beside µs/msg</th><th>µs/copy</th>"
         "<th>kernel µs/copy</th></tr>";
    for (const auto& f : r.fanout)
      h += "<tr><td>" + std::to_string(f.k) + "</td><td>" + num(f.tx_hop.p50) + "</td><td>" + num(f.tx_hop.p99) + "</td><td>" +
           num(f.block_first_out.p50) + "</td><td>" + num(f.block_last_peer.p50) + "</td><td>" +
           num(f.block_last_peer_direct.p50) + "</td><td>" + num(f.block_last_peer_reference.p50) + "</td><td>" +
           num(f.cpu_us_per_msg, "%.1f") + "</td><td>" + num(f.user_us_per_msg, "%.1f") + "</td><td>" +
           num(f.path_cpu_us_per_msg, "%.1f") + "</td><td>" + num(f.fanout_cpu_ns_per_copy, "%.0f") + "</td><td>" +
           num(f.floor_beside_us, "%.1f") + "</td><td>" + num(f.cpu_us_per_copy, "%.2f") + "</td><td>" +
           num(f.kernel_us_per_copy, "%.2f") + "</td></tr>";
    h += "</table>";
    Series tx{"tx hop p50 (relay)", {}}, bl{"block last peer p50 (relay)", {}}, bd{"block last peer p50 (direct)", {}, true},
        br{"block last peer p50 (reference algorithm)", {}, true};
    for (const auto& f : r.fanout) {
      const double k = static_cast<double>(f.k);
      tx.pts.emplace_back(k, f.tx_hop.p50);
      bl.pts.emplace_back(k, f.block_last_peer.p50);
      bd.pts.emplace_back(k, f.block_last_peer_direct.p50);
      br.pts.emplace_back(k, f.block_last_peer_reference.p50);
    }
    h += chart("Latency vs number of peers", "K (peers)", "µs", {tx, bl, bd, br}, true, true);
  }
  if (!r.http.empty()) {
    h += "<h2>HTTP block serving</h2><p>A freshly relayed " + bytes_str(r.http.front().bytes) +
         " block fetched over and over by keep-alive clients (<code>GET /v3/blocks/{id}</code>): from the relay's endpoint "
         "(one thread, bytes served from the LMDB map), and the same bytes from a file by nginx (one worker, sendfile). " +
         esc(r.http_note) + "</p><table><tr><th class=l>server</th><th>clients</th><th>req/s</th><th>Gbit/s</th>"
         "<th>p50 µs</th><th>p99</th><th>p99.9</th><th>errors</th></tr>";
    for (const auto& x : r.http)
      h += "<tr><td class=l>" + x.server + "</td><td>" + std::to_string(x.conns) + "</td><td>" + num(x.req_per_s) + "</td><td>" +
           num(x.gbps, "%.2f") + "</td>" + dist_cells(x.latency) + "<td>" + std::to_string(x.errors) + "</td></tr>";
    h += "</table>";
    std::vector<Series> s;
    for (const char* srv : {"relay", "nginx"}) {
      Series g{std::string(srv) + " Gbit/s", {}};
      for (const auto& x : r.http)
        if (x.server == srv) g.pts.emplace_back(static_cast<double>(x.conns), x.gbps);
      s.push_back(g);
    }
    h += chart("HTTP block serving throughput vs clients", "clients", "Gbit/s", s, true, false);
  }
  if (!r.backends.empty() || !r.backends_note.empty()) {
    h += "<h2>Dataplane backends side by side (veth)</h2><p>The relay in one namespace, K nodes on the kernel's TCP in "
         "another, one veth between (offloads off on both ends, the same wire for every row). <i>io_uring</i>: the kernel's "
         "TCP; <i>dpdk</i>: lwIP on a DPDK virtual device on the relay's end of the veth. The ramp offers transactions at "
         "rising rates until one is not delivered (loss over 1 %) or the nodes cannot send it; the columns after it are at "
         "the highest rate delivered. <i>Per core</i>: relayed pushes per second ÷ the dataplane process's CPU seconds per "
         "second (a polling DPDK loop counts its whole core). <i>Busy cores</i>: that CPU less the time the DPDK poll loop "
         "spent in passes that found nothing to do (its idle_poll_ns counter; io_uring sleeps instead, so there it is all "
         "of it). <i>Per copy</i>: the dataplane's busy CPU beyond the relay path (checks, one signature, queueing), per "
         "copy sent. <i>Copied/byte</i>: bytes the dataplane wrote into frames per "
         "byte of frames sent (the device then copies once more into the kernel: a veth is no NIC). On io_uring each byte "
         "sent is copied once by the kernel (not counted here). " + esc(r.backends_note) +
         "</p><table><tr><th class=l>backend</th><th>K</th><th>top tx/s</th><th>relayed/s</th><th>dataplane cores</th>"
         "<th>relayed/s per core</th><th>× io_uring</th><th>busy cores</th><th>relayed/s per busy core</th><th>relay path µs</th><th>µs per copy</th><th>tx hop p50 µs</th>"
         "<th>p99</th><th>block</th><th>first out p50 µs</th><th>last peer p50 µs</th><th>copied/byte</th>"
         "<th>retransmits</th><th>veth drops</th><th class=l>ramp ended</th></tr>";
    const BackendRun* uring = nullptr;
    for (const auto& b : r.backends)
      if (b.backend == "io_uring") uring = &b;
    for (const auto& b : r.backends)
      h += "<tr><td class=l>" + esc(b.backend) + "</td><td>" + std::to_string(b.k) + "</td><td>" + num(b.top_rate) + "</td><td>" +
           num(b.relayed_per_s) + "</td><td>" + num(b.dp_cores, "%.2f") + "</td><td>" + num(b.msgs_per_core) + "</td><td>" +
           (uring != nullptr && uring != &b && uring->msgs_per_core > 0 ? num(b.msgs_per_core / uring->msgs_per_core, "%.2f×")
                                                                          : std::string("–")) +
           "</td><td>" + num(b.busy_cores, "%.2f") + "</td><td>" + num(b.msgs_per_busy_core) +
           "</td><td>" + num(b.relay_path_us, "%.1f") + "</td><td>" + num(b.transport_us_per_copy, "%.2f") + "</td><td>" +
           num(b.tx_hop.p50) + "</td><td>" + num(b.tx_hop.p99) + "</td><td>" + bytes_str(b.block_bytes) + "</td><td>" +
           num(b.block_first_out.p50) + "</td><td>" + num(b.block_last_peer.p50) + "</td><td>" +
           (b.copied_per_byte >= 0 ? num(b.copied_per_byte, "%.2f") : std::string("–")) + "</td><td>" +
           (b.copied_per_byte >= 0 ? std::to_string(b.retransmits) : std::string("–")) + "</td><td>" +
           std::to_string(b.veth_rx_dropped) + "</td><td class=l>" + esc(b.ramp_end) +
           "</td></tr>";
    h += "</table>";
  }
  if (!r.privacy.empty() || !r.privacy_note.empty()) {
    h += "<h2>Privacy transports: what Tor and WireGuard cost</h2><p>The same relay and nodes, reached directly and "
         "through the private path, one after the other. <i>tor</i>: a private Tor network in one namespace (3 directory "
         "authorities, 5 relays); the relay publishes its onion service through its Tor's control port, each node reaches "
         "it through its own Tor's SOCKS port on a circuit of its own. All on loopback: this is Tor's own cost (cells, "
         "six relays' work each way, flow control), not the round trips across the Internet a real Tor path adds. "
         "<i>wireguard</i>: the relay and the nodes in two namespaces joined by a veth, through a userspace WireGuard "
         "tunnel over it (wireguard-go; a kernel's WireGuard is cheaper). A transaction crosses the private path twice "
         "(into the relay and out to each peer). " + esc(r.privacy_note) +
         "</p><table><tr><th class=l>lab</th><th class=l>path</th><th>K</th><th>tx/s</th><th>tx hop p50 µs</th><th>p99</th>"
         "<th>× direct</th><th>block</th><th>first byte out p50 µs</th><th>last peer p50 µs</th><th>p99</th><th>× direct</th>"
         "<th>complete</th></tr>";
    const auto times = [](double v, double base) { return base > 0 && v > 0 ? num(v / base, "%.1f×") : std::string("–"); };
    for (const auto& p : r.privacy) {
      const PrivacyPath* direct = nullptr;
      for (const auto& q : r.privacy)
        if (q.lab == p.lab && q.path == "direct") direct = &q;
      h += "<tr><td class=l>" + esc(p.lab) + "</td><td class=l>" + esc(p.path) + "</td><td>" + std::to_string(p.tx.k) +
           "</td><td>" + num(p.tx.target_rate) + "</td><td>" + num(p.tx.hop.p50) + "</td><td>" + num(p.tx.hop.p99) +
           "</td><td>" + (direct != nullptr && direct != &p ? times(p.tx.hop.p50, direct->tx.hop.p50) : "–") + "</td><td>" +
           bytes_str(p.block.bytes) + "</td><td>" + num(p.block.first_out.p50) + "</td><td>" + num(p.block.last_peer.p50) +
           "</td><td>" + num(p.block.last_peer.p99) + "</td><td>" +
           (direct != nullptr && direct != &p ? times(p.block.last_peer.p50, direct->block.last_peer.p50) : "–") + "</td><td>" +
           std::to_string(p.block.last_peer.n) + "</td></tr>";
    }
    h += "</table>";
  }
  if (!r.uplink.empty() || !r.uplink_note.empty()) {
    h += "<h2>The relay's own uplink as the bottleneck: a few peers at a time</h2><p>The relay's side of a veth shaped "
         "with tbf; one node pushes blocks, the relay sends them to every other node at once, then "
         "(<code>p2p.large_sends_at_once</code>) to a few at a time: pair partners and trusted peers first, then the "
         "shortest round trip. One at a time is the sequential schedule, the floor for the median peer. Times from the "
         "origin's first byte. " + esc(r.uplink_note) +
         "</p><table><tr><th>at a time</th><th>uplink</th><th>K</th><th>block</th><th>median peer p50 µs</th><th>p99</th>"
         "<th>last peer p50 µs</th><th>p99</th><th>complete</th><th>copies that waited</th></tr>";
    for (const auto& u : r.uplink)
      h += "<tr><td>" + (u.at_once == 0 ? std::string("all") : std::to_string(u.at_once)) + "</td><td>" +
           std::to_string(u.uplink_mbps) + " Mbit/s</td><td>" + std::to_string(u.k) + "</td><td>" + bytes_str(u.bytes) +
           "</td><td>" + num(u.median_peer.p50) + "</td><td>" + num(u.median_peer.p99) + "</td><td>" + num(u.last_peer.p50) +
           "</td><td>" + num(u.last_peer.p99) + "</td><td>" + std::to_string(u.last_peer.n) + "</td><td>" +
           std::to_string(u.waited) + "</td></tr>";
    h += "</table>";
  }
  if (!r.failover.empty() || !r.failover_note.empty()) {
    h += "<h2>Failover: a relay pair losing one relay</h2><p>Two relays of a pair in two namespaces (home and cloud) "
         "joined by a veth, K nodes in home each with a session to both (as nodes configured with both relays), pushing "
         "transactions in turn at a steady rate and a 64 KiB block every 0.5 s. A third of the way in, cloud is killed "
         "(-9, every process); two thirds in, it is started again and the nodes dial it again. <i>Longest gap</i>: the "
         "longest time a node went without a new transaction, before the kill and from the kill until 2 s after the "
         "restart; the sender's own interval is the floor. <i>Catch-up</i>: from the restart until cloud's store holds "
         "every block pushed (those it missed fetched from home's store log). " + esc(r.failover_note) +
         "</p><table><tr><th>K</th><th>tx/s</th><th>delivered</th><th>of</th><th>send interval ms</th><th>longest gap before "
         "ms</th><th>around the outage ms</th><th>blocks missed</th><th>listening again s</th><th>caught up s</th>"
         "<th>fetched from partner</th></tr>";
    for (const auto& f : r.failover)
      h += "<tr><td>" + std::to_string(f.k) + "</td><td>" + num(f.tx_rate) + "</td><td>" + std::to_string(f.delivered) +
           "</td><td>" + std::to_string(f.expected) + "</td><td>" + num(f.gap_ms_send, "%.1f") + "</td><td>" +
           num(f.gap_ms_before, "%.1f") + "</td><td>" + num(f.gap_ms_outage, "%.1f") + "</td><td>" +
           std::to_string(f.blocks_missed) + "</td><td>" + num(f.restart_ready_s, "%.2f") + "</td><td>" +
           (f.catch_up_s >= 0 ? num(f.catch_up_s, "%.2f") : std::string("not within 20 s")) + "</td><td>" +
           std::to_string(f.catch_up_stored) + "</td></tr>";
    h += "</table>";
  }
  if (!r.gaia.empty()) {
    h += "<h2>Gaia mirror: the outbox's throughput</h2><p>A block store of N blocks of one size mirrored from an empty "
         "outbox into the Gaia hub stand-in on loopback (each file: copied into the durable outbox, POSTed with a v1 token "
         "and If-None-Match, removed once the hub has it), mirror, stand-in and store in one process on this machine's "
         "cores. A real hub behind its storage driver is slower; this is the relay's own ceiling.</p><table><tr><th>file "
         "bytes</th><th>files</th><th>s</th><th>files/s</th><th>MB/s</th><th>retries</th></tr>";
    for (const auto& g : r.gaia)
      h += "<tr><td>" + bytes_str(g.file_bytes) + "</td><td>" + std::to_string(g.files) + "</td><td>" + num(g.seconds, "%.2f") +
           "</td><td>" + num(g.files_per_s) + "</td><td>" + num(g.mb_per_s, "%.1f") + "</td><td>" + std::to_string(g.retries) +
           "</td></tr>";
    h += "</table>";
  }
  for (const auto& s : r.soak) {
    const SoakParams& p = s.params;
    h += "<h2>Soak</h2><p>" + num(p.tx_rate) + " tx/s and a " + bytes_str(p.block_bytes) + " block every 2 s from one of " +
         std::to_string(p.honest_peers) + " honest peers, while " + std::to_string(p.claimants) +
         " connections claim 16 MB messages before any handshake, " + std::to_string(p.junk_peers) +
         " authenticated peers push invalid transactions and junk chunks (" + num(p.junk_rate) + "/s each; new identities "
         "whenever the relay has dropped them: " + std::to_string(s.junk_peers_dropped) + " dropped), " +
         std::to_string(p.pipeliners) + " HTTP clients pipeline tenure requests and never read, and " +
         std::to_string(p.slow_clients) + " never finish their headers. " + esc(s.note) +
         "</p><table><tr><th>t s</th><th>dataplane RSS MiB</th><th>both MiB</th><th>dataplane CPU</th><th>both</th>"
         "<th>honest pushes</th><th>delivered</th><th>hop p50 µs</th><th>p99</th><th>p99.9</th><th>claimants dropped</th>"
         "<th>junk sent</th><th>junk dropped</th><th>HTTP cut</th></tr>";
    Series rss{"both processes, MiB", {}}, drss{"dataplane, MiB", {}}, p99{"honest hop p99, ms", {}};
    for (const auto& x : s.samples) {
      h += "<tr><td>" + num(x.t_s) + "</td><td>" + num(static_cast<double>(x.dp_rss) / (1 << 20)) + "</td><td>" +
           num(static_cast<double>(x.rss) / (1 << 20)) + "</td><td>" + num(x.dp_cpu, "%.2f") + "</td><td>" +
           num(x.cpu, "%.2f") + "</td><td>" + std::to_string(x.pushes) + "</td><td>" + num(x.delivered * 100, "%.2f%%") +
           "</td>" + dist_cells(x.hop) + "<td>" + std::to_string(x.claimants_dropped) + "</td><td>" +
           std::to_string(x.junk_sent) + "</td><td>" + std::to_string(x.junk_dropped) + "</td><td>" +
           std::to_string(x.http_cut) + "</td></tr>";
      rss.pts.emplace_back(x.t_s, static_cast<double>(x.rss) / (1 << 20));
      drss.pts.emplace_back(x.t_s, static_cast<double>(x.dp_rss) / (1 << 20));
      p99.pts.emplace_back(x.t_s, x.hop.p99 / 1e3);
    }
    h += "</table>";
    if (s.samples.size() >= 2) h += chart("Soak: memory and honest latency over time", "seconds", "MiB / ms", {rss, drss, p99}, false, false);
  }
  h += "<h2>Log</h2><pre>";
  for (const auto& l : r.log) h += esc(l) + "\n";
  h += "</pre></body></html>\n";
  return h;
}

}  // namespace relay::bench
