// dataplane/engine/fanout.hpp — how one accepted push becomes the bytes each of its
// recipients is sent: the engine's one point of variation (RelayEngine<T, F>).
//
// A fanout policy F is three functions over the engine's ForwardMaker M:
//   F::arm(framer, path)   a message starts arriving on a session: what the framer
//                          computes for our forward while the bytes arrive;
//   F::begin(M&)           the push was accepted: false stops it (out of buffers);
//   F::for_recipient(M&)   one reference to the bytes one recipient gets (nullptr: none).
//
// The relay ships with SignOnce. bench/reference/ plugs in stacks-core's algorithm (a
// forward hashed and signed per recipient after the push arrived) as a baseline.
#pragma once

#include "dataplane/engine/relay_path.hpp"
#include "dataplane/transport/transport.hpp"

namespace relay::dp {

// SignOnce (ARCHITECTURE.md §3.2, §3.7): our forward's digest is hashed while the push
// arrives, so one signature remains at its last byte; one buffer, the same bytes to
// every recipient.
struct SignOnce {
  static void arm(codec::Framer& f, const RelayPath& path) noexcept { f.set_forward(path.forward_template()); }
  template <class M>
  static bool begin(M& m) {
    return m.make_shared();
  }
  template <class M>
  static SharedBuf* for_recipient(M& m) noexcept {
    return m.shared();
  }
};

}  // namespace relay::dp
