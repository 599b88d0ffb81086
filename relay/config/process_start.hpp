// relay/config/process_start.hpp — what the relay's processes share at start-up: the
// options every one of them takes (so `stacks-relay run` can pass the operator's flags
// on), the configuration they load, the identity key, and the shared region's location.
// Run once, before any loop: nothing here is on a hot path.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "relay/config/config.hpp"
#include "relay/crypto/secp256k1.hpp"
#include "relay/link/link.hpp"
#include "relay/shm/region.hpp"

namespace relay::config {

struct CommonArgs {
  std::string config, p2p_bind, http_bind, key_file, network, data_dir, shm;
  std::vector<std::string> peers;
  int stats_interval_s = 10;
};

// add_common_options: --config, the overrides of ConfigOverrides, --shm, --stats-interval.
void add_common_options(CLI::App& app, CommonArgs& a);
// common_argv: the same options as arguments (to start a child process with them).
std::vector<std::string> common_argv(const CommonArgs& a);
// load_config: the file (or the defaults) with the command-line overrides applied.
std::optional<RelayConfig> load_config(const CommonArgs& a, std::string& err);

// make_dirs: `dir` and the directories above it that are missing (as mkdir -p): `dir`
// private (0700), those above it only to pass through (0711, so the relay's user reaches
// it); false (errno set) if `dir` cannot be made.
bool make_dirs(const std::string& dir);

// load_identity_key: read the hex key file; create it (mode 0600, its directory 0700)
// when missing and `create` is set. Concurrent creators agree: the loser reads the winner's.
std::optional<crypto::SecretKey> load_identity_key(const std::string& path, bool create, std::string& err);

// shm_path: the shared region's file: --shm, else [shm] path, else one per data
// directory in /dev/shm (so two relays on one machine never share one by accident).
std::string shm_path(const CommonArgs& a, const RelayConfig& cfg);

// ProcessStart: what each of the two processes needs before its loop: the
// configuration, the identity key, and the shared region `stacks-relay run` made.
struct ProcessStart {
  CommonArgs args;
  RelayConfig cfg;
  crypto::SecretKey key;
  std::string shm;
  shm::Region region;
  link::Link link;
};
// start_process: parse the command line (the common options), load everything; on
// failure logs why (as `program`) and returns nullopt with the exit status in `rc`: 0
// after --help, 2 for a usage or configuration problem (the supervisor does not restart
// a process that exits 2).
std::optional<ProcessStart> start_process(int argc, char** argv, const char* program, const char* description, int& rc);

// Exit statuses of the two processes. The supervisor (`stacks-relay run`) and the
// systemd units restart a process that exits, except with kExitConfig.
inline constexpr int kExitFailure = 1;  // a failure a restart may cure (a busy port, a name server down)
inline constexpr int kExitConfig = 2;   // the configuration is refused: restarting cannot help

// resolve_failure: how a getaddrinfo() error at start-up ends the process: a name that
// does not exist is a configuration problem (kExitConfig); a name server that did not
// answer, or any other failure, is temporary (kExitFailure: restarted, tried again).
struct ResolveFailure {
  int status;
  const char* why;
};
ResolveFailure resolve_failure(int gai_error) noexcept;

// log_line: "PROGRAM: message" on stderr.
void log_line(const char* program, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace relay::config
