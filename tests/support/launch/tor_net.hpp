// tests/support/launch/tor_net.hpp — a private Tor network, offline, for the privacy
// tests and the benchmark's privacy scenario: three directory authorities and five
// relays (TestingTorNetwork, keys made here with tor-gencert), plus two client instances
// with SOCKS and control ports: "near" (the relay's Tor: it dials onions through it and
// publishes its onion service on it) and "far" (the peers' Tor: it hosts a stock test
// node's onion service and carries peers to the relay's). Everything runs in a network
// namespace with only a loopback, so no tor process can reach anything else; each is a
// child of the caller, stopped by its pid. The layout follows ../shared/MACHINE.md (P2.1).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/launch/netns.hpp"

namespace relay::launch {

class TorNet {
 public:
  static constexpr int kAuthorities = 3;
  static constexpr int kRelays = 5;
  static constexpr std::uint16_t kNearSocks = 9050, kNearControl = 9051;
  static constexpr std::uint16_t kFarSocks = 9060, kFarControl = 9061;
  static constexpr const char* kFarPassword = "s3cret";

  Namespace ns{"tor"};
  std::string dir;  // everything: keys, data directories, logs
  std::string why;  // what failed, when up() is false

  // TorNet: set up and start the network; `far_service_port` is where the far tor's
  // onion service (virtual port 20444) forwards to on loopback (0: no such service).
  // The near tor runs as `near_user` (its cookie file is then that user's: the relay,
  // which drops root to `nobody`, reads it as an operator's relay user in Tor's group
  // would).
  explicit TorNet(std::uint16_t far_service_port, std::string near_user = "nobody")
      : far_service_port_(far_service_port), near_user_(std::move(near_user)) {
    char tmpl[] = "/tmp/srl-tor-XXXXXX";
    dir = ::mkdtemp(tmpl);
    ::chmod(dir.c_str(), 0755);
    ok_ = ns.ok && make_authorities() && start_all();
  }
  ~TorNet() {
    for (auto& c : children_) c->kill();
    if (!dir.empty() && std::getenv("SRL_KEEP_TOR") == nullptr) run_quiet("rm -rf " + dir);
  }
  TorNet(const TorNet&) = delete;
  TorNet& operator=(const TorNet&) = delete;

  bool up() const { return ok_; }

  // wait_bootstrapped: both clients report 100 % (and the far onion service is
  // published, when there is one) within `secs`.
  bool wait_bootstrapped(int secs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
    while (std::chrono::steady_clock::now() < deadline) {
      if (bootstrapped("near") && bootstrapped("far") && (far_service_port_ == 0 || !far_onion().empty())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    why = "not bootstrapped in " + std::to_string(secs) + " s (logs in " + dir + ", SRL_KEEP_TOR=1 keeps them)";
    return false;
  }
  // far_onion: the far tor's onion service ("<56>.onion"), once it wrote it.
  std::string far_onion() const {
    std::ifstream f(dir + "/far/hs/hostname");
    std::string h;
    std::getline(f, h);
    return h;
  }
  std::string log(const std::string& node) const {
    std::ifstream f(dir + "/" + node + "/notice.log");
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  // restart: stop the named client ("near" or "far") and start it again (same keys and
  // data directory): ephemeral onion services on it are gone until re-published.
  bool restart(const std::string& node) {
    for (std::size_t i = 0; i < names_.size(); ++i)
      if (names_[i] == node) {
        children_[i]->terminate();
        children_[i] = std::make_unique<launch::Child>();
        return children_[i]->start({{"/usr/sbin/tor", "-f", dir + "/" + node + "/torrc"}, ns.name, dir + "/" + node + "/stderr"});
      }
    return false;
  }

 private:
  bool bootstrapped(const std::string& node) const {
    return log(node).find("Bootstrapped 100%") != std::string::npos;
  }

  static bool write(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    f << text;
    return static_cast<bool>(f);
  }

  // make_authorities: keys and certificates for each authority, and the DirAuthority
  // lines every node shares.
  bool make_authorities() {
    std::string lines;
    for (int i = 0; i < kAuthorities; ++i) {
      const std::string d = dir + "/auth" + std::to_string(i);
      ::mkdir(d.c_str(), 0700);
      ::mkdir((d + "/keys").c_str(), 0700);
      const std::string dirport = std::to_string(7000 + i), orport = std::to_string(5000 + i);
      if (!run_quiet("cd " + d + " && echo '' | tor-gencert --create-identity-key --passphrase-fd 0 -i keys/authority_identity_key"
                     " -s keys/authority_signing_key -c keys/authority_certificate -m 12 -a 127.0.0.1:" + dirport)) {
        why = "tor-gencert";
        return false;
      }
      const std::string fp_cmd = "tor --ignore-missing-torrc -f /dev/null --list-fingerprint --orport 1 --datadirectory " + d +
                                 " 2>/dev/null | tail -1 | cut -d' ' -f2- | tr -d ' '";
      const std::string fp = command_output(fp_cmd);
      const std::string v3 = command_output("awk '/^fingerprint/{print $2}' " + d + "/keys/authority_certificate");
      if (fp.size() != 40 || v3.size() != 40) {
        why = "authority fingerprints (" + fp + ", " + v3 + ")";
        return false;
      }
      lines += "DirAuthority auth" + std::to_string(i) + " orport=" + orport + " no-v2 v3ident=" + v3 + " 127.0.0.1:" + dirport +
               " " + fp + "\n";
    }
    return write(dir + "/authorities", lines);
  }

  std::string common(const std::string& d, const std::string& nick) const {
    return "TestingTorNetwork 1\nAssumeReachable 1\nPathsNeededToBuildCircuits 0.25\nTestingDirAuthVoteExit *\n"
           "TestingDirAuthVoteHSDir *\nTestingDirAuthVoteGuard *\nTestingMinExitFlagThreshold 0\nV3AuthNIntervalsValid 2\n"
           "DataDirectory " + d + "\nRunAsDaemon 0\nNickname " + nick + "\nShutdownWaitLength 0\nLog notice file " + d +
           "/notice.log\nSafeLogging 0\n%include " + dir + "/authorities\n";
  }

  bool start(const std::string& name, const std::string& torrc, const std::string& user = "") {
    const std::string d = dir + "/" + name;
    ::mkdir(d.c_str(), 0700);
    ::chmod(d.c_str(), 0700);
    if (!write(d + "/torrc", user.empty() ? torrc : torrc + "User " + user + "\n")) return false;
    if (!user.empty() && !run_quiet("chown -R " + user + " " + d)) return false;
    names_.push_back(name);
    children_.push_back(std::make_unique<launch::Child>());
    return children_.back()->start({{"/usr/sbin/tor", "-f", d + "/torrc"}, ns.name, d + "/stderr"});
  }

  bool start_all() {
    for (int i = 0; i < kAuthorities; ++i) {
      const std::string n = "auth" + std::to_string(i), d = dir + "/" + n;
      const std::string torrc = common(d, n) + "SocksPort 0\nOrPort " + std::to_string(5000 + i) + "\nDirPort " +
                                std::to_string(7000 + i) + "\nAddress 127.0.0.1\nExitPolicy reject *:*\n"
                                "AuthoritativeDirectory 1\nV3AuthoritativeDirectory 1\nTestingV3AuthInitialVotingInterval 5\n"
                                "V3AuthVotingInterval 10\nTestingV3AuthInitialVoteDelay 2\nV3AuthVoteDelay 2\n"
                                "TestingV3AuthInitialDistDelay 2\nV3AuthDistDelay 2\n";
      if (!start(n, torrc)) return fail("starting " + n);
    }
    for (int i = 0; i < kRelays; ++i) {
      const int k = kAuthorities + i;
      const std::string n = "relay" + std::to_string(i), d = dir + "/" + n;
      const std::string torrc = common(d, n) + "SocksPort 0\nOrPort " + std::to_string(5000 + k) + "\nDirPort " +
                                std::to_string(7000 + k) + "\nAddress 127.0.0.1\nExitPolicy reject *:*\n";
      if (!start(n, torrc)) return fail("starting " + n);
    }
    const auto client = [&](const std::string& n, std::uint16_t socks, std::uint16_t control, const std::string& extra,
                            const std::string& user) {
      const std::string d = dir + "/" + n;
      return start(n, common(d, n) + "SocksPort 127.0.0.1:" + std::to_string(socks) + "\nControlPort 127.0.0.1:" +
                          std::to_string(control) + "\nCookieAuthentication 1\n" + extra, user);
    };
    // The far tor's control port also takes a password (HASHEDPASSWORD).
    const std::string hashed = command_output("tor --hash-password " + std::string(kFarPassword) + " 2>/dev/null | tail -1");
    if (hashed.rfind("16:", 0) != 0) return fail("tor --hash-password");
    std::string far_extra = "HashedControlPassword " + hashed + "\n";
    if (far_service_port_ != 0)
      far_extra += "HiddenServiceDir " + dir + "/far/hs\nHiddenServicePort 20444 127.0.0.1:" + std::to_string(far_service_port_) + "\n";
    if (!client("near", kNearSocks, kNearControl, "", near_user_)) return fail("starting the near client");
    if (!client("far", kFarSocks, kFarControl, far_extra, "")) return fail("starting the far client");
    return true;
  }
  bool fail(const std::string& w) {
    why = w;
    return false;
  }

  std::uint16_t far_service_port_ = 0;
  std::string near_user_;
  bool ok_ = false;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<launch::Child>> children_;
};

}  // namespace relay::launch
