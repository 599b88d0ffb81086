#include "relay/config/process_start.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "relay/base/hex.hpp"
#include "relay/crypto/hash.hpp"

namespace relay::config {

void add_common_options(CLI::App& app, CommonArgs& a) {
  app.add_option("--config", a.config, "TOML configuration file (deploy/config/relay.toml.example; default: built-in defaults)");
  app.add_option("--p2p-bind", a.p2p_bind, "ADDR:PORT to accept nodes on (port 0: any free port)");
  app.add_option("--http-bind", a.http_bind, "ADDR:PORT of the HTTP endpoint (blocks, /v2/info, /metrics; default: off)");
  app.add_option("--identity-key-file", a.key_file, "the relay's secp256k1 key, hex (created if missing)");
  app.add_option("--network", a.network, "mainnet | testnet");
  app.add_option("--data-dir", a.data_dir, "state directory (identity key, shared region fallback)");
  app.add_option("--peer", a.peers, "PUBKEY@HOST:PORT or HOST:PORT to dial (repeatable)");
  app.add_option("--shm", a.shm, "shared region file between the two processes (default: /dev/shm/stacks-relay-<id>)");
  app.add_option("--stats-interval", a.stats_interval_s, "seconds between statistics lines on stderr (0: never)");
}

std::vector<std::string> common_argv(const CommonArgs& a) {
  std::vector<std::string> v;
  auto add = [&](const char* flag, const std::string& val) {
    if (val.empty()) return;
    v.emplace_back(flag);
    v.push_back(val);
  };
  add("--config", a.config);
  add("--p2p-bind", a.p2p_bind);
  add("--http-bind", a.http_bind);
  add("--identity-key-file", a.key_file);
  add("--network", a.network);
  add("--data-dir", a.data_dir);
  for (const auto& p : a.peers) add("--peer", p);
  add("--shm", a.shm);
  add("--stats-interval", std::to_string(a.stats_interval_s));
  return v;
}

std::optional<RelayConfig> load_config(const CommonArgs& a, std::string& err) {
  ConfigOverrides ov;
  if (!a.p2p_bind.empty()) ov.p2p_bind = a.p2p_bind;
  if (!a.http_bind.empty()) ov.http_bind = a.http_bind;
  if (!a.key_file.empty()) ov.identity_key_file = a.key_file;
  if (!a.network.empty()) ov.network = a.network;
  if (!a.data_dir.empty()) ov.data_dir = a.data_dir;
  ov.peers = a.peers;
  auto cfg = load_config_file(a.config, ov, err);
  if (!cfg.ok()) return std::nullopt;
  return *cfg;
}

namespace {

std::optional<crypto::SecretKey> read_key(const std::string& path, std::string& err) {
  // The relay's identity: a key others could read is a key others may hold (as ssh
  // refuses a private key file that group or others can read).
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    err = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    err = path + ": the identity key's file mode is " + mode + ": group and others must have no access (chmod 600 " + path + ")";
    return std::nullopt;
  }
  std::ifstream f(path);
  std::string hex;
  f >> hex;
  auto bytes = from_hex(hex);
  if (!bytes || bytes->size() != 32) {
    err = path + ": not a 32-byte hex secp256k1 key";
    return std::nullopt;
  }
  auto key = crypto::SecretKey::from_bytes(*bytes);
  if (!key) err = path + ": not a valid secp256k1 secret key";
  return key;
}

}  // namespace

bool make_dirs(const std::string& dir) {
  for (std::size_t at = dir.find('/', 1); at != std::string::npos; at = dir.find('/', at + 1))
    ::mkdir(dir.substr(0, at).c_str(), 0711);  // (those that exist stay as they are)
  return ::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST;
}

std::optional<crypto::SecretKey> load_identity_key(const std::string& path, bool create, std::string& err) {
  if (::access(path.c_str(), F_OK) == 0) return read_key(path, err);
  if (!create) {
    err = path + ": no identity key (start the relay with `stacks-relay run`, or create one with `stacks-relay keygen --out`)";
    return std::nullopt;
  }
  auto key = crypto::SecretKey::generate();
  if (!key) {
    err = "cannot generate a key (no randomness)";
    return std::nullopt;
  }
  // The key's directory (and its parents), private to the relay's user.
  const std::size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) (void)make_dirs(path.substr(0, slash));
  // Written under a temporary name and linked into place: a reader never sees half a
  // key, and when two processes race the first link wins and both use its key.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    err = path + ": cannot create: " + std::strerror(errno);
    return std::nullopt;
  }
  std::string line = to_hex(key->bytes()) + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    err = path + ": cannot write: " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return std::nullopt;
  }
  int linked = ::link(tmp.c_str(), path.c_str());
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (linked != 0 && link_errno != EEXIST) {
    err = path + ": cannot create: " + std::strerror(link_errno);
    return std::nullopt;
  }
  // The new name is durable only once its directory is: a crash now must not lose the
  // identity peers already know us by.
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return read_key(path, err);
}

std::string shm_path(const CommonArgs& a, const RelayConfig& cfg) {
  if (!a.shm.empty()) return a.shm;
  if (!cfg.shm_path.empty()) return cfg.shm_path;
  char abs[4096];
  std::string dir = ::realpath(cfg.data_dir.c_str(), abs) != nullptr ? std::string(abs) : cfg.data_dir;
  auto h = crypto::sha512_256(ByteSpan(reinterpret_cast<const std::uint8_t*>(dir.data()), dir.size()));
  return "/dev/shm/stacks-relay-" + to_hex(ByteSpan(h.data(), 6));
}

std::optional<ProcessStart> start_process(int argc, char** argv, const char* program, const char* description, int& rc) {
  CLI::App app{description};
  CommonArgs a;
  add_common_options(app, a);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    rc = app.exit(e) == 0 ? 0 : 2;
    return std::nullopt;
  }
  rc = 2;
  std::string err;
  auto cfg = load_config(a, err);
  if (!cfg) {
    log_line(program, "configuration: %s", err.c_str());
    return std::nullopt;
  }
  auto key = load_identity_key(cfg->identity_key_path(), true, err);
  if (!key) {
    log_line(program, "%s", err.c_str());
    return std::nullopt;
  }
  const std::string path = shm_path(a, *cfg);
  auto region = shm::Region::open(path, shm::Region::Touch::kPopulate);
  if (!region.ok()) {
    log_line(program, "cannot open the shared region %s: %s (%s); start the relay with `stacks-relay run`", path.c_str(),
             region.error().reason, std::strerror(shm::Region::last_errno()));
    return std::nullopt;
  }
  if (!region->populated())
    log_line(program, "shared region %s: its pages could not be mapped in advance (%s); the rings map them at first use",
             path.c_str(), std::strerror(shm::Region::last_errno()));
  auto lk = link::link_join(region->data(), region->size());
  if (!lk.ok()) {
    log_line(program, "shared region %s: %s", path.c_str(), lk.error().reason);
    return std::nullopt;
  }
  rc = 0;
  return ProcessStart{a, std::move(*cfg), *key, path, std::move(*region), *lk};
}

void log_line(const char* program, const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "%s: %s\n", program, buf);
}

ResolveFailure resolve_failure(int gai_error) noexcept {
  switch (gai_error) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
      return {kExitConfig, "no such host name (no address for it)"};
    case EAI_AGAIN: return {kExitFailure, "the name server did not answer (temporary; will be retried)"};
    default: return {kExitFailure, ::gai_strerror(gai_error)};
  }
}

}  // namespace relay::config
