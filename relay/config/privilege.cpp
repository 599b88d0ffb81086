#include "relay/config/privilege.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "relay/config/process_start.hpp"

namespace relay::config {

namespace {

// Error reasons are static strings elsewhere; these carry a path or a name, so they are
// kept here (one per thread is enough: the caller logs it at once).
const char* keep(std::string s) {
  thread_local std::string held;
  held = std::move(s);
  return held.c_str();
}

Error sys_error(const std::string& what) {
  const int e = errno;
  return make_error(Errc::kIo, keep(what + ": " + std::strerror(e)), static_cast<std::uint32_t>(e));
}

std::optional<RunAs> lookup(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* got = nullptr;
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &got) != 0 || got == nullptr) return std::nullopt;
  return RunAs{name, pw.pw_uid, pw.pw_gid};
}

// may_traverse: whether `who` may enter directory `st` (the x bit that applies to it).
bool may_traverse(const struct stat& st, const RunAs& who) {
  if (st.st_uid == who.uid) return (st.st_mode & S_IXUSR) != 0;
  if (st.st_gid == who.gid) return (st.st_mode & S_IXGRP) != 0;
  return (st.st_mode & S_IXOTH) != 0;
}

uid_t g_uid;
gid_t g_gid;
int chown_one(const char* path, const struct stat*, int, FTW*) {
  return ::lchown(path, g_uid, g_gid) == 0 ? 0 : -1;
}

}  // namespace

Result<std::optional<RunAs>> run_as(const RelayConfig& cfg) {
  if (::geteuid() != 0) return std::optional<RunAs>{};
  if (cfg.process_user && cfg.process_user->empty()) return std::optional<RunAs>{};  // stay root, as asked
  std::optional<RunAs> who;
  if (cfg.process_user) {
    who = lookup(*cfg.process_user);
    if (!who) return make_error(Errc::kBadValue, keep("process.user: no such user: " + *cfg.process_user));
  } else {
    who = lookup("stacks-relay");
    if (!who) who = lookup("nobody");
    if (!who) return make_error(Errc::kBadValue, "process.user: neither `stacks-relay` nor `nobody` exists; create one");
  }
  if (who->uid == 0) return make_error(Errc::kBadValue, keep("process.user: " + who->name + " is root"));
  return who;
}

Status give_data_dir(const std::string& dir, const RunAs& who) {
  // Every directory above must let the user through.
  std::string at;
  for (std::size_t slash = dir.find('/', 1); slash != std::string::npos; slash = dir.find('/', slash + 1)) {
    at = dir.substr(0, slash);
    struct stat st{};
    if (::stat(at.c_str(), &st) != 0) break;  // created below
    if (!may_traverse(st, who)) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return make_error(Errc::kBadValue, keep("the data directory " + dir + " is out of reach of user " + who.name + ": " +
                                               at + " (mode " + mode + ") does not let it through"));
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("cannot create " + dir);
  g_uid = who.uid;
  g_gid = who.gid;
  if (::nftw(dir.c_str(), chown_one, 32, FTW_PHYS) != 0) return sys_error("cannot give " + dir + " to " + who.name);
  return Ok{};
}

Status drop_privileges(const RunAs& who) {
  // The user's own supplementary groups come along (e.g. debian-tor, to read Tor's
  // control cookie), and nothing of root's.
  if (::initgroups(who.name.c_str(), who.gid) != 0 && ::setgroups(1, &who.gid) != 0) return sys_error("setgroups");
  if (::setgid(who.gid) != 0) return sys_error("setgid");
  if (::setuid(who.uid) != 0) return sys_error("setuid");  // glibc applies it to every thread
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_error("no_new_privs");
  // It took: root cannot be regained, and no capability is left.
  if (::setuid(0) == 0 || ::geteuid() == 0 || ::getuid() == 0)
    return make_error(Errc::kIo, "still able to become root after dropping privileges");
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) == 0 || line.rfind("CapPrm:", 0) == 0 || line.rfind("CapAmb:", 0) == 0) {
      if (line.find_first_not_of("0\t ", line.find(':') + 1) != std::string::npos)
        return make_error(Errc::kIo, keep("capabilities left after dropping privileges: " + line));
    }
  }
  return Ok{};
}

int become_unprivileged(const RelayConfig& cfg, const char* program) {
  auto who = run_as(cfg);
  if (!who.ok()) {
    log_line(program, "%s", who.error().reason);
    return kExitConfig;
  }
  if (!*who) return 0;
  if (auto s = give_data_dir(cfg.data_dir, **who); !s.ok()) {
    log_line(program, "%s", s.error().reason);
    return kExitConfig;
  }
  if (auto s = drop_privileges(**who); !s.ok()) {
    log_line(program, "cannot drop root: %s", s.error().reason);
    return kExitFailure;
  }
  log_line(program, "running as %s (uid %u), no capabilities", (*who)->name.c_str(), static_cast<unsigned>((*who)->uid));
  return 0;
}

}  // namespace relay::config
