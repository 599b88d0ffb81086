// relay/config/privilege.hpp — least privilege: a process started as root sets itself up
// (binds its sockets, maps the shared region, opens its stores, creates its io_uring)
// and then becomes an unprivileged user for good, before it reads a byte from a peer.
//
// The user is [process] user: by default `stacks-relay` when that user exists (deploy/
// creates it), else `nobody`; "" keeps root (for debugging). The data directory is handed
// to that user first, so it can write its files later (the burn view, reward-set cache,
// the stores). Nothing here applies to a process that is not root (e.g. a systemd unit
// with User=).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "relay/base/result.hpp"
#include "relay/config/config.hpp"

namespace relay::config {

struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// run_as: the user to become; nullopt when nothing changes (not root, or user = "").
// Errors: the configured user does not exist, or is root.
Result<std::optional<RunAs>> run_as(const RelayConfig& cfg);

// give_data_dir: make `dir` (created if missing) and everything in it owned by `who`,
// after checking `who` can reach it (every directory above must let it through): a
// clear error instead of a relay that cannot write its files once it dropped root.
Status give_data_dir(const std::string& dir, const RunAs& who);

// drop_privileges: become `who` in every thread (supplementary groups, gid, uid), with
// no_new_privs set; then check it took: no capability left, and root cannot be regained.
Status drop_privileges(const RunAs& who);

// become_unprivileged: run_as + give_data_dir + drop_privileges, logged as `program`;
// the exit status when it fails (0: done, or nothing to do).
int become_unprivileged(const RelayConfig& cfg, const char* program);

}  // namespace relay::config
