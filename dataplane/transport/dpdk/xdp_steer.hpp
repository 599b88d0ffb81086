// dataplane/transport/dpdk/xdp_steer.hpp — the XDP program (xdp/relay_steer.bpf.c) that
// keeps everything but the relay's own traffic in the kernel on an AF_XDP port: written
// out for DPDK's net_af_xdp driver to load (its xdp_prog argument), then given the
// relay's address once the driver attached it.
#pragma once

#include <cstdint>
#include <string>

#include "relay/base/result.hpp"

namespace relay::dp::xdp {

// write_program: the embedded program into a new private file; its path, or "" with
// errno set.
std::string write_program();

// set_address: the relay's IPv4 address (network byte order) into the program attached
// to `ifname` (needs CAP_BPF or CAP_SYS_ADMIN: done at start, before privileges go).
Status set_address(const std::string& ifname, std::uint32_t ipv4);

}  // namespace relay::dp::xdp
