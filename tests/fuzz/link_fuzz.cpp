// The link between the processes, fed by a process gone wrong: any sequence of fragments
// on either ring. The dataplane and the control plane must skip and count what does not
// parse, never crash, never act on a session that does not exist, and keep working: a
// well-formed command after the garbage is still obeyed.
//
// Input: records of [u8 direction][u16 kind][u32 session][u16 len][len bytes]; direction
// even → to the dataplane (as the control plane), odd → to the control plane (as the
// dataplane; it opens sessions and hands over messages, so the control plane's
// conversation logic sees arbitrary peer messages too).
#include <cstdint>
#include <cstring>

#include "control/engine/control_engine.hpp"
#include "dataplane/engine/relay_engine.hpp"
#include "dataplane/transport/mem/mem_transport.hpp"
#include "relay/shm/region.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace relay;

ctl::LocalPeer local_peer() {
  Bytes k(32, 0);
  k[31] = 7;
  return ctl::LocalPeer{*crypto::SecretKey::from_bytes(k), 1, 0x18000010, 7, codec::kServiceRelay, {}, 20444, "",
                        3600, 0x7fffffffffffffffull};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ctl::LocalPeer local = local_peer();
  // Two regions: one per engine under test, so every ring keeps its single producer (the
  // fuzzer stands in for the other process on each).
  // Sized for the fuzzer (a record carries at most 64 KiB), not for a relay: the engines'
  // code is the same, and every input builds them afresh (so a crash reproduces from its
  // input alone), so what each one maps, populates and reserves decides the speed.
  link::LinkParams params;
  params.dp_to_ctl = {64, 1 << 18, 1 << 16, true};
  params.ctl_to_dp = {64, 1 << 18, 1 << 16, true};
  auto region_a = shm::Region::anonymous(link::link_footprint(params));
  auto region_b = shm::Region::anonymous(link::link_footprint(params));
  FUZZ_CHECK(region_a.ok() && region_b.ok());
  FUZZ_CHECK(link::link_format(region_a->data(), region_a->size(), params).ok());
  FUZZ_CHECK(link::link_format(region_b->data(), region_b->size(), params).ok());
  auto la = link::link_join(region_a->data(), region_a->size());
  auto lb = link::link_join(region_b->data(), region_b->size());
  FUZZ_CHECK(la.ok() && lb.ok());

  // The dataplane under test (region a), fed by a producer standing in for the control plane.
  dp::MemNetwork net;
  dp::MemTransport t(net, 1);
  dp::DpOptions o{local.key, local.net()};
  o.max_sessions = 16;
  o.max_conns = 16;
  o.dedup_depth = 1024;
  o.rx_own_bytes = 4096;
  o.rx_pool = {{1 << 16, 2}};  // larger bodies take heap within the budget: the same code
  o.stream_thread = false;  // no thread started and joined per input
  o.stream_checkers = 0;  // (large blocks checked whole: the same verdicts, no 1 MiB checker each input)
  o.reserve_largest_push = false;  // (the checkers grow what an input needs, not 3 MiB each)
  dp::RelayEngine<dp::MemTransport> dpe(t, link::join_ends(*la, link::Side::kDataplane).value(), o);
  auto to_dp = shm::RingProducer::join(la->ctl_to_dp, la->ctl_to_dp_sz).value();
  // The control plane under test (region b), fed by a producer standing in for the dataplane.
  ctl::ControlOptions co;
  co.local = &local;
  ctl::ControlEngine ce(link::join_ends(*lb, link::Side::kControl).value(), co);
  auto to_ctl = shm::RingProducer::join(lb->dp_to_ctl, lb->dp_to_ctl_sz).value();

  ByteSpan in(data, size);
  std::uint64_t now = 1;
  while (in.size() >= 9) {
    const std::uint8_t dir = in[0];
    const auto kind = static_cast<std::uint16_t>((in[1] << 8) | in[2]);
    const std::uint32_t session = load_be32(in.data() + 3);
    const std::size_t len = std::min<std::size_t>(static_cast<std::size_t>((in[7] << 8) | in[8]), in.size() - 9);
    ByteSpan body = in.subspan(9, len);
    in = in.subspan(9 + len);
    now += 50'000'000;
    if (dir % 2 == 0) {
      // A session id the dataplane really has is unguessable; commands name ids anyway.
      if (to_dp.try_send(body, kind, session)) dpe.run_once(now, 0);
    } else if (to_ctl.try_send(body, kind, session)) {
      ce.poll(now);
    }
  }
  dpe.run_once(now, 0);
  ce.poll(now);
  // Still obeyed after whatever came before: a well-formed reward set and burn view.
  Bytes rs, view;
  {
    Writer w(rs);
    link::put_reward_set(w, {validate::RewardSetSigner{local.key.public_key().compressed(), 5}});
  }
  policy::BurnView v{900007, {}, 900000, {}};
  {
    Writer w(view);
    link::put_view(w, v);
  }
  // Garbage may have left the ring without credit only if the dataplane stopped
  // consuming, which it must not: both fit after one more turn.
  dpe.run_once(now, 0);
  FUZZ_CHECK(to_dp.try_send(rs, static_cast<std::uint16_t>(link::CtlMsg::kRewardSet), 0));
  FUZZ_CHECK(to_dp.try_send(view, static_cast<std::uint16_t>(link::CtlMsg::kBurnView), 0));
  dpe.run_once(now, 0);
  FUZZ_CHECK(dpe.reward_set_size() == 1);
  FUZZ_CHECK(dpe.burn_view() == v);
  return 0;
}
