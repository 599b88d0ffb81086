// bench/reference/stacks_core_fanout.hpp — the benchmark's baseline: the relay's engine
// with stacks-core's way of relaying plugged in (a fanout policy, dataplane/engine/
// fanout.hpp). Store and forward: nothing is hashed for our forward while a push
// arrives; once it has arrived and passed the same checks, each recipient gets a
// forward of its own, hashed and signed for it alone (stacks-core's relay signs per
// neighbor). With reference_options() it also checks everything on one thread, after
// the last byte, as a node does. Slower by design: it measures what streaming and
// signing once buy. Never shipped.
#pragma once

#include <limits>

#include "dataplane/engine/relay_engine.hpp"

namespace relay::bench {

struct StacksCoreFanout {
  static void arm(codec::Framer&, const dp::RelayPath&) noexcept {}  // nothing hashed while it arrives
  template <class M>
  static bool begin(M&) noexcept {
    return true;
  }
  template <class M>
  static dp::SharedBuf* for_recipient(M& m) noexcept {
    return m.fresh();
  }
};

// reference_options: no second thread (no stream checks, no signatures beside the
// payload check, a block's signers recovered one after another).
inline void reference_options(dp::DpOptions& o) noexcept {
  o.stream_thread = false;
  o.stream_min_bytes = std::numeric_limits<std::size_t>::max();
}

}  // namespace relay::bench
