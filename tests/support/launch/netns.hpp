// tests/support/launch/netns.hpp — network namespaces for the privacy tests and the
// benchmark's privacy scenario: one of the caller's own (only loopback, unless the
// caller adds more; deleted at the end), a thread that works inside one for a while,
// free ports there, waiting for a server started there to listen, and the small shell
// helpers they all use.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>

#include "tests/support/launch/relay_child.hpp"

namespace relay::launch {

inline bool have(const char* path) { return ::access(path, X_OK) == 0; }

inline bool run_quiet(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

// command_output: what `cmd` (a shell command) prints, without its trailing newlines.
inline std::string command_output(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// file_text: a file's whole contents ("" if it cannot be read).
inline std::string file_text(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline sockaddr_in6 sockaddr_of(const char* ipv4, std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, (std::string("::ffff:") + ipv4).c_str(), &a.sin6_addr);
  return a;
}

// dpdk_vdev_toml: a relay configuration's DPDK backend on a virtual device (`vdev`:
// net_af_xdp, net_af_packet, net_tap) over interface `iface` (net_tap: the one it makes), owning `cidr` itself,
// without hugepages (`mem_mb` MB of ordinary memory).
inline std::string dpdk_vdev_toml(const std::string& vdev, const std::string& iface, const std::string& cidr,
                                  unsigned mem_mb = 256) {
  return "[dataplane]\nbackend = \"dpdk\"\n[dpdk]\neal_args = [\"--no-huge\", \"-m\", \"" + std::to_string(mem_mb) +
         "\", \"--no-pci\", \"--no-shconf\", \"--no-telemetry\", \"--log-level=*:warning\"]\nport = \"" + vdev +
         "0,iface=" + iface + "\"\naddress = \"" + cidr + "\"\nmbufs = 16384\n";
}

// offloads_off: checksum and segmentation offloads off on `iface` in namespace `netns`.
// Needed on both ends of a veth with a user-space TCP on one: the kernel end would send
// partial checksums that a user-space stack rejects (MACHINE.md P2.7).
inline bool offloads_off(const std::string& netns, const std::string& iface) {
  return run_quiet("ip netns exec " + netns + " ethtool -K " + iface + " tx off tso off gso off gro off");
}

// join_interfaces: a wire between interfaces `a` and `b` of namespace `netns`: every
// frame in at either goes straight out the other (tc mirred at ingress), so none reaches
// that namespace's kernel. "" when joined, else what tc said.
inline std::string join_interfaces(const std::string& netns, const std::string& a, const std::string& b) {
  const std::string tc = "ip netns exec " + netns + " tc ";
  for (const auto& [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
    const std::string out = command_output(tc + "qdisc add dev " + from + " ingress 2>&1 && " + tc + "filter add dev " +
                                           from + " parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev " +
                                           to + " 2>&1 && echo joined");
    if (out != "joined") return out;
  }
  return "";
}

struct Namespace {
  std::string name;
  bool ok = false;
  explicit Namespace(const std::string& tag) : name("srl-" + tag + "-" + std::to_string(::getpid())) {
    ok = run_quiet("ip netns add " + name) && sh("link set lo up");
  }
  ~Namespace() {
    if (!name.empty()) run_quiet("ip netns del " + name);
  }
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;
  // sh: `ip -n NAME <args>`.
  bool sh(const std::string& args) const { return run_quiet("ip -n " + name + " " + args); }

  // in: run `fn` on a thread inside the namespace and wait for it.
  template <typename F>
  void in(F&& fn) const {
    std::thread t([&] {
      if (launch::enter_netns(name)) fn();
    });
    t.join();
  }
  // wait_listening: true once something accepts on 127.0.0.1:`port` here (10 s at most).
  bool wait_listening(std::uint16_t port, const char* ip = "127.0.0.1") const {
    bool up = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!up && std::chrono::steady_clock::now() < deadline) {
      in([&] {
        const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const sockaddr_in6 a = sockaddr_of(ip, port);
        up = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
      });
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return up;
  }
};

// free_port: a TCP port nothing uses in `ns` now (and not `other`).
inline std::uint16_t free_port(const Namespace& ns, std::uint16_t other = 0) {
  std::uint16_t port = 0;
  while (port == 0 || port == other) {
    ns.in([&] {
      const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in6 a = sockaddr_of("127.0.0.1", 0);
      socklen_t len = sizeof a;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin6_port);
      ::close(fd);
    });
  }
  return port;
}

// InsideNamespace: this thread works inside a namespace until the object goes (sockets
// it made stay where they were made).
class InsideNamespace {
 public:
  InsideNamespace() = default;
  ~InsideNamespace() {
    if (home_ >= 0) {
      (void)::setns(home_, CLONE_NEWNET);
      ::close(home_);
    }
  }
  InsideNamespace(const InsideNamespace&) = delete;
  InsideNamespace& operator=(const InsideNamespace&) = delete;
  bool enter(const Namespace& ns) {
    if (home_ < 0) home_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    return home_ >= 0 && launch::enter_netns(ns.name);
  }

 private:
  int home_ = -1;
};

}  // namespace relay::launch
