#include "dataplane/transport/uring/uring_transport.hpp"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "relay/net/sam.hpp"
#include "relay/net/socks5.hpp"
#include "relay/shm/cnc.hpp"

namespace relay::dp {

namespace {

// liburing 2.3 predates these kernel flags; the values are the kernel ABI.
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

enum Op : std::uint64_t { kOpAccept = 1, kOpRecv = 2, kOpSend = 3, kOpConnect = 4, kOpSendZc = 5, kOpCancel = 6, kOpDlgSend = 7 };
constexpr std::uint16_t kBufGroup = 0;
constexpr std::uint32_t kStashBuf = ~std::uint32_t{0};  // buf_id of a kData event made from a stash

// user_data: op (8 bits) | generation (24 bits) | connection (32 bits)
std::uint64_t pack(Op op, std::uint32_t gen, ConnId c) {
  return (std::uint64_t{op} << 56) | (std::uint64_t{gen & 0xffffff} << 32) | c;
}
Op op_of(std::uint64_t u) { return static_cast<Op>(u >> 56); }
std::uint32_t gen_of(std::uint64_t u) { return static_cast<std::uint32_t>((u >> 32) & 0xffffff); }
ConnId conn_of(std::uint64_t u) { return static_cast<ConnId>(u); }

Error sys_error(const char* what) { return make_error(Errc::kIo, what, static_cast<std::uint32_t>(errno)); }

}  // namespace

UringTransport::UringTransport(const UringConfig& cfg) : cfg_(cfg), ring_(std::make_unique<io_uring>()) {}

Result<std::unique_ptr<UringTransport>> UringTransport::create(const UringConfig& cfg) {
  if (cfg.max_conns == 0 || cfg.buf_count == 0 || (cfg.buf_count & (cfg.buf_count - 1)) != 0 ||
      cfg.buf_count > 32768 || cfg.buf_size == 0 || cfg.max_queued_sends == 0)
    return make_error(Errc::kBadValue, "invalid io_uring transport configuration");
  std::unique_ptr<UringTransport> t(new UringTransport(cfg));
  RELAY_TRY(t->init());
  return t;
}

Status UringTransport::init() {
  // Prefer SINGLE_ISSUER|DEFER_TASKRUN (completions run in our poll, not in interrupts);
  // fall back one flag at a time and say what the kernel lacked.
  // The ring starts disabled (R_DISABLED): it is registered and restricted before any
  // operation can be submitted, then enabled (end of init).
  const unsigned attempts[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_SINGLE_ISSUER, 0};
  int rc = -EINVAL;
  for (unsigned disabled : {unsigned{IORING_SETUP_R_DISABLED}, 0u}) {
    for (unsigned flags : attempts) {
      io_uring_params p{};
      p.flags = flags | disabled;
      rc = io_uring_queue_init_params(cfg_.sq_entries, ring_.get(), &p);
      if (rc == 0) {
        features_.single_issuer = (flags & IORING_SETUP_SINGLE_ISSUER) != 0;
        features_.defer_taskrun = (flags & IORING_SETUP_DEFER_TASKRUN) != 0;
        ring_disabled_ = disabled != 0;
        break;
      }
      if (rc != -EINVAL) break;
    }
    if (rc != -EINVAL) break;
  }
  if (rc != 0) {
    errno = -rc;
    return sys_error("io_uring_queue_init failed (is io_uring disabled?)");
  }
  ring_ok_ = true;
  if (!features_.defer_taskrun) features_.missing += "IORING_SETUP_DEFER_TASKRUN ";
  if (!features_.single_issuer) features_.missing += "IORING_SETUP_SINGLE_ISSUER ";

  rc = io_uring_register_files_sparse(ring_.get(), cfg_.max_conns);
  if (rc != 0) {
    errno = -rc;
    return sys_error("cannot register the file table");
  }

  // The provided-buffer ring: entries in page-aligned memory, registered by hand.
  br_map_sz_ = cfg_.buf_count * sizeof(io_uring_buf);
  void* m = ::mmap(nullptr, br_map_sz_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return sys_error("cannot map the buffer ring");
  br_ = static_cast<io_uring_buf_ring*>(m);
  io_uring_buf_ring_init(br_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br_);
  reg.ring_entries = cfg_.buf_count;
  reg.bgid = kBufGroup;
  rc = io_uring_register_buf_ring(ring_.get(), &reg, 0);
  if (rc != 0) {
    errno = -rc;
    return sys_error("cannot register the provided-buffer ring");
  }
  // Populated now, like the send pool: no page fault on a receive, and the memory the
  // receive buffers take is resident from the start (a fixed part of the footprint, not
  // something that grows as more connections bring more bytes).
  void* b = ::mmap(nullptr, std::size_t{cfg_.buf_count} * cfg_.buf_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (b == MAP_FAILED) return sys_error("cannot map the receive buffers");
  bufs_ = static_cast<std::uint8_t*>(b);
  const int mask = io_uring_buf_ring_mask(cfg_.buf_count);
  for (std::uint32_t i = 0; i < cfg_.buf_count; ++i)
    io_uring_buf_ring_add(br_, bufs_ + std::size_t{i} * cfg_.buf_size, cfg_.buf_size, static_cast<unsigned short>(i),
                          mask, static_cast<int>(i));
  io_uring_buf_ring_advance(br_, static_cast<int>(cfg_.buf_count));

  conns_.resize(cfg_.max_conns);
  for (auto& c : conns_) {
    c.sendq.resize(std::bit_ceil(std::max<std::uint32_t>(cfg_.max_queued_sends, 1)));  // (a mask for the index)
    c.stash.reserve(cfg_.buf_size);
  }
  free_.reserve(cfg_.max_conns);
  for (std::uint32_t i = cfg_.max_conns; i > 0; --i) free_.push_back(i - 1);
  backlog_.reserve(64);
  setup_send_pool();
  return restrict_and_enable();
}

// restrict_and_enable: allow only what the transport submits, then start the ring.
Status UringTransport::restrict_and_enable() {
  if (!ring_disabled_) {  // a kernel without R_DISABLED (before 5.10): no restrictions either
    features_.missing += "io_uring-restrictions ";
    return Ok{};
  }
  io_uring_restriction r[16] = {};
  unsigned n = 0;
  for (std::uint8_t op : {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_CONNECT, IORING_OP_SEND, IORING_OP_SEND_ZC,
                          IORING_OP_ASYNC_CANCEL}) {
    r[n].opcode = IORING_RESTRICTION_SQE_OP;
    r[n++].sqe_op = op;
  }
  for (std::uint8_t op : {IORING_REGISTER_FILES_UPDATE, IORING_REGISTER_FILES_UPDATE2}) {
    r[n].opcode = IORING_RESTRICTION_REGISTER_OP;
    r[n++].register_op = op;
  }
  r[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
  r[n++].sqe_flags = IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  // (The raw system call: Debian's liburing 2.3 does not export its wrappers for these.)
  const int fd = ring_->ring_fd;
  if (::syscall(__NR_io_uring_register, fd, IORING_REGISTER_RESTRICTIONS, r, n) == 0) features_.restricted = true;
  else features_.missing += "io_uring-restrictions ";
  if (::syscall(__NR_io_uring_register, fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) != 0)
    return sys_error("cannot enable the io_uring ring");
  return Ok{};
}

int UringTransport::submit_op_for_test(std::uint8_t opcode) {
  io_uring_sqe* s = sqe();
  if (s == nullptr) return -EBUSY;
  io_uring_prep_rw(opcode, s, -1, nullptr, 0, 0);
  s->user_data = ~0ull;
  io_uring_submit(ring_.get());
  io_uring_cqe* cqe = nullptr;
  if (io_uring_wait_cqe(ring_.get(), &cqe) != 0 || cqe == nullptr) return -EIO;
  const int res = cqe->user_data == ~0ull ? cqe->res : -EPROTO;
  io_uring_cqe_seen(ring_.get(), cqe);
  return res;
}

UringTransport::~UringTransport() {
  for (ConnId c = 0; c < conns_.size(); ++c) {
    Conn& k = conns_[c];
    if (!k.in_use) continue;
    if (k.fd >= 0) ::close(k.fd);
    for (std::uint32_t i = 0; i < k.sq_len; ++i) k.queued(i).buf->unref();
  }
  // The ring's pending accepts hold each listening socket until the kernel's teardown of
  // the ring (asynchronous, after queue_exit returns) cancels them. shutdown() takes the
  // socket out of LISTEN now, so the port is free when the destructor returns.
  for (const int fd : listen_fds_) {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
  if (ring_ok_) io_uring_queue_exit(ring_.get());
  for (auto& r : zc_recs_)  // the ring is gone: the kernel has let go of every buffer
    if (r.buf != nullptr) r.buf->unref();
  if (br_ != nullptr) ::munmap(br_, br_map_sz_);
  if (bufs_ != nullptr) ::munmap(bufs_, std::size_t{cfg_.buf_count} * cfg_.buf_size);
}

io_uring_sqe* UringTransport::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(ring_.get());
  if (s == nullptr) {  // queue full: flush it and retry once
    io_uring_submit(ring_.get());
    s = io_uring_get_sqe(ring_.get());
  }
  return s;
}

const MptcpSupport& UringTransport::mptcp() {
  if (!mptcp_) {
    mptcp_ = probe_mptcp();
    mptcp_zc_ = mptcp_->zerocopy;
  }
  return *mptcp_;
}

int UringTransport::mptcp_socket() {
  const int fd = mptcp().available ? ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP) : -1;
  if (fd < 0 && features_.missing.find("mptcp ") == std::string::npos) features_.missing += "mptcp ";
  return fd;
}

Result<std::uint16_t> UringTransport::listen(const sockaddr_in6& addr, int backlog, std::uint8_t tag, bool mptcp) {
  int fd = mptcp ? mptcp_socket() : -1;
  const bool is_mptcp = fd >= 0;
  if (fd < 0) fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("socket() failed");
  int one = 1, zero = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, backlog) != 0) {
    auto e = sys_error("cannot bind/listen on the p2p address");
    ::close(fd);
    return e;
  }
  sockaddr_in6 bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  listen_fds_.push_back(fd);
  listen_tags_.push_back(tag);
  listen_mptcp_.push_back(is_mptcp);
  arm_accept(static_cast<std::uint32_t>(listen_fds_.size() - 1));
  return static_cast<std::uint16_t>(ntohs(bound.sin6_port));
}

void UringTransport::arm_accept(std::uint32_t listener) {
  io_uring_sqe* s = sqe();
  if (s == nullptr) return;
  io_uring_prep_multishot_accept(s, listen_fds_[listener], nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, pack(kOpAccept, 0, listener));
}

Result<ConnId> UringTransport::adopt(int fd, bool connecting, const sockaddr_in6* peer, bool mptcp_asked) {
  if (free_.empty()) {
    ::close(fd);
    return make_error(Errc::kLimit, "connection table full");
  }
  ConnId c = free_.back();
  free_.pop_back();
  Conn& k = conns_[c];
  k.fd = fd;
  k.in_use = true;
  k.connecting = connecting;
  k.closing = false;
  k.recv_armed = false;
  k.inflight = 0;
  k.close_err = 0;
  k.sq_head = k.sq_len = 0;
  k.sent_off = 0;
  k.lowat = k.lowat_want = 1;  // a fresh socket's SO_RCVLOWAT
  k.paused = false;
  k.eof_held = false;
  k.one_read = cfg_.cautious_reads;
  k.stash_out = k.close_after_stash = false;
  drop_stash(k);
  k.dlg.reset();
  k.dlg_in.clear();
  k.dlg_out.clear();
  k.dlg_out_off = 0;
  k.target.reset();
  k.dlg_since_ns = 0;
  k.mptcp_asked = mptcp_asked;
  if (peer != nullptr) k.peer = *peer;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (cfg_.notsent_lowat != 0) {
    const int lowat = static_cast<int>(cfg_.notsent_lowat);
    ::setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);  // (an MPTCP socket may refuse it)
  }
  int rc = io_uring_register_files_update(ring_.get(), c, &fd, 1);
  if (rc != 1) {
    k.in_use = false;
    ::close(fd);
    k.fd = -1;
    free_.push_back(c);
    errno = rc < 0 ? -rc : EIO;
    return sys_error("cannot install the socket in the file table");
  }
  ++open_;
  return c;
}

void UringTransport::arm_recv(ConnId c) {
  Conn& k = conns_[c];
  io_uring_sqe* s = sqe();
  if (s == nullptr) return begin_close(c, ENOMEM);
  if (k.one_read) io_uring_prep_recv(s, static_cast<int>(c), nullptr, cfg_.buf_size, 0);  // one buffer, then stop
  else io_uring_prep_recv_multishot(s, static_cast<int>(c), nullptr, 0, 0);
  s->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  s->buf_group = kBufGroup;
  io_uring_sqe_set_data64(s, pack(kOpRecv, k.gen, c));
  k.recv_armed = true;
  ++k.inflight;
}

// connect: a socket made as `how` says — MPTCP (plain TCP when the kernel has no MPTCP:
// noted in features().missing), bound to a device and/or a source address — then an
// asynchronous connect, to the peer or to the SOCKS5 proxy that reaches it. Names are
// refused without a proxy: this transport resolves nothing.
Result<ConnId> UringTransport::connect(const net::PeerAddress& to, const net::ConnectOptions& how) {
  const auto addr = how.sam      ? net::to_sockaddr(net::PeerAddress::ip(how.sam->addr, how.sam->port))
                    : how.socks5 ? net::to_sockaddr(net::PeerAddress::ip(how.socks5->addr, how.socks5->port))
                                 : net::to_sockaddr(to);
  if (!addr) return make_error(Errc::kBadValue, "cannot connect to a name without a proxy", EDESTADDRREQ);
  int fd = how.mptcp ? mptcp_socket() : -1;
  const bool is_mptcp = fd >= 0;
  if (fd < 0) fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("socket() failed");
  int zero = 0;
  ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (!how.bind_device.empty() &&
      ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, how.bind_device.c_str(), static_cast<socklen_t>(how.bind_device.size())) != 0) {
    const Error e = sys_error("cannot bind to the device (SO_BINDTODEVICE)");
    ::close(fd);
    return e;
  }
  if (how.bind_source) {
    const auto src = net::to_sockaddr(net::PeerAddress::ip(*how.bind_source, 0));
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&*src), sizeof *src) != 0) {
      const Error e = sys_error("cannot bind to the source address");
      ::close(fd);
      return e;
    }
  }
  auto c = adopt(fd, true, &*addr, is_mptcp);
  if (!c.ok()) return c;
  Conn& k = conns_[*c];
  if (how.sam) {  // an I2P peer, or (accept) a wait for one, through the SAM bridge
    if (!how.sam->accept) {
      k.target = to;
      k.dlg = std::make_unique<net::sam::Connect>(how.sam->session, to);
    } else {
      k.dlg = std::make_unique<net::sam::Accept>(how.sam->session);
    }
  } else if (how.socks5) {
    k.target = to;
    k.dlg = std::make_unique<net::socks5::Client>(to, how.socks5->login);
  }
  if (k.dlg) {
    k.dlg_since_ns = shm::monotonic_ns();
    dialoguing_.push_back(*c);
  }
  io_uring_sqe* s = sqe();
  if (s == nullptr) {
    begin_close(*c, ENOMEM);
    return make_error(Errc::kIo, "submission queue full");
  }
  io_uring_prep_connect(s, static_cast<int>(*c), reinterpret_cast<const sockaddr*>(&k.peer), sizeof k.peer);
  s->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(s, pack(kOpConnect, k.gen, *c));
  ++k.inflight;
  return c;
}

void UringTransport::flush() noexcept {
  if (io_uring_sq_ready(ring_.get()) != 0) io_uring_submit(ring_.get());
}

Status UringTransport::set_option(ConnId c, int level, int name, const void* value, socklen_t len) {
  const int fd = native_fd(c);
  if (fd < 0) return make_error(Errc::kBadValue, "no such connection");
  if (::setsockopt(fd, level, name, value, len) != 0) return sys_error("setsockopt failed");
  return Ok{};
}

Status UringTransport::send(ConnId c, SharedBuf* buf, std::uint64_t tag) {
  if (c >= conns_.size() || !conns_[c].in_use || conns_[c].closing) return make_error(Errc::kBadValue, "no such connection");
  Conn& k = conns_[c];
  if (k.sq_len >= cfg_.max_queued_sends) return make_error(Errc::kLimit, "send queue full");
  buf->ref();
  k.queued(k.sq_len) = PendingSend{buf, tag};
  ++k.sq_len;
  if (k.sq_len == 1 && !k.connecting) submit_send(c);
  return Ok{};
}

// The send pool: mapped once, registered as fixed buffer 0. Sends from it are zero-copy
// sends of registered memory (IORING_OP_SEND_ZC with IORING_RECVSEND_FIXED_BUF): no
// per-send page pinning, and with a real NIC no copy at all (on loopback and veth the
// kernel copies; that is its choice, not ours). If the kernel refuses the registration
// (RLIMIT_MEMLOCK) or the first zero-copy send, the pool is still used — no allocation per
// message — and sends are plain.
void UringTransport::setup_send_pool() {
  if (cfg_.send_pool.empty()) return;
  auto pool = BufPool::create(cfg_.send_pool);
  if (!pool.ok()) {
    features_.missing += "send-buffer-pool ";
    return;
  }
  pool_ = std::move(*pool);
  iovec iov{pool_->base(), pool_->size()};
  if (io_uring_register_buffers(ring_.get(), &iov, 1) != 0) {
    features_.missing += "registered-buffers(RLIMIT_MEMLOCK?) ";
    return;
  }
  features_.fixed_buffers = true;
  zc_recs_.resize(4096);
  zc_free_.reserve(zc_recs_.size());
  for (std::uint32_t i = static_cast<std::uint32_t>(zc_recs_.size()); i > 0; --i) zc_free_.push_back(i - 1);
}

SharedBuf* UringTransport::alloc(std::size_t n) {
  if (pool_) {
    if (SharedBuf* b = pool_->alloc(n); b != nullptr) return b;
  }
  return SharedBuf::make_uninit(n);
}

void UringTransport::submit_send(ConnId c) {
  Conn& k = conns_[c];
  const PendingSend& p = k.sendq[k.sq_head];
  ByteSpan b = p.buf->bytes().subspan(k.sent_off);
  io_uring_sqe* s = sqe();
  if (s == nullptr) return begin_close(c, ENOMEM);
  if (features_.fixed_buffers && (mptcp_zc_ || !k.mptcp_asked) && b.size() >= cfg_.zc_min_bytes && pool_->owns(b.data()) &&
      !zc_free_.empty()) {
    // Zero-copy from registered buffer 0. The buffer must outlive the kernel's use of
    // it, which ends with a notification CQE: the record holds a reference until then.
    const std::uint32_t r = zc_free_.back();
    zc_free_.pop_back();
    p.buf->ref();
    zc_recs_[r] = ZcRec{p.buf, c, k.gen};
    io_uring_prep_send_zc_fixed(s, static_cast<int>(c), b.data(), b.size(), MSG_NOSIGNAL, 0, 0);
    s->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(s, pack(kOpSendZc, 0, r));
    ++k.inflight;
    ++fixed_sends_;
    return;
  }
  io_uring_prep_send(s, static_cast<int>(c), b.data(), b.size(), MSG_NOSIGNAL);
  s->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(s, pack(kOpSend, k.gen, c));
  ++k.inflight;
}

void UringTransport::push_event(const Event& e) { backlog_.push_back(e); }

Event UringTransport::pop_backlog() {
  const Event e = backlog_.front();
  backlog_.erase(backlog_.begin());
  if ((e.kind == EventKind::kClosed || e.kind == EventKind::kConnectFailed) && e.conn < conns_.size() &&
      conns_[e.conn].close_pending) {
    conns_[e.conn].close_pending = false;
    free_.push_back(e.conn);
  }
  return e;
}

// begin_close: shut the socket down so in-flight operations complete; the connection is
// finished (and kClosed emitted) when the last one has.
void UringTransport::begin_close(ConnId c, int err) {
  Conn& k = conns_[c];
  if (!k.in_use || k.closing) return;
  k.closing = true;
  k.close_err = err;
  ::shutdown(k.fd, SHUT_RDWR);
  if (k.inflight == 0) finish_close(c);
}

void UringTransport::finish_close(ConnId c) {
  Conn& k = conns_[c];
  int minus_one = -1;
  io_uring_register_files_update(ring_.get(), c, &minus_one, 1);
  ::close(k.fd);
  k.fd = -1;
  for (std::uint32_t i = 0; i < k.sq_len; ++i) k.queued(i).buf->unref();
  k.sq_len = 0;
  // A stash not yet handed out goes with the connection; one the application holds as an
  // event's data stays until that event is released (before the next poll reuses the slot).
  for (auto it = backlog_.begin(); it != backlog_.end(); ++it)
    if (it->conn == c && it->kind == EventKind::kData && it->buf_id == kStashBuf) {
      backlog_.erase(it);
      k.stash_out = false;
      break;
    }
  if (!k.stash_out) drop_stash(k);
  k.paused = false;
  k.close_after_stash = false;
  k.dlg.reset();
  k.in_use = false;
  ++k.gen;  // stale completions for this slot are ignored
  --open_;
  // The id is free for a new connection only once this close has been handed out: an
  // accept reusing it in the same poll would otherwise come before the close of the old
  // one, and the application would close the new connection.
  k.close_pending = true;
  Event e;
  e.kind = k.connecting ? EventKind::kConnectFailed : EventKind::kClosed;
  e.conn = c;
  e.err = k.close_err;
  push_event(e);
}

void UringTransport::close(ConnId c) {
  if (c < conns_.size()) begin_close(c, 0);
}

void UringTransport::release(const Event& ev) {
  if (ev.kind != EventKind::kData) return;
  if (ev.conn >= conns_.size()) return;
  Conn& k = conns_[ev.conn];
  if (ev.buf_id == kStashBuf) {
    if (!k.stash_out) return;
    k.stash_out = false;
    drop_stash(k);
    if (k.close_after_stash && k.in_use) {
      k.close_after_stash = false;
      return begin_close(ev.conn, 0);
    }
  } else {
    release_buf(ev.buf_id);
  }
  // A cautious connection reads its next buffer once this one is dealt with.
  if (k.in_use && !k.closing && !k.paused && !k.recv_armed) arm_recv(ev.conn);
}

void UringTransport::release_buf(std::uint32_t bid) noexcept {
  io_uring_buf_ring_add(br_, bufs_ + std::size_t{bid} * cfg_.buf_size, cfg_.buf_size, static_cast<unsigned short>(bid),
                        io_uring_buf_ring_mask(cfg_.buf_count), 0);
  io_uring_buf_ring_advance(br_, 1);
}

// The stash: a paused connection's kept bytes, copied out of the provided buffers (which
// go back to the ring at once). Its capacity (one buffer) is reserved at start-up; more
// is allocated only for what a greedy receive completed before its cancel, and given
// back when the stash empties.
void UringTransport::keep(Conn& k, ByteSpan bytes) {
  k.stash.insert(k.stash.end(), bytes.begin(), bytes.end());
  held_bytes_ += bytes.size();
}

void UringTransport::drop_stash(Conn& k) noexcept {
  held_bytes_ -= k.stash.size();
  k.stash.clear();
  if (k.stash.capacity() > cfg_.buf_size) {
    Bytes fresh;
    fresh.reserve(cfg_.buf_size);
    k.stash.swap(fresh);
  }
}

void UringTransport::hold(const Event& ev, std::size_t from) {
  if (ev.kind != EventKind::kData) return;
  if (ev.conn >= conns_.size() || !conns_[ev.conn].in_use || conns_[ev.conn].closing) return release(ev);
  Conn& k = conns_[ev.conn];
  from = std::min(from, ev.data.size());
  if (ev.buf_id == kStashBuf) {
    // Held again from the stash it came from: keep its tail in place.
    const auto start = static_cast<std::size_t>(ev.data.data() - k.stash.data()) + from;
    held_bytes_ -= start;
    k.stash.erase(k.stash.begin(), k.stash.begin() + static_cast<long>(start));
    k.stash_out = false;
    if (k.close_after_stash) {
      k.close_after_stash = false;
      k.eof_held = true;
    }
  } else {
    keep(k, ev.data.subspan(from));
    release_buf(ev.buf_id);
  }
  if (k.paused) return;
  k.paused = true;
  if (!k.recv_armed) return;
  io_uring_sqe* s = sqe();
  if (s == nullptr) return begin_close(ev.conn, ENOMEM);
  io_uring_prep_cancel64(s, pack(kOpRecv, k.gen, ev.conn), 0);
  io_uring_sqe_set_data64(s, pack(kOpCancel, k.gen, ev.conn));
  ++k.inflight;
}

void UringTransport::resume(ConnId c) {
  if (c >= conns_.size() || !conns_[c].in_use || !conns_[c].paused) return;
  Conn& k = conns_[c];
  k.paused = false;
  // What was kept goes out first (the backlog leads every poll), then reading resumes;
  // the stash is let go when that event is released.
  if (!k.stash.empty()) {
    k.stash_out = true;
    push_event(Event{EventKind::kData, c, 0, ByteSpan(k.stash.data(), k.stash.size()), kStashBuf, 0});
    if (k.eof_held) {  // the peer's close follows its bytes
      k.eof_held = false;
      k.close_after_stash = true;
      return;
    }
  }
  if (k.eof_held) return begin_close(c, 0);
  if (!k.recv_armed && !k.closing && (!k.one_read || k.stash.empty())) arm_recv(c);
}

void UringTransport::trust_reads(ConnId c) {
  if (c >= conns_.size() || !conns_[c].in_use) return;
  conns_[c].one_read = false;  // the next arm is multishot
}

// handle_cqe: translate one completion; returns false when `evs` is full and the
// completion was not consumed.
bool UringTransport::handle_cqe(const io_uring_cqe* cqe, std::span<Event> evs, std::size_t& n) {
  if (n == evs.size()) return false;
  const std::uint64_t ud = cqe->user_data;
  const int res = cqe->res;
  const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  const Op op = op_of(ud);

  if (op == kOpAccept) {
    const std::uint32_t listener = conn_of(ud);
    if (listener >= listen_fds_.size()) return true;
    if (res >= 0) {
      sockaddr_in6 peer{};
      socklen_t len = sizeof peer;
      ::getpeername(res, reinterpret_cast<sockaddr*>(&peer), &len);
      auto c = adopt(res, false, &peer, listen_mptcp_[listener]);
      if (c.ok()) {
        arm_recv(*c);
        evs[n++] = Event{EventKind::kAccepted, *c, 0, {}, 0, listen_tags_[listener]};
      }
    }
    if (!more) arm_accept(listener);
    return true;
  }

  Op kind = op;
  ConnId c = conn_of(ud);
  std::uint32_t gen = gen_of(ud);
  if (op == kOpSendZc) {
    if (c >= zc_recs_.size() || zc_recs_[c].buf == nullptr) return true;
    ZcRec& r = zc_recs_[c];
    const std::uint32_t rec = c;
    auto done_with_rec = [&] {
      r.buf->unref();
      r.buf = nullptr;
      zc_free_.push_back(rec);
    };
    if (cqe->flags & IORING_CQE_F_NOTIF) {  // the kernel no longer reads the buffer
      done_with_rec();
      return true;
    }
    c = r.conn;
    gen = r.gen & 0xffffff;
    kind = kOpSend;  // the result: handled like any send
    if (!more) done_with_rec();  // no notification follows (e.g. the send failed early)
    if (res == -EOPNOTSUPP || res == -EINVAL) {
      // This kernel cannot send zero-copy: plain sends from now on, and this one again
      // (nothing was sent). A socket of MPTCP's refusing it (a fallback included: the
      // listener's plain TCP subflow refuses it too) says so of MPTCP's sockets only.
      const bool on_mptcp = c < conns_.size() && conns_[c].in_use && conns_[c].mptcp_asked;
      if (on_mptcp) {
        mptcp_zc_ = false;
      } else {
        if (features_.fixed_buffers) features_.missing += "IORING_OP_SEND_ZC(fixed) ";
        features_.fixed_buffers = false;
      }
      if (c < conns_.size() && conns_[c].in_use && (conns_[c].gen & 0xffffff) == gen) {
        --conns_[c].inflight;
        if (!conns_[c].closing) submit_send(c);
        else if (conns_[c].inflight == 0) finish_close(c);
      }
      return true;
    }
  }
  if (c >= conns_.size()) return true;
  Conn& k = conns_[c];
  const bool stale = !k.in_use || gen != (k.gen & 0xffffff);
  if (stale) {
    // A buffer selected for a connection that is gone still has to go back.
    if (kind == kOpRecv && res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
      Event tmp;
      tmp.kind = EventKind::kData;
      tmp.buf_id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
      release(tmp);
    }
    return true;
  }

  // The end of a proxy's handshake reports the connection and the peer's first bytes.
  if (kind == kOpRecv && k.dlg && n + 2 > evs.size()) return false;

  switch (kind) {
    case kOpRecv: {
      if (!more) {
        k.recv_armed = false;
        --k.inflight;
      }
      if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER) && k.dlg && !k.closing) {
        // The proxy's answer: kept until the dialogue has used it, the buffer goes back.
        const std::uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        dialogue_bytes(c, ByteSpan(bufs_ + std::size_t{bid} * cfg_.buf_size, static_cast<std::size_t>(res)), evs, n);
        release_buf(bid);
        if (!more && !k.closing && !k.paused && !k.recv_armed) arm_recv(c);
      } else if (res == 0 && k.dlg) {
        begin_close(c, net::dial_error(net::DialErrSource::kDialogue, static_cast<int>(net::DialogueFail::kClosed)));
      } else if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
        std::uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        Event e{EventKind::kData, c, 0, ByteSpan(bufs_ + std::size_t{bid} * cfg_.buf_size, static_cast<std::size_t>(res)),
                bid, 0};
        if (k.closing) {
          release_buf(bid);
        } else if (k.paused) {  // completed before the cancel
          keep(k, e.data);
          release_buf(bid);
        } else {
          evs[n++] = e;
        }
        // A cautious connection's next read is armed when this buffer is released.
        if (!more && !k.closing && !k.paused && !k.one_read) arm_recv(c);
      } else if (res == -ENOBUFS) {
        ++recv_nobufs_;  // every buffer is with the application: re-arm and wait
        if (!more && !k.closing && !k.paused) arm_recv(c);
      } else if (res == -ECANCELED) {
        // hold() cancelled it; resumed meanwhile: read on.
        if (!more && !k.closing && !k.paused) arm_recv(c);
      } else if (res == 0 && k.paused) {
        k.eof_held = true;  // the peer's close comes after what is kept, at resume()
      } else {
        begin_close(c, res < 0 ? -res : 0);  // 0 = orderly EOF
      }
      break;
    }
    case kOpCancel: --k.inflight; break;
    case kOpConnect: {
      --k.inflight;
      if (res < 0) {
        begin_close(c, -res);
        break;
      }
      if (k.closing) break;
      arm_recv(c);
      if (k.dlg) {  // connected to the proxy: its handshake first
        if (Bytes first = k.dlg->opening(); !first.empty()) dialogue_send(c, std::move(first));
        break;
      }
      k.connecting = false;
      evs[n++] = Event{EventKind::kConnected, c, 0, {}, 0, 0};
      if (k.sq_len > 0) submit_send(c);
      break;
    }
    case kOpDlgSend: {
      --k.inflight;
      if (k.closing) break;
      if (res < 0) {
        begin_close(c, -res);
        break;
      }
      k.dlg_out_off += static_cast<std::size_t>(res);
      if (k.dlg_out_off < k.dlg_out.size()) dialogue_send(c, {});  // short write: the rest
      break;
    }
    case kOpSend: {
      --k.inflight;
      if (k.closing) break;
      if (res < 0) {
        begin_close(c, -res);
        break;
      }
      PendingSend& p = k.sendq[k.sq_head];
      k.sent_off += static_cast<std::size_t>(res);
      if (k.sent_off < p.buf->bytes().size()) {  // short write: send the rest
        submit_send(c);
        break;
      }
      evs[n++] = Event{EventKind::kSent, c, 0, {}, 0, p.tag};
      p.buf->unref();
      k.sq_head = (k.sq_head + 1) & k.sq_mask();
      --k.sq_len;
      k.sent_off = 0;
      if (k.sq_len > 0) submit_send(c);
      break;
    }
    default: break;
  }
  if (k.in_use && k.closing && k.inflight == 0) finish_close(c);
  return true;
}

// dialogue_send: write `bytes` for the connection's dialogue (empty: the rest of what is
// being written). One write at a time: a dialogue waits for each answer.
void UringTransport::dialogue_send(ConnId c, Bytes bytes) {
  Conn& k = conns_[c];
  if (!bytes.empty()) {
    k.dlg_out = std::move(bytes);
    k.dlg_out_off = 0;
  }
  io_uring_sqe* s = sqe();
  if (s == nullptr) return begin_close(c, ENOMEM);
  io_uring_prep_send(s, static_cast<int>(c), k.dlg_out.data() + k.dlg_out_off, k.dlg_out.size() - k.dlg_out_off,
                     MSG_NOSIGNAL);
  s->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(s, pack(kOpDlgSend, k.gen, c));
  ++k.inflight;
}

// dialogue_bytes: the middleman's answer, as far as it has come.
void UringTransport::dialogue_bytes(ConnId c, ByteSpan in, std::span<Event> evs, std::size_t& n) {
  Conn& k = conns_[c];
  k.dlg_in.insert(k.dlg_in.end(), in.begin(), in.end());
  for (;;) {
    net::Dialogue::Step st = k.dlg->on_bytes(k.dlg_in);
    k.dlg_in.erase(k.dlg_in.begin(), k.dlg_in.begin() + static_cast<long>(std::min(st.consumed, k.dlg_in.size())));
    if (st.state == net::Dialogue::State::kFailed) {
      ++dialogues_failed_;
      return begin_close(c, st.err);
    }
    if (!st.send.empty()) dialogue_send(c, std::move(st.send));
    if (st.state == net::Dialogue::State::kDone) return connection_ready(c, evs, n);
    if (st.consumed == 0 || k.dlg_in.empty()) break;
  }
  if (k.dlg_in.size() > k.dlg->max_input()) {
    ++dialogues_failed_;
    begin_close(c, net::dial_error(net::DialErrSource::kDialogue, static_cast<int>(net::DialogueFail::kTooLong)));
  }
}

// connection_ready: the dialogue is over; the connection is the peer's from here on
// (two event slots are free: the report, and the peer's bytes that came with the end).
void UringTransport::connection_ready(ConnId c, std::span<Event> evs, std::size_t& n) {
  Conn& k = conns_[c];
  const std::unique_ptr<net::Dialogue> d = std::move(k.dlg);
  if (auto p = d->peer()) k.target = *p;
  k.connecting = false;
  evs[n++] = Event{d->inbound() ? EventKind::kAccepted : EventKind::kConnected, c, 0, {}, 0, 0};
  if (!k.dlg_in.empty()) {
    keep(k, k.dlg_in);
    k.dlg_in.clear();
    k.stash_out = true;
    evs[n++] = Event{EventKind::kData, c, 0, ByteSpan(k.stash.data(), k.stash.size()), kStashBuf, 0};
  }
  Bytes().swap(k.dlg_in);
  Bytes().swap(k.dlg_out);
  if (k.sq_len > 0) submit_send(c);
}

// expire_dialogues: a middleman that has not finished its handshake in time fails the
// connection (a proxy that accepted and went silent would otherwise hold it forever).
void UringTransport::expire_dialogues() {
  const std::uint64_t now = shm::monotonic_ns();
  std::size_t keep_n = 0;
  for (const ConnId c : dialoguing_) {
    Conn& k = conns_[c];
    if (!k.in_use || !k.dlg) continue;  // done, or closed
    if (!k.dlg->waits() && now - k.dlg_since_ns > cfg_.dialogue_timeout_ms * 1000000ull && !k.closing) {
      ++dialogues_failed_;
      begin_close(c, net::dial_error(net::DialErrSource::kDialogue, static_cast<int>(net::DialogueFail::kTimedOut)));
      continue;
    }
    dialoguing_[keep_n++] = c;
  }
  dialoguing_.resize(keep_n);
}

void UringTransport::wake_after(ConnId c, std::size_t bytes) noexcept {
  if (c >= conns_.size() || !conns_[c].in_use) return;
  Conn& k = conns_[c];
  // TCP caps it at half the receive buffer itself; 1 MiB keeps it an int here.
  k.lowat_want = static_cast<std::uint32_t>(std::clamp<std::size_t>(bytes, 1, 1 << 20));
  if (k.lowat_want != k.lowat && !k.lowat_queued) {
    k.lowat_queued = true;
    lowat_dirty_.push_back(c);
  }
}

void UringTransport::apply_wake_hints() noexcept {
  for (ConnId c : lowat_dirty_) {
    Conn& k = conns_[c];
    k.lowat_queued = false;
    if (!k.in_use || k.closing || k.lowat_want == k.lowat) continue;
    int v = static_cast<int>(k.lowat_want);
    if (::setsockopt(k.fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) != 0) {
      // Never leave a mark above what is due (the rest would wait): back to any byte.
      v = 1;
      if (::setsockopt(k.fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) != 0) continue;
    }
    k.lowat = static_cast<std::uint32_t>(v);
    ++lowat_sets_;
  }
  lowat_dirty_.clear();
}

std::size_t UringTransport::poll(std::span<Event> evs, int timeout_ms) {
  std::size_t n = 0;
  apply_wake_hints();
  if (!dialoguing_.empty()) expire_dialogues();
  // Events not tied to a completion go first.
  while (!backlog_.empty() && n < evs.size()) evs[n++] = pop_backlog();
  if (n == evs.size()) return n;
  if (n == 0 && timeout_ms > 0) {
    __kernel_timespec ts{};
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
    io_uring_cqe* first = nullptr;
    io_uring_submit_and_wait_timeout(ring_.get(), &first, 1, &ts, nullptr);
  } else {
    io_uring_submit(ring_.get());
    if (features_.defer_taskrun) io_uring_get_events(ring_.get());
  }
  for (int round = 0; round < 2 && n < evs.size(); ++round) {
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    bool full = false;
    io_uring_for_each_cqe(ring_.get(), head, cqe) {
      if (!handle_cqe(cqe, evs, n)) {
        full = true;
        break;
      }
      ++seen;
    }
    io_uring_cq_advance(ring_.get(), seen);
    if (full || seen == 0) break;
    io_uring_submit(ring_.get());  // re-arms and sends queued while handling
  }
  while (!backlog_.empty() && n < evs.size()) evs[n++] = pop_backlog();
  return n;
}

std::uint32_t UringTransport::rtt_us(ConnId c) const noexcept {
  const int fd = native_fd(c);
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (fd < 0 || ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || len < offsetof(tcp_info, tcpi_rtt) + sizeof ti.tcpi_rtt)
    return 0;
  return ti.tcpi_rtt;
}

}  // namespace relay::dp
