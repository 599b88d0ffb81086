// dataplane/transport/dpdk/xdp_steer.cpp — see xdp_steer.hpp.
#include "dataplane/transport/dpdk/xdp_steer.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

extern const unsigned char relay_steer_bpf[];
extern const std::size_t relay_steer_bpf_len;

namespace relay::dp::xdp {

std::string write_program() {
  char path[] = "/tmp/stacks-relay-xdp-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return "";
  std::size_t off = 0;
  while (off < relay_steer_bpf_len) {
    const ssize_t w = ::write(fd, relay_steer_bpf + off, relay_steer_bpf_len - off);
    if (w <= 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(path);
      errno = e;
      return "";
    }
    off += static_cast<std::size_t>(w);
  }
  ::close(fd);
  return path;
}

Status set_address(const std::string& ifname, std::uint32_t ipv4) {
  const unsigned ifindex = ::if_nametoindex(ifname.c_str());
  if (ifindex == 0) return make_error(Errc::kIo, "XDP: no such interface", static_cast<std::uint32_t>(errno));
  __u32 prog_id = 0;
  if (int r = bpf_xdp_query_id(static_cast<int>(ifindex), 0, &prog_id); r != 0 || prog_id == 0)
    return make_error(Errc::kIo, "XDP: no program attached to the interface", static_cast<std::uint32_t>(r < 0 ? -r : ENOENT));
  const int prog = bpf_prog_get_fd_by_id(prog_id);
  if (prog < 0) return make_error(Errc::kIo, "XDP: cannot open the attached program", static_cast<std::uint32_t>(errno));
  std::vector<__u32> map_ids(16);
  bpf_prog_info info{};
  info.nr_map_ids = static_cast<__u32>(map_ids.size());
  info.map_ids = reinterpret_cast<std::uintptr_t>(map_ids.data());
  __u32 len = sizeof info;
  const int got = bpf_obj_get_info_by_fd(prog, &info, &len);
  ::close(prog);
  if (got != 0) return make_error(Errc::kIo, "XDP: cannot read the program's maps", static_cast<std::uint32_t>(errno));
  for (__u32 i = 0; i < std::min<__u32>(info.nr_map_ids, static_cast<__u32>(map_ids.size())); ++i) {
    const int map = bpf_map_get_fd_by_id(map_ids[i]);
    if (map < 0) continue;
    bpf_map_info mi{};
    __u32 mlen = sizeof mi;
    if (bpf_obj_get_info_by_fd(map, &mi, &mlen) == 0 && std::strcmp(mi.name, "relay_addr") == 0) {
      const __u32 key = 0, value = ipv4;
      const int r = bpf_map_update_elem(map, &key, &value, BPF_ANY);
      const int e = errno;
      ::close(map);
      if (r != 0) return make_error(Errc::kIo, "XDP: cannot write the relay's address", static_cast<std::uint32_t>(e));
      return Ok{};
    }
    ::close(map);
  }
  return make_error(Errc::kIo, "XDP: the attached program is not the relay's (no relay_addr map)", ENOENT);
}

}  // namespace relay::dp::xdp

#if defined(__SANITIZE_ADDRESS__)
// DPDK 22.11's net_af_xdp driver never frees what it made through libxdp and libbpf (its
// UMEM, and the BPF object it loaded the program from): LeakSanitizer is told so, for
// every program with the DPDK backend in it. (The same driver cannot set an AF_XDP
// socket up on a queue twice in one process, for the same reason.)
extern "C" const char* __lsan_default_suppressions() { return "leak:libxdp.so\nleak:libbpf.so\n"; }
#endif
