// gaia-hub-standin: the Gaia hub stand-in (gaia_hub.hpp) as a program of its own, for the
// @stacks/storage cross-check (tests/crosscheck/gaia.sh) and the benchmark suite. Serves
// until SIGINT/SIGTERM or its standard input closes; prints "HUB <port>" once listening.
//   gaia-hub-standin [--host IP] [--port N] [--max-mb N] [--delay-ms N]
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <poll.h>

#include "tests/support/gaia_hub.hpp"

namespace {
volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  relay::test::GaiaHubOptions o;
  std::uint32_t delay_ms = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--host") o.host = argv[i + 1];
    else if (a == "--port") o.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    else if (a == "--max-mb") o.max_bytes = std::strtoull(argv[i + 1], nullptr, 10) << 20;
    else if (a == "--delay-ms") delay_ms = static_cast<std::uint32_t>(std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "gaia-hub-standin: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  relay::test::GaiaHubStandIn hub(o);
  if (hub.port() == 0) {
    std::fprintf(stderr, "gaia-hub-standin: cannot listen on %s:%u\n", o.host.c_str(), o.port);
    return 1;
  }
  hub.set_delay_ms(delay_ms);
  std::printf("HUB %u\n", hub.port());
  std::fflush(stdout);
  while (g_stop == 0) {
    pollfd p{0, POLLIN, 0};
    if (::poll(&p, 1, 200) > 0) {
      char buf[256];
      if (::read(0, buf, sizeof buf) <= 0) break;  // whoever started us is gone
    }
  }
  std::fprintf(stderr, "gaia-hub-standin: %llu writes stored, %llu answered 412, %llu refused tokens\n",
               static_cast<unsigned long long>(hub.count("stored")), static_cast<unsigned long long>(hub.count("precondition_failed")),
               static_cast<unsigned long long>(hub.count("auth_failures")));
  return 0;
}
