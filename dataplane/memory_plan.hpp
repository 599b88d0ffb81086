// dataplane/memory_plan.hpp — every buffer pool the dataplane takes at start-up, sized
// in one place: the transport's send pool (registered with the kernel; each forward is
// written once into one of its slots and sent from it to every peer) and the receive
// pool large bodies borrow while they arrive (each session keeps smaller ones in its own
// buffer). Only when a class runs out does a message go to the heap.
#pragma once

#include <cstddef>
#include <vector>

#include "dataplane/transport/buf_pool.hpp"

namespace relay::dp {

struct MemoryPlan {
  std::vector<BufPool::Class> send;  // the transport's send pool (empty: the heap)
  std::size_t rx_own_bytes = 0;      // each session's own receive buffer
  std::vector<BufPool::Class> rx;    // slots larger bodies borrow (empty: sessions' buffers grow)

  // relay: what stacks-relay-dataplane runs with (about 96 MiB to send from, 56 MiB to
  // receive into): every class up to the largest message a node accepts.
  static MemoryPlan relay();
  // small: a few MiB, for tests and tools that make many transports.
  static MemoryPlan small();
  std::size_t send_bytes() const noexcept;
  std::size_t rx_bytes() const noexcept;
};

// The largest message we may send: a node's largest plus our preamble and relayer entry,
// rounded up.
inline constexpr std::uint32_t kLargestForward = 16 * 1024 * 1024 + 64 * 1024;

}  // namespace relay::dp
