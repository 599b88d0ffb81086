#include "bench/suite/relay_proc.hpp"

#include <csignal>

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace relay::bench {

// cpu_ns: nanoseconds on a CPU, summed over the process's threads (schedstat: exact,
// unlike /proc/PID/stat's clock ticks); -1 when unavailable.
double cpu_ns(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  double sum = 0;
  bool any = false;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/schedstat");
    double ns = 0;
    if (f >> ns) {
      sum += ns;
      any = true;
    }
  }
  ::closedir(d);
  return any ? sum : -1;
}

ProcUsage proc_usage(pid_t pid) {
  ProcUsage u;
  if (pid <= 0) return u;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto close = s.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return u;
  std::istringstream in(s.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string w; in >> w;) fields.push_back(w);
  // Fields after the name start at field 3 (state): utime is field 14, stime 15, rss 24.
  if (fields.size() < 22) return u;
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double utime = std::stod(fields[11]), stime = std::stod(fields[12]);
  u.cpu_s = (utime + stime) / tick;
  // schedstat is exact; the tick counts only say how it splits between user and system.
  if (const double ns = cpu_ns(pid); ns >= 0) u.cpu_s = ns / 1e9;
  u.user_s = utime + stime > 0 ? u.cpu_s * utime / (utime + stime) : 0;
  u.rss = std::stoull(fields[21]) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return u;
}

namespace {

// install_with_dataplane: a copy of the relay's programs in <work_dir>/bin with
// l.dataplane_bin as its stacks-relay-dataplane (`stacks-relay run` starts the programs
// beside itself, found through /proc/self/exe, so links would lead back to the build
// directory). Returns the copy's stacks-relay, or "" with `err` set.
std::string install_with_dataplane(const RelayLaunch& l, std::string& err) {
  namespace fs = std::filesystem;
  const fs::path from = fs::path(l.bin).parent_path(), to = fs::path(l.work_dir) / "bin";
  std::error_code ec;
  fs::create_directories(to, ec);
  const std::pair<fs::path, const char*> files[] = {{l.bin, "stacks-relay"},
                                                    {from / "stacks-relay-control", "stacks-relay-control"},
                                                    {l.dataplane_bin, "stacks-relay-dataplane"}};
  for (const auto& [src, name] : files) {
    if (!ec) fs::copy_file(src, to / name, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      err = "cannot install " + src.string() + " as " + (to / name).string() + ": " + ec.message();
      return "";
    }
  }
  return (to / "stacks-relay").string();
}

}  // namespace

Result<std::unique_ptr<RelayProc>> RelayProc::start(const RelayLaunch& l, std::string& err) {
  std::unique_ptr<RelayProc> r(new RelayProc());
  const std::string cfg = l.work_dir + "/relay.toml";
  {
    std::ofstream f(cfg);
    f << "[node]\ndata_dir = \"" << l.work_dir << "/data\"\n"
      << (l.identity_key_file.empty() ? "" : "identity_key_file = \"" + l.identity_key_file + "\"\n")
      << "[p2p]\nbind = \"" << l.p2p_bind << "\"\nmax_inbound = 2000\nbusy_poll = " << (l.busy_poll ? "true" : "false") << "\n"
      << "cpus = [" << (l.cpus.empty() ? "" : std::to_string(l.cpus[0])) << (l.cpus.size() > 1 ? ", " + std::to_string(l.cpus[1]) : "")
      << "]\n" << l.p2p_extra
      << "[rewards]\nreward_set_file = \"" << l.reward_set_file << "\"\n"
      << "[frontier]\nbootstrap = []\nwalk = false\nprivate_neighbors = true\nmax_inbound_per_ip = 100000\n"
      << l.extra_toml;
    // Every benchmark client comes from 127.0.0.1: no per-address limit (the scenario
    // measures serving with 16 to 256 clients).
    if (!l.http_bind.empty()) f << "[http]\nbind = \"" << l.http_bind << "\"\nmax_clients_per_ip = 0\n";
    if (!f) {
      err = "cannot write " + cfg;
      return make_error(Errc::kIo, "config");
    }
  }
  r->shm_ = "/dev/shm/stacks-relay-bench-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
  std::string bin = l.bin;
  if (!l.dataplane_bin.empty() && !(bin = install_with_dataplane(l, err)).size()) return make_error(Errc::kIo, "install");
  const std::string log = l.work_dir + "/relay.log";
  launch::ChildOptions o;
  o.argv = {bin, "run", "--config", cfg, "--shm", r->shm_, "--stats-interval", "0"};
  o.netns = l.netns;
  o.stderr_file = log;
  if (!r->child_.start(o)) return make_error(Errc::kIo, "pipe or fork");
  // READY <port> <pid> from the dataplane; HTTP <port> from the control process.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const bool want_http = !l.http_bind.empty();
  while (r->port_ == 0 || (want_http && r->http_port_ == 0)) {
    const auto line = r->child_.read_line(deadline);
    if (!line) break;  // the deadline, or the relay closed its stdout
    if (auto ready = launch::parse_ready_line(*line)) r->port_ = ready->port;
    if (auto http = launch::parse_http_line(*line)) r->http_port_ = *http;
  }
  if (r->port_ == 0 || (want_http && r->http_port_ == 0)) {
    err = "the relay did not start (log: " + log + ")";
    return make_error(Errc::kIo, "relay start");
  }
  auto region = shm::Region::open(r->shm_);
  if (!region.ok()) {
    err = "cannot map the relay's shared region " + r->shm_;
    return region.error();
  }
  r->region_ = std::move(*region);
  auto lk = link::link_join(r->region_.data(), r->region_.size());
  if (!lk.ok()) {
    err = std::string("shared region: ") + lk.error().reason;
    return lk.error();
  }
  r->link_ = *lk;
  return r;
}

ProcUsage RelayProc::usage() const {
  const ProcUsage d = proc_usage(static_cast<pid_t>(link_.dp_cnc->pid.load()));
  const ProcUsage c = proc_usage(static_cast<pid_t>(link_.ctl_cnc->pid.load()));
  ProcUsage u;
  u.cpu_s = d.cpu_s + c.cpu_s;
  u.user_s = d.user_s + c.user_s;
  u.dp_cpu_s = d.cpu_s;
  u.dp_user_s = d.user_s;
  u.rss = d.rss + c.rss;
  u.dp_rss = d.rss;
  return u;
}

int RelayProc::stop() { return child_.terminate(); }

void RelayProc::kill_all() {
  const auto d = static_cast<pid_t>(link_.dp_cnc->pid.load()), c = static_cast<pid_t>(link_.ctl_cnc->pid.load());
  child_.kill();
  for (const pid_t p : {d, c})
    if (p > 0) ::kill(p, SIGKILL);
}

RelayProc::~RelayProc() {
  (void)stop();
  ::unlink(shm_.c_str());
}

}  // namespace relay::bench
