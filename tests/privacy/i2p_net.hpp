// tests/privacy/i2p_net.hpp — a tiny offline I2P network for the tests: five i2pd routers
// in a network namespace with no route out (their addresses 198.18.5.1–5 on its
// loopback), NTCP2 only, their own network id, two floodfills, reseeded from a zip of
// their own router infos (never from the internet: the reseed URLs are empty), SAM
// bridges on routers 4 and 5. Each i2pd is a child of the test, stopped by its pid. The
// layout follows ../shared/MACHINE.md (P2.2), including i2pd 2.45's quirks: datadir on
// the command line, the address book kept on (a SAM lookup crashes without it), and
// SESSION CREATE taking 20 s.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/launch/netns.hpp"

namespace relay::test::privacy {

using launch::Namespace;
using launch::run_quiet;

class I2pNet {
 public:
  static constexpr int kRouters = 5;
  static constexpr std::uint16_t kSamNear = 7654, kSamFar = 7655;  // routers 4 and 5 (index 3 and 4)

  Namespace ns{"i2p"};
  std::string dir;
  std::string why;

  I2pNet() {
    char tmpl[] = "/tmp/srl-i2p-XXXXXX";
    dir = ::mkdtemp(tmpl);
    ::chmod(dir.c_str(), 0755);
    ok_ = ns.ok && setup();
  }
  ~I2pNet() {
    for (auto& c : routers_) c->terminate();
    if (!dir.empty() && std::getenv("SRL_KEEP_I2P") == nullptr) run_quiet("rm -rf " + dir);
  }
  I2pNet(const I2pNet&) = delete;
  I2pNet& operator=(const I2pNet&) = delete;
  bool up() const { return ok_; }

  // health: for a failure message: each router that has ended (its status), and the last
  // lines of the SAM routers' logs. (A run once lost both SAM routers at once; this is
  // what would say why.)
  std::string health() {
    std::string out;
    for (std::size_t i = 0; i < routers_.size(); ++i)
      if (const auto st = routers_[i]->ended())
        out += "router " + std::to_string(i + 1) + " ended with status " + std::to_string(*st) + "\n";
    for (int i = 3; i < kRouters; ++i)
      out += "router " + std::to_string(i + 1) + ":\n" +
             launch::command_output("tail -n 15 " + rdir(i) + "/i2pd.log " + rdir(i) + "/stderr 2>&1") + "\n";
    return out + "(logs in " + dir + "; SRL_KEEP_I2P=1 keeps them)";
  }

 private:
  std::string rdir(int i) const { return dir + "/r" + std::to_string(i); }

  void write_conf(int i, bool seeded) const {
    const std::string d = rdir(i);
    std::ofstream(d + "/i2pd.conf")
        << "host = 198.18.5." << (i + 1) << "\nport = " << (21000 + i + 1) << "\nnat = false\nipv4 = true\nipv6 = false\n"
        << "netid = 99\nfloodfill = " << (i < 2 ? "true" : "false") << "\nreservedrange = false\n"
        << "log = file\nlogfile = " << d << "/i2pd.log\nloglevel = info\n"
        << "[ntcp2]\nenabled = true\npublished = true\n[ssu2]\nenabled = false\n"
        << "[sam]\nenabled = " << (i >= 3 ? "true" : "false") << "\naddress = 127.0.0.1\nport = " << (i == 3 ? kSamNear : kSamFar)
        << "\n[http]\nenabled = false\n[httpproxy]\nenabled = false\n[socksproxy]\nenabled = false\n[upnp]\nenabled = false\n"
        << "[bob]\nenabled = false\n[i2cp]\nenabled = false\n[i2pcontrol]\nenabled = false\n"
        // The address book stays on (SAM's NAMING LOOKUP of a .b32.i2p goes through it),
        // subscribed to a destination nobody publishes: with an empty URL i2pd 2.45
        // aborts (std::out_of_range) when it first tries to update, about 3 min in.
        << "[addressbook]\nenabled = true\ndefaulturl = http://" << std::string(52, 'a') << ".b32.i2p/hosts.txt\nsubscriptions = http://"
        << std::string(52, 'a') << ".b32.i2p/hosts.txt\n"
        << "[reseed]\nverify = false\nurls =\nyggurls =\nthreshold = 25\n" << (seeded ? "zipfile = " + dir + "/seed.zip\n" : "")
        << "[exploratory]\ninbound.length = 1\noutbound.length = 1\n";
    std::ofstream(d + "/tunnels.conf") << "";
  }

  bool start(int i) {
    const std::string d = rdir(i);
    routers_.push_back(std::make_unique<launch::Child>());
    return routers_.back()->start({{"/usr/sbin/i2pd", "--datadir=" + d, "--pidfile=" + d + "/i2pd.pid", "--conf=" + d + "/i2pd.conf",
                                    "--tunconf=" + d + "/tunnels.conf"},
                                   ns.name, d + "/stderr"});
  }

  bool setup() {
    for (int i = 0; i < kRouters; ++i)
      if (!ns.sh("addr add 198.18.5." + std::to_string(i + 1) + "/32 dev lo")) return fail("addresses");
    // First start: each router makes its identity and router.info; then stop.
    for (int i = 0; i < kRouters; ++i) {
      ::mkdir(rdir(i).c_str(), 0700);
      write_conf(i, false);
      if (!start(i)) return fail("starting i2pd");
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (int i = 0; i < kRouters; ++i)
      while (::access((rdir(i) + "/router.info").c_str(), R_OK) != 0) {
        if (std::chrono::steady_clock::now() > deadline) return fail("router.info of router " + std::to_string(i + 1));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    for (auto& c : routers_) c->terminate();
    routers_.clear();
    // The seed: every router's info, as a reseed zip.
    std::string files;
    for (int i = 0; i < kRouters; ++i) files += " " + rdir(i) + "/router.info";
    if (!run_quiet("python3 -c 'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1],\"w\"); "
                   "[z.write(p, \"routerInfo-%d.dat\" % i) for i,p in enumerate(sys.argv[2:])]' " +
                   dir + "/seed.zip" + files))
      return fail("seed.zip");
    for (int i = 0; i < kRouters; ++i) {
      write_conf(i, true);
      if (!start(i)) return fail("restarting i2pd");
    }
    if (!ns.wait_listening(kSamNear) || !ns.wait_listening(kSamFar)) return fail("SAM bridges");
    return true;
  }
  bool fail(const std::string& w) {
    why = w + " (logs in " + dir + ", SRL_KEEP_I2P=1 keeps them)";
    return false;
  }

  bool ok_ = false;
  std::vector<std::unique_ptr<launch::Child>> routers_;
};

}  // namespace relay::test::privacy
