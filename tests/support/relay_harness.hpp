// tests/support/relay_harness.hpp — the relay's two halves in one process: a dataplane
// RelayEngine and a ControlEngine joined through a real link region (anonymous shared
// memory), stepped in turn. Unit tests drive it with the in-memory or io_uring
// transport; the processes themselves are tested in tests/integration.
#pragma once

#include <memory>

#include "control/engine/control_engine.hpp"
#include "dataplane/engine/relay_engine.hpp"
#include "relay/shm/region.hpp"

namespace relay::test {

inline dp::DpOptions dp_options_for(const ctl::LocalPeer& l) {
  dp::DpOptions o{l.key, l.net()};
  o.addrbytes = l.addrbytes;
  o.port = l.port;
  return o;
}

template <typename T, class F = dp::SignOnce>
struct RelayHarness {
  shm::Region region;
  link::Link link;
  ctl::LocalPeer id;
  ctl::ControlOptions ctl_opts;
  std::unique_ptr<dp::RelayEngine<T, F>> dp;
  std::unique_ptr<ctl::ControlEngine> ctl;
  std::uint64_t incarnation = 1;

  RelayHarness(T& t, ctl::LocalPeer local, ctl::ControlOptions co = {}, dp::DpOptions* dpo = nullptr)
      : id(std::move(local)), ctl_opts(std::move(co)) {
    auto params = link::default_params();
    region = std::move(shm::Region::anonymous(link::link_footprint(params)).value());
    EXPECT_TRUE(link::link_format(region.data(), region.size(), params).ok());
    link = link::link_join(region.data(), region.size()).value();
    dp::DpOptions o = dpo != nullptr ? *dpo : dp_options_for(id);
    dp = std::make_unique<dp::RelayEngine<T, F>>(t, link::join_ends(link, link::Side::kDataplane).value(), o);
    dp->start(incarnation);
    start_control(0);
  }
  RelayHarness(const RelayHarness&) = delete;
  RelayHarness& operator=(const RelayHarness&) = delete;

  void start_control(std::uint64_t now) {
    ctl_opts.local = &id;
    ctl.reset();
    ctl = std::make_unique<ctl::ControlEngine>(link::join_ends(link, link::Side::kControl).value(), ctl_opts);
    ctl->start(++incarnation, now);
  }
  void run_once(std::uint64_t now, int timeout_ms = 0) {
    dp->run_once(now, timeout_ms);
    ctl->poll(now);
  }
  const link::DpCounters& c() const { return dp->counters(); }
};

}  // namespace relay::test
