// bench/suite/http_load.hpp — an HTTP/1.1 load generator for the block-serving scenario:
// C keep-alive connections on one epoll thread, each fetching one path over and over
// for a fixed time; every response is checked (status 200, the expected body length)
// and timed from the request's write to the body's last byte.
#pragma once

#include <cstdint>
#include <string>

#include "bench/suite/trial.hpp"

namespace relay::bench {

struct HttpLoad {
  std::uint64_t requests = 0;  // complete, correct responses
  std::uint64_t errors = 0;    // connection failures, bad statuses or lengths
  std::uint64_t bytes = 0;     // body bytes received
  double seconds = 0;
  Dist latency;                // per request, µs
};

HttpLoad http_load(std::uint16_t port, const std::string& path, std::size_t conns, double seconds,
                   std::uint64_t expect_len);

}  // namespace relay::bench
