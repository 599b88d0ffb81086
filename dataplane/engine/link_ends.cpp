#include "dataplane/engine/relay_engine.hpp"

namespace relay::dp {

Result<DpLinkEnds> join_dp_link(const link::Link& l) noexcept {
  auto p = shm::RingProducer::join(l.dp_to_ctl, l.dp_to_ctl_sz);
  if (!p.ok()) return p.error();
  auto c = shm::RingConsumer::join(l.ctl_to_dp, l.ctl_to_dp_sz);
  if (!c.ok()) return c.error();
  return DpLinkEnds{*p, *c, l.counters, l.dp_cnc};
}

}  // namespace relay::dp
