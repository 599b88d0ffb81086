// stacks-relay-bench — the benchmark suite: the real relay processes, K simulated stock
// nodes over loopback, scenarios (transaction flood, block bursts, mixed traffic,
// fan-out) next to baselines measured in the same run (the same nodes without a relay;
// SHA-512/256, secp256k1 and loopback TCP speeds), written as one JSON file and one
// self-contained HTML report.
//
//   stacks-relay-bench run   [--out DIR] [--scenario NAME]...   the full suite
//   stacks-relay-bench smoke [--out DIR]                        a reduced run, about 100 s
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "bench/suite/report.hpp"

namespace {

std::string exe_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<std::size_t>(n));
  return p.substr(0, p.rfind('/'));
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  return static_cast<bool>(f);
}

// parse_relay_cpus: "auto" (the last two CPUs this process may use, or none when it may
// use fewer), "none", or one or two CPU numbers.
std::optional<std::vector<unsigned>> parse_relay_cpus(const std::string& s) {
  std::vector<unsigned> out;
  if (s == "none") return out;
  if (s == "auto") {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return out;
    for (unsigned c = CPU_SETSIZE; c-- > 0 && out.size() < 2;)
      if (CPU_ISSET(c, &set)) out.insert(out.begin(), c);
    if (out.size() < 2) out.clear();
    return out;
  }
  std::size_t at = 0;
  while (at <= s.size() && out.size() < 3) {
    const std::size_t comma = std::min(s.find(',', at), s.size());
    const std::string part = s.substr(at, comma - at);
    if (part.empty() || part.size() > 4 || part.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    out.push_back(static_cast<unsigned>(std::stoul(part)));
    at = comma + 1;
  }
  if (out.empty() || out.size() > 2 || (out.size() == 2 && out[0] == out[1])) return std::nullopt;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace relay::bench;
  CLI::App app{"stacks-relay-bench: the relay's benchmark suite (real processes, simulated Stacks nodes, baselines)"};
  app.require_subcommand(1);
  SuiteOptions o;
  std::string out = "bench-results";
  std::string relay_cpus = "auto";
  bool keep = false;
  o.relay_bin = exe_dir() + "/stacks-relay";
  auto common = [&](CLI::App* c) {
    c->add_option("--out", out, "directory for result.json and report.html")->capture_default_str();
    c->add_option("--relay-bin", o.relay_bin, "the stacks-relay binary")->capture_default_str();
    c->add_option("--signers", o.signers, "signers in the simulated reward set")->check(CLI::Range(1, 4000))->capture_default_str();
    c->add_flag("--keep", keep, "keep the scratch directory (relay data and log)");
    c->add_flag("--busy-poll", o.busy_poll, "run the relay with p2p.busy_poll (its dataplane spins on a core)");
    c->add_option("--relay-cpus", relay_cpus,
                  "p2p.cpus of the relay under test: auto (the last two CPUs this may use, when it has two), none, "
                  "or CPU[,CPU]")
        ->capture_default_str();
    c->add_option("--link-mbps", o.link_mbps, "the link scenario's origin uplink, Mbit/s")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    c->add_option("--soak-seconds", o.soak_seconds, "the soak scenario's length, seconds (hours are fine; the smoke run takes 12)")
        ->check(CLI::Range(10.0, 7.0 * 86400))
        ->capture_default_str();
  };
  auto* run = app.add_subcommand("run", "the full suite (several minutes)");
  common(run);
  run->add_option("--scenario", o.only, "run only these: tx, blocks, mixed, fanout, http, veth, link, uplink, privacy, failover, gaia, soak (repeatable)")
      ->check(CLI::IsMember({"tx", "blocks", "mixed", "fanout", "http", "veth", "link", "uplink", "privacy", "failover", "gaia", "soak"}));
  run->add_option("--backend", o.backends, "the veth scenario's dataplane backends: uring, af_xdp, af_packet (repeatable; default all)")
      ->check(CLI::IsMember({"uring", "af_xdp", "af_packet"}));
  auto* smoke = app.add_subcommand("smoke", "a reduced run of every scenario (about 100 s as root, a third of it the private Tor network starting)");
  common(smoke);
  CLI11_PARSE(app, argc, argv);
  o.smoke = smoke->parsed();

  ::signal(SIGPIPE, SIG_IGN);
  if (::access(o.relay_bin.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "stacks-relay-bench: %s is not an executable (build it, or give --relay-bin)\n", o.relay_bin.c_str());
    return 2;
  }
  if (auto cpus = parse_relay_cpus(relay_cpus)) {
    o.relay_cpus = *cpus;
  } else {
    std::fprintf(stderr, "stacks-relay-bench: --relay-cpus: '%s' is not auto, none or CPU[,CPU]\n", relay_cpus.c_str());
    return 2;
  }
  char tmpl[] = "/tmp/stacks-relay-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::perror("stacks-relay-bench: mkdtemp");
    return 1;
  }
  o.work_dir = tmpl;
  ::chmod(tmpl, 0711);  // the relay drops root to an unprivileged user: its data dir must be reachable
  if (::mkdir(out.c_str(), 0755) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "stacks-relay-bench: cannot create %s\n", out.c_str());
    return 1;
  }
  const SuiteResult r = run_suite(o);
  const bool ok = write_file(out + "/result.json", to_json(r)) && write_file(out + "/report.html", to_html(r));
  if (!keep) (void)std::system(("rm -rf " + o.work_dir).c_str());
  if (!ok) {
    std::fprintf(stderr, "stacks-relay-bench: cannot write the results to %s\n", out.c_str());
    return 1;
  }
  std::printf("%s: %s/result.json and %s/report.html (%.0f s)\n", o.smoke ? "smoke run" : "run", out.c_str(), out.c_str(),
              r.seconds);
  for (const auto& t : r.targets) {
    const bool here = t.pass != Target::kNotJudgedHere;
    std::printf("  %-4s %s: %s (limit %s)%s%s\n", t.pass == 1 ? "pass" : t.pass == 0 ? "FAIL" : here ? "n/a" : "hw", t.name.c_str(),
                t.measured.empty() ? "-" : t.measured.c_str(), t.limit.c_str(), here ? "" : "; not judged on this machine: ",
                here ? "" : t.note.c_str());
  }
  // The suite itself failed only when it could not measure (a relay that would not start,
  // nodes that could not connect): then nothing was measured at all.
  const bool measured_any = !r.tx.empty() || !r.blocks.empty() || !r.mixed.empty() || !r.fanout.empty() || !r.http.empty() ||
                           !r.privacy.empty() || !r.failover.empty() || !r.gaia.empty();
  return measured_any ? 0 : 1;
}
