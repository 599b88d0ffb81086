// dataplane/transport/dpdk/dpdk_transport.cpp — see dpdk_transport.hpp.
#include "dataplane/transport/dpdk/dpdk_transport.hpp"
#include "dataplane/transport/dpdk/xdp_steer.hpp"

#include <arpa/inet.h>
#include <linux/if_xdp.h>
#include <sys/socket.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

extern "C" {
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/tcp.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"
}

namespace relay::dp {

namespace {

constexpr std::uint16_t kBurst = 32;
constexpr std::uint32_t kMaxRxBurstsPerPoll = 8;
constexpr std::uint32_t kTxQueueMax = 4096;   // frames waiting for the device before new ones are dropped
constexpr std::uint32_t kRxStashMax = 4096;  // frames read off the device while sending, not yet given to lwIP
constexpr std::uint32_t kCautiousWindow = 0xFFFF;  // what a SYN can offer: the window until trust_reads()
constexpr std::uint32_t kWriteChunk = 44 * TCP_MSS;  // tcp_write takes a u16 length
constexpr std::uint16_t kMbufDataRoom = RTE_PKTMBUF_HEADROOM + 2048;
constexpr s16_t kInitialRttVar = 200 / TCP_SLOW_INTERVAL;  // in slow-timer ticks (setup_pcb)
constexpr std::uint64_t kProbeFloorNs = 10'000'000;  // a tail-loss probe's least wait (probe_tails)

std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// The custom pbuf that wraps a received frame, in the mbuf's private area (the pool is
// made with room for it): the pbuf's free hands the mbuf back.
struct RxPbuf {
  pbuf_custom pc;
};
constexpr std::uint16_t kPrivSize =
    static_cast<std::uint16_t>((sizeof(RxPbuf) + RTE_MBUF_PRIV_ALIGN - 1) & ~std::size_t{RTE_MBUF_PRIV_ALIGN - 1});

rte_mbuf* mbuf_of(pbuf_custom* pc) noexcept {
  return reinterpret_cast<rte_mbuf*>(reinterpret_cast<std::uint8_t*>(pc) - sizeof(rte_mbuf));
}

void rx_pbuf_free(pbuf* p) noexcept { rte_pktmbuf_free(mbuf_of(reinterpret_cast<pbuf_custom*>(p))); }

// A frame's piece sent from a shared buffer: a data-less mbuf attached to the bytes, its
// rte_mbuf_ext_shared_info in the mbuf's private area, holding one reference to the
// buffer, dropped when the device is done with the frame.
constexpr std::uint16_t kExtPrivSize = static_cast<std::uint16_t>((sizeof(rte_mbuf_ext_shared_info) + RTE_MBUF_PRIV_ALIGN - 1) &
                                                                  ~std::size_t{RTE_MBUF_PRIV_ALIGN - 1});
void ext_unref(void*, void* opaque) noexcept { static_cast<SharedBuf*>(opaque)->unref(); }

// find_xsk_fd: the AF_XDP socket the driver made for our queue (the PMD does not hand it
// out): the newest descriptor that answers XDP_STATISTICS. Its statistics say what the
// device's own counters leave out: frames lost because the socket's rings were full or
// empty. -1 if none.
int find_xsk_fd() noexcept {
  for (int fd = 4095; fd >= 0; --fd) {
    xdp_statistics xs{};
    socklen_t len = sizeof xs;
    if (::getsockopt(fd, SOL_XDP, XDP_STATISTICS, &xs, &len) == 0) return fd;
  }
  return -1;
}

// make_mbuf_pool: rte_pktmbuf_pool_create, but with the mempool's flags ours to give.
// `packed` (RTE_MEMPOOL_F_NO_IOVA_CONTIG) lets objects cross page boundaries, so they
// sit end to end: without it, on 4 KiB pages (--no-huge) each 2.5 KiB mbuf takes a page
// of its own. nullptr with rte_errno set if it cannot be made.
rte_mempool* make_mbuf_pool(const char* name, std::uint32_t n, std::uint16_t priv, std::uint16_t room, bool packed) noexcept {
  const int socket = static_cast<int>(rte_socket_id());
  if (!packed) return rte_pktmbuf_pool_create(name, n, 256, priv, room, socket);
  rte_pktmbuf_pool_private pp{};
  pp.mbuf_data_room_size = room;
  pp.mbuf_priv_size = priv;
  rte_mempool* mp = rte_mempool_create_empty(name, n, static_cast<unsigned>(sizeof(rte_mbuf)) + priv + room, 256, sizeof pp,
                                             socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
  if (mp == nullptr) return nullptr;
  int r = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr);
  if (r == 0) {
    rte_pktmbuf_pool_init(mp, &pp);
    r = rte_mempool_populate_default(mp);
  }
  if (r < 0) {
    rte_mempool_free(mp);
    rte_errno = -r;
    return nullptr;
  }
  rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
  return mp;
}

// umem_misses: how many of the pool's objects the AF_XDP driver's UMEM leaves out. The
// driver (DPDK 22.11) registers as UMEM the populated objects' total size from the page
// holding the pool's first memory chunk, as if every object sat end to end after it: an
// object anywhere else is a frame the kernel refuses to send (an invalid descriptor)
// and a buffer it never fills.
std::uint32_t umem_misses(rte_mempool* mp) noexcept {
  const rte_mempool_memhdr* first = STAILQ_FIRST(&mp->mem_list);
  if (first == nullptr) return mp->populated_size;
  const auto pg = static_cast<std::uintptr_t>(::getpagesize());
  const auto start = reinterpret_cast<std::uintptr_t>(first->addr);
  const std::uintptr_t base = start & ~(pg - 1);
  const std::uint64_t obj = std::uint64_t{mp->header_size} + mp->elt_size + mp->trailer_size;
  struct Span {
    std::uintptr_t base, end;
    std::uint64_t header;
    std::uint32_t misses;
  } span{base, start + std::uint64_t{mp->populated_size} * obj, mp->header_size, 0};
  rte_mempool_obj_iter(
      mp,
      [](rte_mempool* m, void* arg, void* o, unsigned) {
        auto* sp = static_cast<Span*>(arg);
        const auto at = reinterpret_cast<std::uintptr_t>(o) - sp->header;
        if (at < sp->base || at + sp->header + m->elt_size + m->trailer_size > sp->end) ++sp->misses;
      },
      &span);
  return span.misses;
}

// arena_bytes: the send pool's mapping in whole pages (what DPDK registers and maps).
std::size_t arena_bytes(const BufPool& pool) noexcept {
  const auto pg = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (pool.size() + pg - 1) / pg * pg;
}

int errno_of(err_t e) noexcept {
  switch (e) {
    case ERR_OK: return 0;
    case ERR_MEM: return ENOMEM;
    case ERR_BUF: return ENOBUFS;
    case ERR_TIMEOUT: return ETIMEDOUT;
    case ERR_RTE: return EHOSTUNREACH;
    case ERR_INPROGRESS: return EINPROGRESS;
    case ERR_VAL: return EINVAL;
    case ERR_WOULDBLOCK: return EWOULDBLOCK;
    case ERR_USE: return EADDRINUSE;
    case ERR_ALREADY: return EALREADY;
    case ERR_ISCONN: return EISCONN;
    case ERR_CONN: return ENOTCONN;
    case ERR_IF: return ENETDOWN;
    case ERR_ABRT: return ECONNABORTED;
    case ERR_RST: return ECONNRESET;
    case ERR_CLSD: return ENOTCONN;
    case ERR_ARG: return EINVAL;
    default: return EIO;
  }
}

// The process's one transport: lwIP's callbacks find it here (lwIP is process-wide).
DpdkTransport* g_self = nullptr;
bool g_eal_up = false;
bool g_lwip_up = false;
unsigned g_pool_seq = 0;

// tcp_arg values: a connection id, or a lingering close's index with the top bit set.
constexpr std::uintptr_t kLingerBit = std::uintptr_t{1} << (sizeof(std::uintptr_t) * 8 - 1);
void* conn_arg(ConnId c) noexcept { return reinterpret_cast<void*>(static_cast<std::uintptr_t>(c) + 1); }
void* linger_arg(std::uint32_t i) noexcept { return reinterpret_cast<void*>((static_cast<std::uintptr_t>(i) + 1) | kLingerBit); }

}  // namespace

bool frame_is_relays(const std::uint8_t* f, std::size_t len, std::uint32_t ipv4) noexcept {
  if (len < 14) return false;
  const unsigned type = unsigned{f[12]} << 8 | f[13];
  std::uint32_t to = 0;
  if (type == RTE_ETHER_TYPE_IPV4 && len >= 14 + 20) std::memcpy(&to, f + 14 + 16, 4);  // the destination
  else if (type == RTE_ETHER_TYPE_ARP && len >= 14 + 28) std::memcpy(&to, f + 14 + 24, 4);  // the target
  else return false;
  return to == ipv4;
}

std::uint32_t mbufs_for(std::uint32_t max_conns) noexcept {
  const std::uint64_t per_conn = kCautiousWindow / TCP_MSS + 2;  // a cautious window of frames
  const std::uint64_t n = 16384 + per_conn * max_conns;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, 1u << 20));
}

struct DpdkTransport::Hooks {
  static DpdkTransport* self() noexcept { return g_self; }
  static ConnId conn_of(void* arg) noexcept {
    const auto v = reinterpret_cast<std::uintptr_t>(arg);
    return (v == 0 || (v & kLingerBit) != 0) ? kNoConn : static_cast<ConnId>(v - 1);
  }
  static std::uint32_t linger_of(void* arg) noexcept {
    const auto v = reinterpret_cast<std::uintptr_t>(arg);
    return (v & kLingerBit) != 0 ? static_cast<std::uint32_t>((v & ~kLingerBit) - 1) : ~0u;
  }

  static err_t netif_output(netif*, pbuf* p) {
    DpdkTransport& t = *g_self;
    if (t.zero_copy_ && p->next != nullptr) return t.output_pieces(p);
    rte_mbuf* m = rte_pktmbuf_alloc(static_cast<rte_mempool*>(t.pool_tx_));
    if (m == nullptr) {
      ++t.st_.no_mbuf;
      ++t.st_.tx_dropped;
      return ERR_MEM;
    }
    char* dst = rte_pktmbuf_append(m, p->tot_len);
    if (dst == nullptr) {  // larger than a frame: never made by TCP at our MSS
      rte_pktmbuf_free(m);
      ++t.st_.tx_dropped;
      return ERR_BUF;
    }
    pbuf_copy_partial(p, dst, p->tot_len, 0);
    t.st_.copied_tx_bytes += p->tot_len;
    t.st_.tx_bytes += p->tot_len;
    if (t.tx_.size() >= kTxQueueMax) {
      rte_pktmbuf_free(m);
      ++t.st_.tx_dropped;
      return ERR_MEM;
    }
    t.tx_.push_back(m);
    if (t.tx_.size() >= kBurst) t.tx_flush();
    return ERR_OK;
  }

  static err_t netif_init(netif* nif) {
    DpdkTransport& t = *g_self;
    nif->name[0] = 'd';
    nif->name[1] = 'p';
    nif->output = etharp_output;
    nif->linkoutput = netif_output;
    nif->mtu = t.cfg_.mtu;
    nif->hwaddr_len = ETH_HWADDR_LEN;
    rte_ether_addr mac{};
    rte_eth_macaddr_get(t.port_id_, &mac);
    std::memcpy(nif->hwaddr, mac.addr_bytes, ETH_HWADDR_LEN);
    nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
    return ERR_OK;
  }

  static err_t accepted(void* arg, tcp_pcb* pcb, err_t err) {
    DpdkTransport& t = *g_self;
    if (err != ERR_OK || pcb == nullptr) return ERR_VAL;
    if (t.free_.empty() || !t.acceptable(pcb)) {  // the table is full, or the peer's MSS unusable: RST
      tcp_abort(pcb);
      return ERR_ABRT;
    }
    const ConnId c = t.free_.back();
    t.free_.pop_back();
    Conn& k = t.conns_[c];
    k.pcb = pcb;
    k.state = State::kOpen;
    k.remote = net::PeerAddress::ip(addr16_of(pcb->remote_ip), pcb->remote_port);
    t.setup_pcb(c, pcb);
    ++t.open_;
    Event e;
    e.kind = EventKind::kAccepted;
    e.conn = c;
    e.user = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(arg));
    t.push(e);
    return ERR_OK;
  }

  static err_t connected(void* arg, tcp_pcb* pcb, err_t) {
    DpdkTransport& t = *g_self;
    const ConnId c = conn_of(arg);
    if (c == kNoConn) return ERR_OK;
    Conn& k = t.conns_[c];
    if (!t.acceptable(pcb)) {
      tcp_arg(pcb, nullptr);
      tcp_err(pcb, nullptr);
      tcp_abort(pcb);
      k.pcb = nullptr;
      t.finish(c, EPROTO, true);
      return ERR_ABRT;
    }
    k.state = State::kOpen;
    t.cautious(pcb);
    Event e;
    e.kind = EventKind::kConnected;
    e.conn = c;
    t.push(e);
    t.pump(c);
    return ERR_OK;
  }

  static err_t recv(void* arg, tcp_pcb* pcb, pbuf* p, err_t err) {
    DpdkTransport& t = *g_self;
    const ConnId c = conn_of(arg);
    if (c == kNoConn) {  // a lingering close (lwIP resets a closed pcb that gets data; this is the FIN)
      if (p != nullptr) {
        tcp_recved_all(pcb, p->tot_len);
        pbuf_free(p);
      }
      return ERR_OK;
    }
    Conn& k = t.conns_[c];
    if (p == nullptr || err != ERR_OK) {  // the peer's FIN
      if (p != nullptr) pbuf_free(p);
      if (k.paused) {
        k.eof_held = true;
        return ERR_OK;
      }
      const bool aborted = t.linger_or_close(c);
      t.finish(c, 0, false);
      return aborted ? ERR_ABRT : ERR_OK;
    }
    if (k.paused && t.past_held_max(k, p->tot_len)) {
      // Not taken: lwIP keeps it (refused_data), drops this connection's later data
      // until resume() takes it, and offers it again every 250 ms meanwhile.
      return ERR_MEM;
    }
    k.refusing = false;
    t.take_data(c, p);
    return ERR_OK;
  }

  static err_t sent(void* arg, tcp_pcb*, u16_t len) {
    DpdkTransport& t = *g_self;
    if (const ConnId c = conn_of(arg); c != kNoConn) {
      t.on_acked(c, len);
      return ERR_OK;
    }
    const std::uint32_t i = linger_of(arg);
    if (i >= t.lingers_.size()) return ERR_OK;
    Linger& l = t.lingers_[i];
    std::uint32_t n = len;
    while (n > 0 && l.len > 0) {
      PendingSend& s = l.bufs[l.head];
      // A lingering send waits only for what was handed to lwIP (`written`).
      const std::uint32_t take = std::min(s.written - s.acked, n);
      s.acked += take;
      n -= take;
      if (s.acked == s.written) {
        s.buf->unref();
        l.head = (l.head + 1) % static_cast<std::uint32_t>(l.bufs.size());
        --l.len;
      }
    }
    if (l.len == 0) t.end_linger(i, false);
    return ERR_OK;
  }

  static void error(void* arg, err_t err) {  // the pcb is gone already
    DpdkTransport& t = *g_self;
    if (const ConnId c = conn_of(arg); c != kNoConn) {
      Conn& k = t.conns_[c];
      k.pcb = nullptr;
      const bool connecting = k.state == State::kConnecting;
      // A reset answering our SYN is a refusal, as connect(2) reports it. lwIP aborts a
      // connection itself only when a timer gives up on it (retransmissions, keep-alive,
      // the handshake): a timeout, as the kernel reports it (ours clear the callbacks first).
      int e = errno_of(err);
      if (err == ERR_RST && connecting) e = ECONNREFUSED;
      if (err == ERR_ABRT) e = ETIMEDOUT;
      t.finish(c, e, connecting);
      return;
    }
    const std::uint32_t i = linger_of(arg);
    if (i < t.lingers_.size() && t.lingers_[i].in_use) {
      t.lingers_[i].pcb = nullptr;
      t.end_linger(i, false);
    }
  }

  static void tcp_recved_all(tcp_pcb* pcb, std::uint32_t n) noexcept {
    while (n > 0) {
      const auto step = static_cast<u16_t>(std::min<std::uint32_t>(n, 0xFFFF));
      tcp_recved(pcb, step);
      n -= step;
    }
  }

  static codec::Addr16 addr16_of(const ip_addr_t& a) noexcept {
    codec::Addr16 out{};
    out[10] = 0xFF;
    out[11] = 0xFF;
    std::memcpy(out.data() + 12, &ip_2_ip4(&a)->addr, 4);
    return out;
  }
};

DpdkTransport::DpdkTransport(const DpdkConfig& cfg) : cfg_(cfg) {}

Result<std::unique_ptr<DpdkTransport>> DpdkTransport::create(const DpdkConfig& cfg) {
  if (g_self != nullptr) return make_error(Errc::kIo, "a DPDK transport exists in this process already", EBUSY);
  if (cfg.max_conns == 0 || cfg.max_conns > MEMP_NUM_TCP_PCB)
    return make_error(Errc::kIo, "max_conns must be 1..4096 (lwIP's connection pool)", EINVAL);
  if (cfg.ipv4 == 0) return make_error(Errc::kIo, "the DPDK port needs the relay's own IPv4 address", EINVAL);
  if (cfg.max_queued_sends == 0) return make_error(Errc::kIo, "max_queued_sends must be at least 1", EINVAL);
  std::unique_ptr<DpdkTransport> t(new DpdkTransport(cfg));
  g_self = t.get();
  if (auto s = t->init(); !s.ok()) {
    t.reset();  // the destructor undoes what init() did
    return s.error();
  }
  return t;
}

Status DpdkTransport::init() {
  if (!g_eal_up) {
    // The EAL pins the calling thread to its main lcore; the relay pins its threads
    // itself (p2p.cpus), so the thread's own CPUs are put back.
    cpu_set_t before;
    CPU_ZERO(&before);
    const bool had = ::pthread_getaffinity_np(::pthread_self(), sizeof before, &before) == 0;
    std::vector<std::string> args{"stacks-relay-dataplane"};
    args.insert(args.end(), cfg_.eal_args.begin(), cfg_.eal_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
      const int e = rte_errno;
      if (e == ENOMEM) return make_error(Errc::kIo, "EAL: not enough memory (reserve hugepages, or give dpdk.eal_args --no-huge -m MB)", ENOMEM);
      if (e == EACCES) return make_error(Errc::kIo, "EAL: permission denied (DPDK needs root or CAP_SYS_ADMIN/CAP_NET_RAW at start)", EACCES);
      if (e == EALREADY) return make_error(Errc::kIo, "EAL: set up already by someone else in this process", EALREADY);
      return make_error(Errc::kIo, "EAL: cannot initialise (see its messages above; check dpdk.eal_args)", static_cast<std::uint32_t>(e));
    }
    g_eal_up = true;
    if (had) ::pthread_setaffinity_np(::pthread_self(), sizeof before, &before);
  }

  // The port: created from devargs when it names a virtual device DPDK lacks.
  std::string name = cfg_.port;
  std::string args;
  if (auto comma = name.find(','); comma != std::string::npos) {
    args = name.substr(comma + 1);
    name.resize(comma);
  }
  // On an AF_XDP port the relay's own XDP program decides what leaves the kernel: only
  // frames for the relay's address (xdp/relay_steer.bpf.c). (Unless the devargs name
  // a program of their own.)
  struct TempFile {
    std::string path;
    ~TempFile() {
      if (!path.empty()) ::unlink(path.c_str());
    }
  } xdp_file;
  std::string xdp_iface;
  if (name.rfind("net_af_xdp", 0) == 0 && args.find("xdp_prog=") == std::string::npos && cfg_.steer) {
    for (std::size_t at = 0; at < args.size();) {
      std::size_t end = args.find(',', at);
      if (end == std::string::npos) end = args.size();
      if (args.compare(at, 6, "iface=") == 0) xdp_iface = args.substr(at + 6, end - at - 6);
      at = end + 1;
    }
    xdp_file.path = xdp::write_program();
    if (xdp_file.path.empty()) return make_error(Errc::kIo, "cannot write the XDP program out", static_cast<std::uint32_t>(errno));
    args += ",xdp_prog=" + xdp_file.path;
  }
  if (name.empty()) {
    if (rte_eth_dev_count_avail() != 1)
      return make_error(Errc::kIo, "dpdk.port not set and DPDK sees no port or several (bind a NIC with dpdk-devbind.py, or name a vdev)", ENODEV);
    port_id_ = static_cast<std::uint16_t>(rte_eth_find_next(0));
  } else if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id_) != 0) {
    if (name.rfind("net_", 0) != 0)
      return make_error(Errc::kIo, "dpdk.port: no such port (a NIC must be bound to vfio-pci with dpdk-devbind.py first)", ENODEV);
    if (int r = rte_vdev_init(name.c_str(), args.c_str()); r != 0)
      return make_error(Errc::kIo, "dpdk.port: cannot create the virtual device (does its interface exist? see the driver's message above)",
                        static_cast<std::uint32_t>(r < 0 ? -r : r));
    probed_ = name;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id_) != 0)
      return make_error(Errc::kIo, "dpdk.port: the virtual device made no port", ENODEV);
  }
  rte_eth_dev_info info{};
  if (int r = rte_eth_dev_info_get(port_id_, &info); r != 0)
    return make_error(Errc::kIo, "dpdk.port: cannot read the device's information", static_cast<std::uint32_t>(-r));
  driver_ = info.driver_name != nullptr ? info.driver_name : "?";
  if (!cfg_.send_pool.empty()) {
    auto p = BufPool::create(cfg_.send_pool);
    if (!p.ok()) return p.error();
    pool_ = std::move(*p);
  }

  // mbufs: received frames (held by TCP until the relay releases them) and frames sent:
  // the device's ring, and what waits for it (tx_). Frames sent come from a pool of
  // their own, so receiving cannot starve sending; except on AF_XDP, whose driver
  // copies every frame that is not already in its UMEM (the receive pool) into a buffer
  // of that pool anyway: there frames are written straight into the receive pool (one
  // copy fewer), and the pool is larger by the transmit share.
  const std::uint32_t n_tx = std::uint32_t{cfg_.tx_desc} + kTxQueueMax + 1024;
  const bool umem_tx = driver_ == "net_af_xdp";
  const std::uint32_t n_mbufs = (cfg_.mbufs != 0 ? cfg_.mbufs : mbufs_for(cfg_.max_conns)) + (umem_tx ? n_tx : 0);
  char pool_name[RTE_MEMPOOL_NAMESIZE];
  std::snprintf(pool_name, sizeof pool_name, "relay_mb%u", g_pool_seq++);
  // On AF_XDP this pool is the UMEM, which must hold it end to end (umem_misses): on
  // hugepages DPDK lays it out so when it can; on 4 KiB pages it is made packed.
  const bool packed = umem_tx && rte_eal_has_hugepages() == 0;
  auto* mp = make_mbuf_pool(pool_name, n_mbufs, kPrivSize, kMbufDataRoom, packed);
  if (mp == nullptr)
    return make_error(Errc::kIo, "cannot make the mbuf pool (more hugepage memory, a larger -m, or fewer dpdk.mbufs)",
                      static_cast<std::uint32_t>(rte_errno));
  pool_mb_ = mp;
  if (umem_tx) {
    if (umem_misses(mp) != 0)
      return make_error(Errc::kIo,
                        "net_af_xdp: some mbufs lie outside the UMEM the driver registers (it takes the pool to lie end to "
                        "end from its first piece of memory): give DPDK more contiguous memory (hugepages, or a larger -m)",
                        ENOMEM);
    pool_tx_ = mp;
  } else {
    std::snprintf(pool_name, sizeof pool_name, "relay_tx%u", g_pool_seq++);
    pool_tx_ = make_mbuf_pool(pool_name, n_tx, 0, kMbufDataRoom, false);
    if (pool_tx_ == nullptr)
      return make_error(Errc::kIo, "cannot make the transmit mbuf pool (more hugepage memory, or a larger -m)",
                        static_cast<std::uint32_t>(rte_errno));
  }

  // Zero copy (not on AF_XDP: its frames must be in the UMEM, whole).
  zero_copy_ = !umem_tx && setup_zero_copy(&info);
  if (zero_copy_) {
    std::snprintf(pool_name, sizeof pool_name, "relay_ext%u", g_pool_seq++);
    pool_ext_ = rte_pktmbuf_pool_create(pool_name, 2 * n_tx, 256, kExtPrivSize, 0, static_cast<int>(rte_socket_id()));
    if (pool_ext_ == nullptr)
      return make_error(Errc::kIo, "cannot make the mbuf pool for zero-copy sends (more hugepage memory, or a larger -m)",
                        static_cast<std::uint32_t>(rte_errno));
  }

  rte_eth_conf conf{};
  if (zero_copy_) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  if (int r = rte_eth_dev_configure(port_id_, 1, 1, &conf); r != 0)
    return make_error(Errc::kIo, "dpdk.port: cannot configure one queue pair", static_cast<std::uint32_t>(-r));
  std::uint16_t rxd = cfg_.rx_desc, txd = cfg_.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(port_id_, &rxd, &txd);
  const int socket = rte_eth_dev_socket_id(port_id_);
  const unsigned sock = socket < 0 ? rte_socket_id() : static_cast<unsigned>(socket);
  // An AF_XDP socket of the previous user of the queue (this process's last transport,
  // or a dataplane that was just killed) is released by the kernel a little later: the
  // set-up is tried again for up to 3 s.
  for (int attempt = 0;; ++attempt) {
    const int r = rte_eth_rx_queue_setup(port_id_, 0, rxd, sock, nullptr, mp);
    if (r == 0) break;
    if (attempt == 30) return make_error(Errc::kIo, "dpdk.port: cannot set up its receive queue", static_cast<std::uint32_t>(-r));
    const timespec pause{0, 100'000'000};
    ::nanosleep(&pause, nullptr);
  }
  if (umem_tx) xsk_fd_ = find_xsk_fd();
  if (!xdp_iface.empty()) {  // the driver attached the program with the queue: give it our address
    if (auto st = xdp::set_address(xdp_iface, cfg_.ipv4); !st.ok()) return st.error();
    steered_ = true;
  }
  if (int r = rte_eth_tx_queue_setup(port_id_, 0, txd, sock, nullptr); r != 0)
    return make_error(Errc::kIo, "dpdk.port: cannot set up its transmit queue", static_cast<std::uint32_t>(-r));
  if (cfg_.mtu != 1500) {
    if (int r = rte_eth_dev_set_mtu(port_id_, cfg_.mtu); r != 0)
      return make_error(Errc::kIo, "dpdk.mtu: the device refuses it", static_cast<std::uint32_t>(-r));
  }
  if (int r = rte_eth_dev_start(port_id_); r != 0)
    return make_error(Errc::kIo, "dpdk.port: cannot start it", static_cast<std::uint32_t>(-r));
  port_started_ = true;
  rte_ether_addr mac{};
  rte_eth_macaddr_get(port_id_, &mac);
  char macs[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(macs, sizeof macs, &mac);
  mac_ = macs;
  if (!cfg_.host_iface.empty()) RELAY_TRY(open_host_port());

  // lwIP: once per process; one interface per transport.
  if (!g_lwip_up) {
    lwip_init();
    g_lwip_up = true;
  }
  auto* nif = new (std::nothrow) netif{};
  if (nif == nullptr) return make_error(Errc::kIo, "out of memory", ENOMEM);
  netif_ = nif;
  ip4_addr_t ip, mask, gw;
  ip.addr = cfg_.ipv4;
  mask.addr = cfg_.prefix_len == 0 ? 0 : htonl(~std::uint32_t{0} << (32 - std::min<std::uint8_t>(cfg_.prefix_len, 32)));
  gw.addr = cfg_.gateway;
  if (netif_add(nif, &ip, &mask, &gw, nullptr, Hooks::netif_init, ethernet_input) == nullptr)
    return make_error(Errc::kIo, "lwIP: cannot add the interface", EIO);
  netif_set_default(nif);
  netif_set_up(nif);
  netif_set_link_up(nif);

  // Tables, all sized now.
  conns_.resize(cfg_.max_conns);
  free_.reserve(cfg_.max_conns);
  free_next_.reserve(cfg_.max_conns);
  for (ConnId c = cfg_.max_conns; c-- > 0;) {
    free_.push_back(c);
    conns_[c].sendq.resize(cfg_.max_queued_sends);
  }
  // One lingering close per pcb lwIP can have: the pool never runs out.
  lingers_.resize(MEMP_NUM_TCP_PCB);
  for (std::uint32_t i = MEMP_NUM_TCP_PCB; i-- > 0;) linger_free_.push_back(i);
  rx_slots_.resize(std::size_t{n_mbufs} + PBUF_POOL_SIZE + 1024);
  rx_free_.reserve(rx_slots_.size());
  for (std::size_t i = rx_slots_.size(); i-- > 0;) rx_free_.push_back(static_cast<std::uint32_t>(i));
  q_.reserve(4096);
  touched_.reserve(cfg_.max_conns);
  retry_.reserve(cfg_.max_conns);
  retry_run_.reserve(cfg_.max_conns);
  tx_.reserve(kTxQueueMax);
  rx_stash_.reserve(kRxStashMax);
  rx_run_.reserve(kRxStashMax);
  last_activity_ns_ = now_ns();
  return Ok{};
}

// open_host_port: the exception path's TAP (cfg_.host_iface), with the port's MAC: the
// host's frames on the wire are addressed to it, and the host's own go out from it.
Status DpdkTransport::open_host_port() {
  if (driver_ == "net_af_xdp" || driver_ == "net_af_packet")
    return make_error(Errc::kIo,
                      "dpdk.host_iface: only for a port that takes every frame (a NIC on vfio-pci, net_tap); on "
                      "net_af_xdp and net_af_packet the kernel keeps the interface and its own traffic already",
                      EINVAL);
  char pool_name[RTE_MEMPOOL_NAMESIZE];
  std::snprintf(pool_name, sizeof pool_name, "relay_host%u", g_pool_seq++);
  pool_host_ = make_mbuf_pool(pool_name, 4096, 0, kMbufDataRoom, false);
  if (pool_host_ == nullptr)
    return make_error(Errc::kIo, "dpdk.host_iface: cannot make its mbuf pool (more hugepage memory, or a larger -m)",
                      static_cast<std::uint32_t>(rte_errno));
  const std::string name = "net_tap_host" + std::to_string(g_pool_seq++);
  if (int r = rte_vdev_init(name.c_str(), ("iface=" + cfg_.host_iface).c_str()); r != 0)
    return make_error(Errc::kIo, "dpdk.host_iface: cannot make the TAP interface (is the name taken? see the driver's message above)",
                      static_cast<std::uint32_t>(r < 0 ? -r : r));
  host_probed_ = name;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &host_port_) != 0)
    return make_error(Errc::kIo, "dpdk.host_iface: the TAP made no port", ENODEV);
  rte_ether_addr mac{};
  rte_eth_macaddr_get(port_id_, &mac);
  rte_eth_conf conf{};
  int r = rte_eth_dev_configure(host_port_, 1, 1, &conf);
  if (r == 0) r = rte_eth_rx_queue_setup(host_port_, 0, 512, rte_socket_id(), nullptr, static_cast<rte_mempool*>(pool_host_));
  if (r == 0) r = rte_eth_tx_queue_setup(host_port_, 0, 512, rte_socket_id(), nullptr);
  if (r == 0 && cfg_.mtu != 1500) r = rte_eth_dev_set_mtu(host_port_, cfg_.mtu);
  if (r == 0) r = rte_eth_dev_default_mac_addr_set(host_port_, &mac);
  if (r == 0) r = rte_eth_dev_start(host_port_);
  if (r != 0) return make_error(Errc::kIo, "dpdk.host_iface: cannot set up the TAP port", static_cast<std::uint32_t>(r < 0 ? -r : r));
  host_started_ = true;
  to_host_.reserve(kRxStashMax + kBurst);
  return Ok{};
}

// host_exchange: the frames from the port that are the host's go to its interface; what
// the host sent since the last look goes out the port, behind lwIP's frames. The host's
// side is a TAP (a system call per frame): read every pass while it has frames, else
// every 100 µs (the host's traffic is not the relay's: a little later is fine).
void DpdkTransport::host_exchange() noexcept {
  if (!host_started_) return;
  std::size_t done = 0;
  while (done < to_host_.size()) {
    const auto want = static_cast<std::uint16_t>(std::min<std::size_t>(to_host_.size() - done, kBurst));
    const std::uint16_t n = rte_eth_tx_burst(host_port_, 0, reinterpret_cast<rte_mbuf**>(to_host_.data() + done), want);
    st_.host_frames_in += n;
    done += n;
    if (n < want) break;
  }
  for (std::size_t i = done; i < to_host_.size(); ++i) rte_pktmbuf_free(static_cast<rte_mbuf*>(to_host_[i]));
  st_.host_dropped += to_host_.size() - done;
  to_host_.clear();
  const std::uint64_t now = now_ns();
  if (!host_busy_ && now - host_polled_ns_ < 100'000) return;
  host_polled_ns_ = now;
  rte_mbuf* ms[kBurst];
  const std::uint16_t n = rte_eth_rx_burst(host_port_, 0, ms, kBurst);
  host_busy_ = n != 0;
  for (std::uint16_t i = 0; i < n; ++i) {
    if (tx_.size() >= kTxQueueMax) {
      rte_pktmbuf_free(ms[i]);
      ++st_.host_dropped;
      continue;
    }
    tx_.push_back(ms[i]);
    ++st_.host_frames_out;
  }
}

DpdkTransport::~DpdkTransport() {
  abort_all();
  tx_flush();
  for (auto* m : tx_) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  tx_.clear();
  for (auto* m : rx_stash_) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  rx_stash_.clear();
  for (auto* m : to_host_) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  to_host_.clear();
  if (host_started_) rte_eth_dev_stop(host_port_);
  if (!host_probed_.empty()) {
    rte_eth_dev_close(host_port_);
    rte_vdev_uninit(host_probed_.c_str());
  }
  if (netif_ != nullptr) {
    netif_remove(static_cast<netif*>(netif_));
    delete static_cast<netif*>(netif_);
  }
  if (port_started_) rte_eth_dev_stop(port_id_);
  if (dma_dev_ != nullptr)  // stopped: the device reads no more from the send buffers
    rte_dev_dma_unmap(static_cast<rte_device*>(dma_dev_), pool_->base(), reinterpret_cast<std::uintptr_t>(pool_->base()),
                      arena_bytes(*pool_));
  if (port_started_ || !probed_.empty()) rte_eth_dev_close(port_id_);
  if (!probed_.empty()) rte_vdev_uninit(probed_.c_str());
  // (Closing the device freed the frames it still held: every reference they kept to a
  // send buffer is back.)
  if (pool_ext_ != nullptr) rte_mempool_free(static_cast<rte_mempool*>(pool_ext_));
  if (extmem_) rte_extmem_unregister(pool_->base(), arena_bytes(*pool_));
  if (pool_mb_ != nullptr) rte_mempool_free(static_cast<rte_mempool*>(pool_mb_));
  if (pool_tx_ != nullptr && pool_tx_ != pool_mb_) rte_mempool_free(static_cast<rte_mempool*>(pool_tx_));
  if (pool_host_ != nullptr) rte_mempool_free(static_cast<rte_mempool*>(pool_host_));
  if (g_self == this) g_self = nullptr;
}

void DpdkTransport::abort_all() noexcept {
  // Every pcb of ours goes (RST), its callbacks cleared first so none runs.
  for (auto* l : listeners_) tcp_close(l);
  listeners_.clear();
  for (ConnId c = 0; c < conns_.size(); ++c) {
    Conn& k = conns_[c];
    if (k.pcb != nullptr) {
      tcp_arg(k.pcb, nullptr);
      tcp_recv(k.pcb, nullptr);
      tcp_sent(k.pcb, nullptr);
      tcp_err(k.pcb, nullptr);
      tcp_abort(k.pcb);
      k.pcb = nullptr;
    }
    drop_kept(k);
    unref_sends(k.sendq, k.sq_head, k.sq_len);
    k.sq_len = 0;
  }
  for (std::uint32_t i = 0; i < lingers_.size(); ++i)
    if (lingers_[i].in_use) end_linger(i, true);
  for (std::uint32_t i = 0; i < rx_slots_.size(); ++i)
    if (rx_slots_[i].in_use) free_slot(i);
}

// ---- listening and connecting ----------------------------------------------------

Result<std::uint16_t> DpdkTransport::listen(std::uint16_t port, int backlog, std::uint8_t tag) {
  tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
  if (pcb == nullptr) return make_error(Errc::kIo, "lwIP: no pcb for a listener", ENOMEM);
  ip_addr_t any = IPADDR4_INIT(cfg_.ipv4);
  if (err_t e = tcp_bind(pcb, &any, port); e != ERR_OK) {
    tcp_close(pcb);
    return make_error(Errc::kIo, "cannot bind the listener's port", static_cast<std::uint32_t>(errno_of(e)));
  }
  // Half-open connections take the listener's priority, the lowest: when lwIP's pcb pool
  // runs out, a dial of ours (normal priority) takes the pcb of one of them, never of a
  // connection (raised to normal when accepted). The backlog is not lwIP's to count
  // (see lwipopts.h): half-open ones are limited in admit_syn().
  tcp_setprio(pcb, TCP_PRIO_MIN);
  err_t e = ERR_OK;
  tcp_pcb* l = tcp_listen_with_backlog_and_err(pcb, static_cast<u8_t>(std::clamp(backlog, 1, 255)), &e);
  if (l == nullptr) {
    tcp_close(pcb);
    return make_error(Errc::kIo, "cannot listen", static_cast<std::uint32_t>(errno_of(e)));
  }
  tcp_arg(l, reinterpret_cast<void*>(static_cast<std::uintptr_t>(tag)));
  tcp_accept(l, Hooks::accepted);
  listeners_.push_back(l);
  return l->local_port;
}

void DpdkTransport::setup_pcb(ConnId c, tcp_pcb* pcb) {
  Conn& k = conns_[c];
  tcp_setprio(pcb, TCP_PRIO_NORMAL);  // (accepted: up from the listener's lowest)
  k.nrtx_seen = 0;
  tcp_arg(pcb, conn_arg(c));
  tcp_recv(pcb, Hooks::recv);
  tcp_sent(pcb, Hooks::sent);
  tcp_err(pcb, Hooks::error);
  tcp_nagle_disable(pcb);  // messages go out as they are written, as on the kernel sockets
  if (cfg_.keepalive_idle_ms != 0) {
    ip_set_option(pcb, SOF_KEEPALIVE);
    pcb->keep_idle = cfg_.keepalive_idle_ms;
    pcb->keep_intvl = cfg_.keepalive_interval_ms;
    pcb->keep_cnt = cfg_.keepalive_probes;
  }
  // The retransmission timer. lwIP starts a connection's RTT variance at its first RTO,
  // 3 s, and takes off a quarter per RTT sample (one per round trip), so a segment lost in
  // a connection's first dozen round trips waited 1 to 2 s for its timer. Here the
  // variance starts at two slow ticks (200 ms, the least RTO Linux uses) and a dial's
  // first RTO is 1 s (RFC 6298 2.1; lwIP: 3 s). An accepted connection already has the
  // SYN-ACK's sample: its RTO follows from it now.
  pcb->sv = kInitialRttVar;
  pcb->rto = static_cast<s16_t>(k.state == State::kConnecting ? 1000 / TCP_SLOW_INTERVAL : (pcb->sa >> 3) + pcb->sv);
  k.paused = k.eof_held = k.refusing = k.close_pending = k.in_retry = k.trusted = false;
  k.probed = k.recovering = k.rtt_timing = false;
  k.srtt_ns = 0;
  k.sq_head = k.sq_len = k.sq_write = 0;
  k.stash.clear();
  if (k.state == State::kOpen) cautious(pcb);
}

// acceptable: the peer's MSS and first window can carry a data segment with our options.
// (Smaller ones would make lwIP build segments its own checks refuse: Linux itself never
// goes below an MSS of 88.)
bool DpdkTransport::acceptable(tcp_pcb* pcb) noexcept {
  constexpr u16_t kMinMss = 88;
  if (pcb->mss >= kMinMss && pcb->snd_wnd_max >= 2u * kMinMss) return true;
  ++st_.refused_tiny_mss;
  return false;
}

// cautious: an unproven connection's window stays at what its SYN exchange offered
// (64 KiB) until trust_reads(), so a paused one holds at most that much here.
void DpdkTransport::cautious(tcp_pcb* pcb) noexcept {
  if (!cfg_.cautious_reads || !(pcb->flags & TF_WND_SCALE)) return;
  pcb->rcv_wnd = pcb->rcv_ann_wnd = kCautiousWindow;
  pcb->rcv_ann_right_edge = pcb->rcv_nxt + kCautiousWindow;
}

void DpdkTransport::trust_reads(ConnId c) {
  if (c >= conns_.size() || conns_[c].pcb == nullptr || !cfg_.cautious_reads || conns_[c].trusted) return;
  Conn& k = conns_[c];
  k.trusted = true;
  if (!k.paused) open_window(k.pcb);  // else when it resumes: a paused peer stays held back
}

// open_window: from the cautious window to the full one, as one window update.
void DpdkTransport::open_window(tcp_pcb* pcb) noexcept {
  if (!(pcb->flags & TF_WND_SCALE) || pcb->state != ESTABLISHED) return;
  const tcpwnd_size_t wider = TCP_WND_MAX(pcb) - kCautiousWindow;
  pcb->rcv_wnd = static_cast<tcpwnd_size_t>(std::min<std::uint64_t>(std::uint64_t{pcb->rcv_wnd} + wider, TCP_WND_MAX(pcb)));
  tcp_update_rcv_ann_wnd(pcb);
  tcp_ack_now(pcb);
}

Result<ConnId> DpdkTransport::connect(const net::PeerAddress& addr, const net::ConnectOptions& how) {
  if (!addr.is_ip()) return make_error(Errc::kIo, "the DPDK transport dials IP addresses only", EDESTADDRREQ);
  if (how.socks5 || how.sam || how.mptcp || !how.bind_device.empty() || how.bind_source)
    return make_error(Errc::kIo, "proxies, MPTCP and interface binding need the io_uring backend", EOPNOTSUPP);
  const auto& a = addr.addr();
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(a.data(), kMapped, 12) != 0)
    return make_error(Errc::kIo, "the DPDK transport speaks IPv4 only", EAFNOSUPPORT);
  if (free_.empty()) return make_error(Errc::kIo, "connection table full", EMFILE);
  tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
  if (pcb == nullptr) return make_error(Errc::kIo, "lwIP: no pcb", ENOMEM);
  ip_addr_t local = IPADDR4_INIT(cfg_.ipv4);
  if (err_t e = tcp_bind(pcb, &local, 0); e != ERR_OK) {
    tcp_abort(pcb);
    return make_error(Errc::kIo, "no local port free", static_cast<std::uint32_t>(errno_of(e)));
  }
  const ConnId c = free_.back();
  free_.pop_back();
  Conn& k = conns_[c];
  k.pcb = pcb;
  k.state = State::kConnecting;
  k.remote = addr;
  setup_pcb(c, pcb);
  ip_addr_t dst;
  std::uint32_t v4 = 0;
  std::memcpy(&v4, a.data() + 12, 4);
  ip_addr_set_ip4_u32(&dst, v4);
  if (err_t e = tcp_connect(pcb, &dst, addr.port(), Hooks::connected); e != ERR_OK) {
    tcp_arg(pcb, nullptr);
    tcp_err(pcb, nullptr);
    tcp_abort(pcb);
    k.pcb = nullptr;
    k.state = State::kFree;
    free_.push_back(c);
    return make_error(Errc::kIo, "cannot start the connection", static_cast<std::uint32_t>(errno_of(e)));
  }
  ++open_;
  return c;
}

net::PeerAddress DpdkTransport::remote(ConnId c) const noexcept {
  return c < conns_.size() ? conns_[c].remote : net::PeerAddress{};
}

// ---- receiving -------------------------------------------------------------------

void DpdkTransport::take_data(ConnId c, pbuf* p) {
  // One event per pbuf (one frame's payload): each is freed by its own release(). A
  // paused connection's bytes are copied aside instead (its window stays closed).
  Conn& k = conns_[c];
  touch(c);
  while (p != nullptr) {
    pbuf* next = p->next;
    if (next != nullptr) {  // detach: the chain's reference to `next` becomes ours
      p->next = nullptr;
      p->tot_len = p->len;
    }
    if (k.paused) {
      keep(k, ByteSpan(static_cast<const std::uint8_t*>(p->payload), p->len));
      pbuf_free(p);
    } else if (p->len == 0) {
      pbuf_free(p);
    } else {
      deliver(c, p, 0, p->len);
    }
    p = next;
  }
}

std::uint32_t DpdkTransport::take_slot(ConnId c, pbuf* p, std::uint32_t credit) {
  if (rx_free_.empty()) return ~0u;  // cannot happen: more slots than mbufs, pbufs and connections
  const std::uint32_t s = rx_free_.back();
  rx_free_.pop_back();
  RxSlot& r = rx_slots_[s];
  r.p = p;
  r.conn = c;
  r.gen = conns_[c].gen;
  r.credit = credit;
  r.in_use = true;
  return s;
}

void DpdkTransport::free_slot(std::uint32_t s) noexcept {
  RxSlot& r = rx_slots_[s];
  if (r.p != nullptr) pbuf_free(r.p);
  r.p = nullptr;
  r.owned.clear();  // (its capacity stays: the next stash reuses it)
  r.in_use = false;
  rx_free_.push_back(s);
}

void DpdkTransport::deliver(ConnId c, pbuf* p, std::uint32_t off, std::uint32_t credit) {
  const std::uint32_t s = take_slot(c, p, credit);
  if (s == ~0u) {
    Hooks::tcp_recved_all(conns_[c].pcb, credit);
    pbuf_free(p);
    ++st_.rx_dropped;
    return;
  }
  Event e;
  e.kind = EventKind::kData;
  e.conn = c;
  e.data = ByteSpan(static_cast<const std::uint8_t*>(p->payload) + off, p->len - off);
  e.buf_id = s;
  push(e);
}

void DpdkTransport::window_back(ConnId c, std::uint32_t gen, std::uint32_t n) {
  if (n == 0 || c >= conns_.size()) return;
  Conn& k = conns_[c];
  if (k.gen != gen || k.pcb == nullptr || k.state != State::kOpen) return;
  Hooks::tcp_recved_all(k.pcb, n);
}

void DpdkTransport::release(const Event& ev) {
  if (ev.kind != EventKind::kData || ev.buf_id >= rx_slots_.size()) return;
  RxSlot& s = rx_slots_[ev.buf_id];
  if (!s.in_use) return;
  window_back(s.conn, s.gen, s.credit);
  free_slot(ev.buf_id);
}

void DpdkTransport::keep(Conn& k, ByteSpan bytes) {
  k.stash.insert(k.stash.end(), bytes.begin(), bytes.end());
  held_bytes_ += bytes.size();
}

void DpdkTransport::hold(const Event& ev, std::size_t from) {
  if (ev.conn >= conns_.size()) return;
  Conn& k = conns_[ev.conn];
  k.paused = true;
  if (ev.kind != EventKind::kData || ev.buf_id >= rx_slots_.size()) return;
  RxSlot& s = rx_slots_[ev.buf_id];
  if (!s.in_use) return;
  // The bytes before `from` are consumed: their window comes back now. The rest is
  // copied aside, after what was kept before (the mbuf goes back to the pool at once),
  // and handed back by resume(); its window stays closed until that is released.
  if (s.gen == k.gen) {
    const std::size_t skip = std::min(from, ev.data.size());
    window_back(ev.conn, s.gen, static_cast<std::uint32_t>(skip));
    const ByteSpan rest = ev.data.subspan(skip);
    if (!rest.empty() && past_held_max(k, rest.size())) {
      // Past held_max: the frame waits as it is (no copy), its slot kept. (A poll can
      // hand out a whole receive ring of one connection's frames before it pauses.)
      s.credit = s.credit > skip ? s.credit - static_cast<std::uint32_t>(skip) : 0;
      Event e = ev;
      e.data = rest;
      k.kept_frames.push_back(e);
      return;
    }
    keep(k, rest);
  }
  free_slot(ev.buf_id);
}

std::uint32_t DpdkTransport::rto_ms(ConnId c) const noexcept {
  if (c >= conns_.size() || conns_[c].pcb == nullptr) return 0;
  return static_cast<std::uint32_t>(conns_[c].pcb->rto) * TCP_SLOW_INTERVAL;
}

// past_held_max: whether `n` more bytes of paused connection `k` would take it past
// held_max (or frames of its wait uncopied already, which must stay first); each spell
// of refusals is counted once.
bool DpdkTransport::past_held_max(Conn& k, std::size_t n) noexcept {
  if (k.kept_frames.empty() && held_bytes_ + n <= cfg_.held_max) return false;
  if (!k.refusing) ++st_.rx_refused_held;
  k.refusing = true;
  return true;
}

void DpdkTransport::resume(ConnId c) {
  if (c >= conns_.size()) return;
  Conn& k = conns_[c];
  if (!k.paused) return;
  k.paused = false;
  k.refusing = false;
  auto at = static_cast<std::ptrdiff_t>(q_head_);  // ahead of anything of this connection still queued
  if (!k.stash.empty()) {
    // The kept bytes as one event.
    const auto n = static_cast<std::uint32_t>(k.stash.size());
    const std::uint32_t s = take_slot(c, nullptr, n);
    if (s != ~0u) {
      held_bytes_ -= n;
      RxSlot& r = rx_slots_[s];
      r.owned.swap(k.stash);
      k.stash.clear();
      Event e;
      e.kind = EventKind::kData;
      e.conn = c;
      e.data = ByteSpan(r.owned.data(), r.owned.size());
      e.buf_id = s;
      q_.insert(q_.begin() + at++, e);
    }
  }
  for (const Event& e : k.kept_frames) q_.insert(q_.begin() + at++, e);  // then the frames kept as they were
  k.kept_frames.clear();
  if (k.trusted && k.pcb != nullptr) open_window(k.pcb);
  // What lwIP kept when held_max was reached comes next, after the kept bytes.
  if (k.pcb != nullptr && k.pcb->refused_data != nullptr) (void)tcp_process_refused_data(k.pcb);
  if (k.eof_held) {
    k.eof_held = false;
    linger_or_close(c);
    finish(c, 0, false);
  }
}

void DpdkTransport::drop_kept(Conn& k) noexcept {
  held_bytes_ -= k.stash.size();
  k.stash.clear();
  for (const Event& e : k.kept_frames) free_slot(e.buf_id);
  k.kept_frames.clear();
}

// ---- sending ---------------------------------------------------------------------

SharedBuf* DpdkTransport::alloc(std::size_t n) {
  if (pool_ != nullptr)
    if (SharedBuf* b = pool_->alloc(n)) return b;
  return SharedBuf::make_uninit(n);
}

Status DpdkTransport::send(ConnId c, SharedBuf* buf, std::uint64_t tag) {
  if (c >= conns_.size() || conns_[c].state == State::kFree || conns_[c].state == State::kClosed)
    return make_error(Errc::kIo, "no such connection", ENOTCONN);
  Conn& k = conns_[c];
  if (k.sq_len == k.sendq.size()) return make_error(Errc::kIo, "send queue full", EAGAIN);
  if (buf->bytes().empty()) {  // nothing for the peer to acknowledge: done now
    Event e;
    e.kind = EventKind::kSent;
    e.conn = c;
    e.user = tag;
    push(e);
    return Ok{};
  }
  buf->ref();
  const auto cap = static_cast<std::uint32_t>(k.sendq.size());
  k.sendq[(k.sq_head + k.sq_len) % cap] = PendingSend{buf, tag, 0, 0};
  ++k.sq_len;
  if (k.state == State::kOpen) pump(c);
  return Ok{};
}

// pump: hand lwIP as much of the queue as it should hold, without copying. Per
// connection, what lwIP holds unacknowledged stays within the peer's window plus
// 256 KiB (lwIP's segment pool is shared by every connection: one slow peer must not
// take it), and the pool always keeps a reserve for handshakes, FINs and other
// connections; past either, the rest waits here and goes when ACKs come.
void DpdkTransport::pump(ConnId c) {
  Conn& k = conns_[c];
  if (k.pcb == nullptr || k.state != State::kOpen) return;
  constexpr std::uint32_t kSegReserve = 4096;
  const auto cap = static_cast<std::uint32_t>(k.sendq.size());
  bool wrote = false;
  while (k.sq_write < k.sq_len) {
    PendingSend& s = k.sendq[(k.sq_head + k.sq_write) % cap];
    const ByteSpan b = s.buf->bytes();
    if (s.written == b.size()) {
      ++k.sq_write;
      continue;
    }
    const std::uint64_t in_lwip = TCP_SND_BUF - k.pcb->snd_buf;
    const std::uint64_t allowed = std::max<std::uint64_t>(std::uint64_t{k.pcb->snd_wnd} + (256u << 10), 256u << 10);
    const std::uint32_t room = tcp_sndbuf(k.pcb);
    if (room == 0 || in_lwip >= allowed) break;  // the next ACK pumps again
    const auto n = static_cast<u16_t>(std::min<std::uint64_t>({b.size() - s.written, room, kWriteChunk, allowed - in_lwip}));
    const std::uint32_t segs = n / TCP_MSS + 2;  // each segment: a header pbuf and a payload pbuf
    const auto* seg_stats = lwip_stats.memp[MEMP_TCP_SEG];
    if (tcp_sndqueuelen(k.pcb) + 2 * segs >= TCP_SND_QUEUELEN ||
        seg_stats->used + segs + kSegReserve > MEMP_NUM_TCP_SEG) {
      if (seg_stats->used + segs + kSegReserve > MEMP_NUM_TCP_SEG && !k.in_retry) {
        k.in_retry = true;  // the pool is low: again at the next poll
        retry_.push_back(c);
      }
      break;
    }
    const bool more = s.written + n < b.size() || k.sq_write + 1 < k.sq_len;
    const err_t e = tcp_write(k.pcb, b.data() + s.written, n, more ? TCP_WRITE_FLAG_MORE : 0);
    if (e == ERR_MEM) {  // lwIP's memory is short: again at the next poll
      if (!k.in_retry) {
        k.in_retry = true;
        retry_.push_back(c);
      }
      break;
    }
    if (e != ERR_OK) break;  // the connection is closing: its error callback follows
    s.written += n;
    wrote = true;
  }
  if (wrote) touch(c);  // tcp_output at the end of the poll (or flush())
}

void DpdkTransport::touch(ConnId c) {
  Conn& k = conns_[c];
  if (k.touched) return;
  k.touched = true;
  touched_.push_back(c);
}

void DpdkTransport::on_acked(ConnId c, std::uint32_t n) {
  Conn& k = conns_[c];
  on_progress(c);
  const auto cap = static_cast<std::uint32_t>(k.sendq.size());
  // The peer acknowledges in order, oldest send first: kSent once all of one's bytes are.
  while (n > 0 && k.sq_len > 0) {
    PendingSend& s = k.sendq[k.sq_head];
    const auto size = static_cast<std::uint32_t>(s.buf->bytes().size());
    const std::uint32_t take = std::min(size - s.acked, n);
    s.acked += take;
    n -= take;
    if (s.acked < size) break;
    Event e;
    e.kind = EventKind::kSent;
    e.conn = c;
    e.user = s.tag;
    push(e);
    s.buf->unref();
    k.sq_head = (k.sq_head + 1) % cap;
    --k.sq_len;
    if (k.sq_write > 0) --k.sq_write;
  }
  pump(c);
}

void DpdkTransport::unref_sends(std::vector<PendingSend>& q, std::uint32_t head, std::uint32_t len) noexcept {
  const auto cap = static_cast<std::uint32_t>(q.size());
  for (std::uint32_t i = 0; i < len; ++i) q[(head + i) % cap].buf->unref();
}

// flush: every touched connection's output. Between two connections, what was read off
// the device meanwhile goes to lwIP (input_stash): a fan-out's flights are thousands of
// frames, sending them takes milliseconds, and the ACKs that come back meanwhile
// overflowed the stash (and then the device's ring) when they waited for the next poll.
// Their ACKs can touch more connections: the list is walked by index as it grows.
void DpdkTransport::flush() noexcept {
  for (std::size_t i = 0; i < touched_.size(); ++i) {
    const ConnId c = touched_[i];
    Conn& k = conns_[c];
    k.touched = false;
    if (k.pcb != nullptr) {
      if (k.pcb->flags & TF_ACK_DELAY) tcp_ack_now(k.pcb);  // what this poll received, acknowledged now
      tcp_output(k.pcb);
      after_output(c);
    }
    input_stash();
  }
  touched_.clear();
  tx_flush();
}

// ---- loss: the tail-loss probe ---------------------------------------------------
//
// lwIP 2.1.3 recovers a loss by fast retransmit (three duplicate ACKs, which a flight's
// last segments never get, and which lwIP does not count when the ACKs also move the
// peer's window edge, as a reading Linux peer's do) or by its retransmission timer
// (200 ms at least: two of its 100 ms ticks). So a fan-out that lost the end of a
// flight waited 200 ms or more for every such peer. The probe, after RFC 8985's TLP,
// with what lwIP lets us see (no SACK scoreboard):
//  - when a connection has two or more segments unacknowledged and neither has an ACK
//    moved nor new data gone for max(2 × its round trip, 10 ms), its first two
//    unacknowledged segments are resent, once until an ACK moves again. Two, because a
//    Linux peer acknowledges two full segments at once but may hold its ACK for one
//    that arrives in order by 40 ms or more. (A flight of one segment is left to the
//    timer: the peer may hold its ACK for a lone segment up to 200 ms, and a probe
//    would race it.)
//  - when an ACK then covers what the probe resent but falls short of what had been sent
//    before the probe, the rest of that flight was lost too (a lost tail): all of it is
//    resent at once (lwIP's go-back-N, without collapsing the window to one segment as
//    its timer does), and the congestion window is halved as a fast retransmit halves it.
// The round trip is timed here, one segment at a time (lwIP's is in 100 ms ticks),
// leaving out any that a probe resent (Karn). lwIP's own timer and its retransmission
// count (nrtx, which scales its timer) are left as they were: it still has the last word.

// after_output: after lwIP sent what it could for connection c: mark it for
// probe_tails while anything is unacknowledged (new data sent starts its wait again,
// as a TLP's timer is re-armed), and time a round trip if none is.
void DpdkTransport::after_output(ConnId c) noexcept {
  Conn& k = conns_[c];
  const tcp_pcb* pcb = k.pcb;
  if (pcb->unacked == nullptr) return;
  const std::uint64_t now = now_ns();  // (this connection's own: a flush can take a while)
  if (!k.probe_listed) {
    k.probe_listed = true;
    k.progress_ns = now;
    probe_list_.push_back(c);
  } else if (pcb->snd_nxt != k.sent_nxt) {
    k.progress_ns = now;
  }
  k.sent_nxt = pcb->snd_nxt;
  if (!k.rtt_timing) {
    k.rtt_timing = true;
    k.rtt_seq = pcb->snd_nxt;
    k.rtt_t0_ns = now;
  }
}

// on_progress: an ACK moved (lwIP's sent callback): a round trip's end, and a probe's
// answer.
void DpdkTransport::on_progress(ConnId c) noexcept {
  Conn& k = conns_[c];
  tcp_pcb* pcb = k.pcb;
  const std::uint64_t now = now_ns();
  k.progress_ns = now;
  k.probed = false;
  if (k.rtt_timing && TCP_SEQ_GEQ(pcb->lastack, k.rtt_seq)) {
    k.rtt_timing = false;
    const std::uint64_t sample = now - k.rtt_t0_ns;
    k.srtt_ns = k.srtt_ns == 0 ? sample : k.srtt_ns - k.srtt_ns / 8 + sample / 8;
  }
  if (!k.recovering) return;
  if (pcb->unacked == nullptr || TCP_SEQ_GEQ(pcb->lastack, k.recover) || (pcb->flags & (TF_RTO | TF_INFR)) != 0) {
    k.recovering = false;
    return;
  }
  if (TCP_SEQ_LT(pcb->lastack, k.probe_end)) return;  // (an ACK sent before the probe's segments arrived)
  k.recovering = false;
  // Past what the probe resent, short of the flight it followed: the rest of it is lost.
  if (tcp_rexmit_rto_prepare(pcb) != ERR_OK) return;  // (a segment still with the device: the timer will do)
  pcb->ssthresh = std::max<tcpwnd_size_t>(std::min<tcpwnd_size_t>(pcb->cwnd, pcb->snd_wnd) / 2, 2u * pcb->mss);
  pcb->cwnd = pcb->ssthresh;
  k.rtt_timing = false;
  ++st_.tcp_probe_recoveries;
  touch(c);  // (sent at the end of the poll: this runs inside lwIP's input)
}

// probe_tails: every millisecond, over the connections with data in flight.
void DpdkTransport::probe_tails(std::uint64_t now) noexcept {
  for (std::size_t i = 0; i < probe_list_.size();) {
    const ConnId c = probe_list_[i];
    Conn& k = conns_[c];
    tcp_pcb* pcb = k.pcb;
    if (pcb == nullptr || pcb->unacked == nullptr) {
      k.probe_listed = false;
      probe_list_[i] = probe_list_.back();
      probe_list_.pop_back();
      continue;
    }
    ++i;
    if (k.probed || k.srtt_ns == 0 || (pcb->flags & (TF_RTO | TF_INFR)) != 0 || pcb->snd_wnd == 0) continue;
    if (pcb->state != ESTABLISHED && pcb->state != CLOSE_WAIT) continue;
    if (pcb->unacked->next == nullptr && pcb->unsent == nullptr) continue;  // one segment: the timer's
    if (now < k.progress_ns || now - k.progress_ns < std::max(2 * k.srtt_ns, kProbeFloorNs)) continue;
    const u8_t nrtx = pcb->nrtx;
    const tcp_seg* first = pcb->unacked;
    const tcp_seg* second = first->next;
    std::uint32_t end = lwip_ntohl(first->tcphdr->seqno) + TCP_TCPLEN(first);
    if (tcp_rexmit(pcb) != ERR_OK) continue;
    ++probe_resends_;
    if (second != nullptr && tcp_rexmit(pcb) == ERR_OK) {  // (the first went to unsent: the second leads unacked)
      ++probe_resends_;
      end = lwip_ntohl(second->tcphdr->seqno) + TCP_TCPLEN(second);
    }
    pcb->nrtx = nrtx;
    k.probed = k.recovering = true;
    k.recover = pcb->snd_nxt;
    k.probe_end = end;
    k.rtt_timing = false;
    ++st_.tcp_loss_probes;
    touch(c);
  }
}

// setup_zero_copy: whether frames can go out from the send buffers themselves, and if so
// the buffers made known to DPDK (and to the device's IOMMU mapping, where it has one).
bool DpdkTransport::setup_zero_copy(const void* vinfo) noexcept {
  const auto& info = *static_cast<const rte_eth_dev_info*>(vinfo);
  if (!cfg_.zero_copy) return zc_why_ = "off in the configuration", false;
  if (pool_ == nullptr) return zc_why_ = "no send buffer pool", false;
  if ((info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) == 0) return zc_why_ = "the device takes frames only whole", false;
  if (rte_eal_iova_mode() != RTE_IOVA_VA)
    return zc_why_ = "DMA addresses are physical (IOVA as PA; VFIO with an IOMMU gives IOVA as VA)", false;
  const std::size_t len = arena_bytes(*pool_);
  if (rte_extmem_register(pool_->base(), len, nullptr, 0, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))) != 0)
    return zc_why_ = "DPDK cannot register the send buffers (rte_extmem_register)", false;
  extmem_ = true;
  if (info.device != nullptr) {
    if (rte_dev_dma_map(info.device, pool_->base(), reinterpret_cast<std::uintptr_t>(pool_->base()), len) == 0)
      dma_dev_ = info.device;
    else if (rte_errno != ENOTSUP)
      return zc_why_ = "the device cannot map the send buffers for DMA (rte_dev_dma_map)", false;
  }
  return true;
}

// output_pieces: a frame as a chain of mbufs: what lwIP made (the headers) and any piece
// outside the send buffers copied into direct mbufs; each piece of a send buffer (a
// segment's payload) an mbuf attached to those bytes, holding a reference to the buffer
// until the device has sent it. Nothing of a message is copied here. A piece with no
// data-less mbuf left is copied instead.
// count_timeouts: lwIP counts only fast retransmissions (MIB2); a retransmission timeout
// shows as a rise in the pcb's nrtx (reset by the next new ACK), at most one per slow
// timer tick. Looked at right after each tick, every open connection's rise is one.
void DpdkTransport::count_timeouts() noexcept {
  tcp_ticks_seen_ = tcp_ticks;
  for (Conn& k : conns_) {
    if (k.pcb == nullptr) continue;
    if (k.pcb->nrtx > k.nrtx_seen) st_.tcp_timeouts += k.pcb->nrtx - k.nrtx_seen;
    k.nrtx_seen = k.pcb->nrtx;
  }
}

// admit_syn: whether a SYN to a listener may open a half-open connection. lwIP puts new
// pcbs at the head of its active list, so the last half-open one found is the oldest.
// One pass over the list per SYN: at most a few thousand pcbs, paid only for SYNs.
bool DpdkTransport::admit_syn(const void* src_ip) noexcept {
  const auto* src = static_cast<const ip_addr_t*>(src_ip);
  std::uint32_t half_open = 0, from_src = 0;
  tcp_pcb* oldest = nullptr;
  for (tcp_pcb* q = tcp_active_pcbs; q != nullptr; q = q->next) {
    if (q->state != SYN_RCVD) continue;
    ++half_open;
    oldest = q;
    if (ip_addr_cmp(&q->remote_ip, src)) ++from_src;
  }
  // (Only under pressure: one host opening many connections at once is no attack.)
  if (half_open >= cfg_.half_open_max / 4 && from_src >= cfg_.half_open_per_source) {
    ++st_.syn_refused_per_source;
    return false;
  }
  if (half_open >= cfg_.half_open_max && oldest != nullptr) {
    tcp_abandon(oldest, 0);  // no RST: the source may be someone else's address
    ++st_.syn_evicted;
  }
  return true;
}

static_assert(std::is_same_v<err_t, std::int8_t>);
std::int8_t DpdkTransport::output_pieces(pbuf* p) noexcept {
  auto* tx = static_cast<rte_mempool*>(pool_tx_);
  rte_mbuf* head = rte_pktmbuf_alloc(tx);
  if (head == nullptr) {
    ++st_.no_mbuf;
    ++st_.tx_dropped;
    return ERR_MEM;
  }
  auto fail = [&](err_t e) {
    rte_pktmbuf_free(head);
    ++st_.tx_dropped;
    return e;
  };
  std::uint64_t copied = 0;
  for (pbuf* q = p; q != nullptr; q = q->next) {
    if (q->len == 0) continue;
    SharedBuf* owner = pool_->holder(q->payload);
    rte_mbuf* e = owner != nullptr ? rte_pktmbuf_alloc(static_cast<rte_mempool*>(pool_ext_)) : nullptr;
    if (e != nullptr) {
      auto* sh = static_cast<rte_mbuf_ext_shared_info*>(rte_mbuf_to_priv(e));
      sh->free_cb = ext_unref;
      sh->fcb_opaque = owner;
      rte_mbuf_ext_refcnt_set(sh, 1);
      owner->ref();
      rte_pktmbuf_attach_extbuf(e, q->payload, reinterpret_cast<std::uintptr_t>(q->payload), q->len, sh);
      e->data_len = q->len;
      e->pkt_len = q->len;
      if (rte_pktmbuf_chain(head, e) != 0) {
        rte_pktmbuf_free(e);
        return fail(ERR_BUF);
      }
      continue;
    }
    char* dst = rte_pktmbuf_append(head, q->len);  // into the chain's last mbuf, if direct and with room
    if (dst == nullptr) {
      rte_mbuf* d = rte_pktmbuf_alloc(tx);
      if (d == nullptr) {
        ++st_.no_mbuf;
        return fail(ERR_MEM);
      }
      if (rte_pktmbuf_chain(head, d) != 0) {
        rte_pktmbuf_free(d);
        return fail(ERR_BUF);
      }
      dst = rte_pktmbuf_append(head, q->len);
      if (dst == nullptr) return fail(ERR_BUF);  // a piece larger than an mbuf: never made by TCP at our MSS
    }
    std::memcpy(dst, q->payload, q->len);
    copied += q->len;
  }
  if (tx_.size() >= kTxQueueMax) return fail(ERR_MEM);
  st_.copied_tx_bytes += copied;
  st_.tx_bytes += p->tot_len;
  tx_.push_back(head);
  if (tx_.size() >= kBurst) tx_flush();
  return ERR_OK;
}

void DpdkTransport::tx_flush() noexcept {
  std::size_t done = 0;
  while (done < tx_.size()) {
    const auto want = static_cast<std::uint16_t>(std::min<std::size_t>(tx_.size() - done, kBurst));
    const std::uint16_t n = rte_eth_tx_burst(port_id_, 0, reinterpret_cast<rte_mbuf**>(tx_.data() + done), want);
    st_.tx_packets += n;
    done += n;
    if (n != 0) stash_rx();
    if (n < want) break;  // the device's ring is full: the rest go at the next poll
  }
  tx_.erase(tx_.begin(), tx_.begin() + static_cast<std::ptrdiff_t>(done));
}

// ---- closing ---------------------------------------------------------------------

// linger_or_close: the connection's pcb leaves it. Sends lwIP holds but the peer has not
// acknowledged stay referenced by a lingering close until it has (or linger_ms passed);
// sends never handed to lwIP are dropped now. Bytes received and not read count as read
// (as a kernel socket's close does): otherwise lwIP answers the close with a reset
// instead of a FIN. Returns true when it had to abort the pcb.
bool DpdkTransport::linger_or_close(ConnId c) {
  Conn& k = conns_[c];
  drop_kept(k);
  tcp_pcb* pcb = k.pcb;
  k.pcb = nullptr;
  k.in_retry = false;  // (left in retry_: skipped there, no pcb)
  const auto cap = static_cast<std::uint32_t>(k.sendq.size());
  // Sends with bytes in lwIP: the first sq_write, and the one being written if begun.
  std::uint32_t in_lwip = k.sq_write;
  if (in_lwip < k.sq_len && k.sendq[(k.sq_head + in_lwip) % cap].written > 0) ++in_lwip;
  for (std::uint32_t i = in_lwip; i < k.sq_len; ++i) k.sendq[(k.sq_head + i) % cap].buf->unref();
  k.sq_len = in_lwip;
  if (pcb == nullptr) {
    unref_sends(k.sendq, k.sq_head, k.sq_len);
    k.sq_len = 0;
    return false;
  }
  tcp_recv(pcb, Hooks::recv);
  pcb->rcv_wnd = TCP_WND_MAX(pcb);
  bool all_acked = true;
  for (std::uint32_t j = 0; j < k.sq_len; ++j) {
    const PendingSend& s = k.sendq[(k.sq_head + j) % cap];
    all_acked &= s.acked == s.written;
  }
  if (k.sq_len == 0 || all_acked) {
    unref_sends(k.sendq, k.sq_head, k.sq_len);
    k.sq_len = 0;
    tcp_arg(pcb, nullptr);
    tcp_sent(pcb, nullptr);
    tcp_err(pcb, nullptr);
    tcp_recv(pcb, nullptr);
    if (tcp_close(pcb) == ERR_OK) return false;
    tcp_abort(pcb);  // no memory for the FIN
    return true;
  }
  const std::uint32_t i = linger_free_.back();  // never empty: one per pcb lwIP can have
  linger_free_.pop_back();
  Linger& l = lingers_[i];
  l.in_use = true;
  l.pcb = pcb;
  l.deadline_ns = now_ns() + cfg_.linger_ms * 1'000'000u;
  if (l.bufs.size() != k.sendq.size()) l.bufs.resize(k.sendq.size());
  l.head = 0;
  l.len = 0;
  for (std::uint32_t j = 0; j < k.sq_len; ++j) l.bufs[l.len++] = k.sendq[(k.sq_head + j) % cap];
  k.sq_len = 0;
  ++st_.lingering;
  tcp_arg(pcb, linger_arg(i));
  if (tcp_close(pcb) == ERR_OK) return false;
  end_linger(i, true);
  return true;
}

// alive: `pcb` is still one of lwIP's (a lingering close's pcb can leave without a callback:
// the last ACK of a LAST-ACK, or TIME-WAIT's end).
static bool alive(const tcp_pcb* pcb) noexcept {
  for (const tcp_pcb* p = tcp_active_pcbs; p != nullptr; p = p->next)
    if (p == pcb) return true;
  for (const tcp_pcb* p = tcp_tw_pcbs; p != nullptr; p = p->next)
    if (p == pcb) return true;
  return false;
}

void DpdkTransport::end_linger(std::uint32_t i, bool abort) {
  Linger& l = lingers_[i];
  if (!l.in_use) return;
  if (l.pcb != nullptr && !alive(l.pcb)) l.pcb = nullptr;
  if (l.pcb != nullptr) {
    tcp_arg(l.pcb, nullptr);
    tcp_sent(l.pcb, nullptr);
    tcp_err(l.pcb, nullptr);
    tcp_recv(l.pcb, nullptr);
    if (abort) {
      ++st_.linger_aborted;
      tcp_abort(l.pcb);
    }
    // otherwise lwIP finishes the close (FIN exchange, TIME-WAIT) on its own
    l.pcb = nullptr;
  }
  unref_sends(l.bufs, l.head, l.len);
  l.len = 0;
  l.in_use = false;
  --st_.lingering;
  linger_free_.push_back(i);
}

void DpdkTransport::expire_lingers(std::uint64_t now) {
  if (st_.lingering == 0) return;
  for (std::uint32_t i = 0; i < lingers_.size(); ++i)
    if (lingers_[i].in_use && now >= lingers_[i].deadline_ns) end_linger(i, true);
}

// finish: the connection is over for the application: kClosed (or kConnectFailed), its
// id free once that event has been handed out.
void DpdkTransport::finish(ConnId c, int err, bool connect_failed) {
  Conn& k = conns_[c];
  if (k.state == State::kFree || k.state == State::kClosed) return;
  drop_kept(k);
  unref_sends(k.sendq, k.sq_head, k.sq_len);
  k.sq_len = k.sq_write = 0;
  k.state = State::kClosed;
  k.close_pending = true;
  ++k.gen;  // its received buffers no longer give window back
  --open_;
  Event e;
  e.kind = connect_failed ? EventKind::kConnectFailed : EventKind::kClosed;
  e.conn = c;
  e.err = err;
  push(e);
}

void DpdkTransport::close(ConnId c) {
  if (c >= conns_.size()) return;
  Conn& k = conns_[c];
  if (k.state == State::kFree || k.state == State::kClosed) return;
  const bool connecting = k.state == State::kConnecting;
  if (connecting && k.pcb != nullptr) {
    tcp_arg(k.pcb, nullptr);
    tcp_err(k.pcb, nullptr);
    tcp_abort(k.pcb);
    k.pcb = nullptr;
  }
  linger_or_close(c);
  finish(c, 0, connecting);  // a dial given up: a failed connect (err 0), as on io_uring
}

// ---- the loop --------------------------------------------------------------------

void DpdkTransport::push(const Event& e) { q_.push_back(e); }

// input_burst: a bounded number of bursts from the device's ring, each after the frames
// read while sending (those came first: handing them to lwIP later than what is still in
// the ring would reorder the peers' segments).
void DpdkTransport::input_burst() {
  rte_mbuf* ms[kBurst];
  for (std::uint32_t round = 0; round < kMaxRxBurstsPerPoll; ++round) {
    input_stash();
    const std::uint16_t n = rte_eth_rx_burst(port_id_, 0, ms, kBurst);
    st_.rx_packets += n;
    for (std::uint16_t i = 0; i < n; ++i) input_frame(ms[i]);
    if (n < kBurst) break;
  }
  host_exchange();
}

// input_stash: the frames read while sending, to lwIP (outside lwIP's own calls only).
void DpdkTransport::input_stash() noexcept {
  while (!rx_stash_.empty()) {
    rx_run_.swap(rx_stash_);  // (lwIP's output, run by these frames, may stash more)
    for (void* m : rx_run_) input_frame(m);
    rx_run_.clear();
  }
}

// stash_rx: frames read off the device without handing them to lwIP (this runs inside
// lwIP's output). A poll can send thousands of frames (every connection's window, and
// each ACK lwIP takes lets it send more); meanwhile the peers' ACKs keep arriving, and a
// device ring left unread for that long overflows (AF_PACKET's 512 frames did: the last
// ACKs of a connection lost, its sender waited for the retransmission timer; AF_XDP's
// socket ring lost ~20 % of the frames received in a 2 MiB fan-out to 15 peers). So each
// burst sent also takes what has arrived.
void DpdkTransport::stash_rx() noexcept {
  for (;;) {
    if (rx_stash_.size() + kBurst > kRxStashMax) {
      ++st_.rx_stash_full;  // (the device's ring is left to fill until lwIP takes the stash)
      return;
    }
    rte_mbuf* ms[kBurst];
    const std::uint16_t n = rte_eth_rx_burst(port_id_, 0, ms, kBurst);
    st_.rx_packets += n;
    rx_stash_.insert(rx_stash_.end(), ms, ms + n);
    if (n < kBurst) return;
  }
}

void DpdkTransport::input_frame(void* frame) {
  auto* m = static_cast<rte_mbuf*>(frame);
  if (host_started_ && !frame_is_relays(rte_pktmbuf_mtod(m, const std::uint8_t*), m->data_len, cfg_.ipv4)) {
    if (to_host_.size() < to_host_.capacity()) {
      to_host_.push_back(m);
    } else {
      rte_pktmbuf_free(m);
      ++st_.host_dropped;
    }
    return;
  }
  if (m->nb_segs != 1) {
    ++st_.rx_dropped;
    rte_pktmbuf_free(m);
    return;
  }
  auto* nif = static_cast<netif*>(netif_);
  auto* rp = static_cast<RxPbuf*>(rte_mbuf_to_priv(m));
  rp->pc.custom_free_function = rx_pbuf_free;
  const auto len = static_cast<u16_t>(m->data_len);
  pbuf* p = pbuf_alloced_custom(PBUF_RAW, len, PBUF_REF, &rp->pc, rte_pktmbuf_mtod(m, void*), len);
  if (nif->input(p, nif) != ERR_OK) {
    ++st_.rx_dropped;
    pbuf_free(p);
  }
}

std::size_t DpdkTransport::poll(std::span<Event> evs, int timeout_ms) {
  // The ids whose kClosed the last poll handed out: the caller has handled them now.
  // (Not before: a flush() of the caller's, in the middle of that batch, can take in a
  // new connection, which must not get an id the caller still knows as the old one.)
  free_.insert(free_.end(), free_next_.begin(), free_next_.end());
  free_next_.clear();
  flush();  // what the caller queued since the last poll goes now
  const std::uint64_t start = now_ns();
  const std::uint64_t until = start + static_cast<std::uint64_t>(std::max(timeout_ms, 0)) * 1'000'000u;
  std::uint64_t pass_start = start;  // when this pass over the device, timers and retries began
  for (;;) {
    if (q_head_ == q_.size()) {
      q_.clear();
      q_head_ = 0;
      input_burst();
      const std::uint32_t ms = sys_now();
      if (ms != last_timer_ms_) {
        last_timer_ms_ = ms;
        sys_check_timeouts();
        if (tcp_ticks != tcp_ticks_seen_) count_timeouts();  // (the slow timer ran: retransmission timeouts)
        const std::uint64_t now = now_ns();
        probe_tails(now);
        expire_lingers(now);
      }
      if (!retry_.empty()) {  // (pump() may queue a connection again: into the other list)
        retry_run_.swap(retry_);
        for (ConnId c : retry_run_) {
          conns_[c].in_retry = false;
          pump(c);
        }
        retry_run_.clear();
      }
      flush();
    }
    if (q_head_ < q_.size()) break;
    const std::uint64_t now = now_ns();
    // Frames moved either way are activity too (ACKs make no events, but more come),
    // and frames read while sending are work already here: no sleep over either.
    if (st_.rx_packets != frames_seen_ || st_.tx_packets != frames_sent_seen_ || !rx_stash_.empty()) {
      frames_seen_ = st_.rx_packets;
      frames_sent_seen_ = st_.tx_packets;
      last_activity_ns_ = now;
      sleep_us_ = 0;
    } else {
      st_.idle_poll_ns += now - pass_start;  // a pass that found nothing: polling, not work
    }
    pass_start = now;
    if (now >= until) return 0;
    // Idle: spin a little (packets come in trains), then sleep in growing steps.
    if (now - last_activity_ns_ < std::uint64_t{cfg_.idle_spin_us} * 1000u) continue;
    sleep_us_ = sleep_us_ == 0 ? 10 : std::min(sleep_us_ * 2, cfg_.idle_sleep_max_us);
    const std::uint64_t nap = std::min<std::uint64_t>(std::uint64_t{sleep_us_} * 1000u, until - now);
    timespec ts{static_cast<time_t>(nap / 1'000'000'000u), static_cast<long>(nap % 1'000'000'000u)};
    ::nanosleep(&ts, nullptr);
    ++st_.idle_sleeps;
    pass_start = now_ns();  // (asleep: no CPU)
  }
  last_activity_ns_ = now_ns();
  sleep_us_ = 0;
  std::size_t n = 0;
  while (n < evs.size() && q_head_ < q_.size()) {
    const Event& e = q_[q_head_++];
    evs[n++] = e;
    if (e.kind == EventKind::kClosed || e.kind == EventKind::kConnectFailed) {
      Conn& k = conns_[e.conn];
      if (k.close_pending) {  // handed out: the id may be used again once the caller has seen it
        k.close_pending = false;
        k.state = State::kFree;
        free_next_.push_back(e.conn);
      }
    }
  }
  return n;
}

DpdkStats DpdkTransport::stats() const noexcept {
  DpdkStats s = st_;
  s.tcp_retransmits = lwip_stats.mib2.tcpretranssegs - probe_resends_;  // (lwIP counts the probes' resends too)
  s.tcp_checksum_errors = lwip_stats.tcp.chkerr;
  s.tcp_drops = lwip_stats.tcp.drop;
  s.ip_drops = lwip_stats.ip.drop;
  s.arp_requests_answered = lwip_stats.etharp.xmit;
  s.icmp_echo_answered = lwip_stats.icmp.xmit;
  if (rte_eth_stats es{}; port_started_ && rte_eth_stats_get(port_id_, &es) == 0) s.rx_missed = es.imissed;
  if (xdp_statistics xs{}; xsk_fd_ >= 0) {
    socklen_t len = sizeof xs;
    if (::getsockopt(xsk_fd_, SOL_XDP, XDP_STATISTICS, &xs, &len) == 0) {
      s.xdp_rx_ring_full = xs.rx_ring_full;
      s.xdp_fill_ring_empty = xs.rx_fill_ring_empty_descs;
      s.xdp_tx_invalid = xs.tx_invalid_descs;
    }
  }
  s.rx_held_bytes = held_bytes_;
  s.mbufs_free = pool_mb_ != nullptr ? rte_mempool_avail_count(static_cast<const rte_mempool*>(pool_mb_)) : 0;
  return s;
}

}  // namespace relay::dp

extern "C" signed char relay_lwip_tcp_inpacket(tcp_pcb* pcb, tcp_hdr* hdr, u16_t, u16_t, u8_t*, pbuf*) {
  if (pcb->state != LISTEN || (TCPH_FLAGS(hdr) & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN) return ERR_OK;
  relay::dp::DpdkTransport* t = relay::dp::DpdkTransport::Hooks::self();
  return t == nullptr || t->admit_syn(ip_current_src_addr()) ? ERR_OK : ERR_ABRT;  // (lwIP frees the dropped segment)
}

namespace relay::dp {

std::string DpdkTransport::describe() const {
  char ip[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &cfg_.ipv4, ip, sizeof ip);
  char out[512];
  const std::string host = host_started_ ? "; frames not for this address go to the host's interface " + cfg_.host_iface : "";
  std::snprintf(out, sizeof out, "port %u (%s, %s) as %s/%u, %u mbufs, lwIP %s%s%s%s", port_id_, driver_.c_str(), mac_.c_str(),
                ip, cfg_.prefix_len, cfg_.mbufs != 0 ? cfg_.mbufs : mbufs_for(cfg_.max_conns), LWIP_VERSION_STRING,
                steered_ ? "; XDP steers only this address to the relay, the rest stays the kernel's" : "", host.c_str(),
                pool_tx_ == pool_mb_ ? "; frames are sent from the UMEM (no copy by the driver)"
                : zero_copy_         ? "; messages are sent from their buffers (zero copy)"
                                     : ("; each frame is copied whole (" + zc_why_ + ")").c_str());
  return out;
}

}  // namespace relay::dp
