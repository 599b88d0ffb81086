// dataplane/engine/stream_worker.hpp — the block stream checks (validate::NakamotoStream)
// on a second thread, so the dataplane's thread keeps receiving, framing and hashing
// while a large block's transactions are decoded and its signers checked: a 2 MiB block
// is about a third hashing and two thirds decoding, and the two now run side by side.
//
// The dataplane thread owns the slots' lifetimes: acquire() a slot when a large block
// starts, publish() how many payload bytes are in after each read (release order: the
// bytes are written before the count), finish() when the last byte is in (waits until
// the worker has read everything published — or reads the rest itself when the worker
// is not at it, so a sleeping worker never adds its wake-up to the last byte's delay),
// release() when done (waits until the worker has left the slot, so the body buffer may
// be reused). The worker only ever reads the published prefix of the body.
//
// Without a thread (`threaded` false) publish() runs the stream inline: same results,
// one core.
//
// Between streams the same thread takes items from board() (TaskBoard): signature checks
// the dataplane thread hands over while it checks the rest of a push.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <span>
#include <thread>
#include <vector>

#include "dataplane/engine/task_board.hpp"
#include "relay/validate/nakamoto_stream.hpp"
#include "relay/validate/push_check.hpp"

namespace relay::dp {

// pin_thread: run thread `t` on CPU `cpu` only; 0, or the errno (EINVAL: no such CPU
// among those this process may use).
int pin_thread(pthread_t t, unsigned cpu) noexcept;

class StreamWorker {
 public:
  class Slot {
    friend class StreamWorker;
    validate::NakamotoStream stream;
    const std::uint8_t* base = nullptr;
    std::atomic<std::size_t> have{0};  // payload bytes published by the dataplane thread
    std::atomic<std::size_t> seen{0};  // payload bytes the stream has read
    std::atomic<bool> active{false};
    // Who is reading into the stream: kNobody, kWorker or kOwner (the dataplane thread,
    // finishing what the worker has not got to, or releasing). Taken by compare-and-swap
    // from kNobody, so the stream has one reader at a time.
    std::atomic<std::uint8_t> holder{0};
    bool in_use = false;               // dataplane thread only
  };

  // reserve: whether its checker reserves its scratch up front (false: on demand).
  StreamWorker(std::size_t slots, bool threaded, bool reserve = true);
  ~StreamWorker();
  StreamWorker(const StreamWorker&) = delete;
  StreamWorker& operator=(const StreamWorker&) = delete;

  // The reward sets signer signatures are checked against (the dataplane's PushCheck
  // gets the same); may be called while the worker runs.
  void set_reward_set(std::span<const validate::RewardSetSigner> current, std::span<const validate::RewardSetSigner> previous);

  // acquire: a slot for a payload of `size` bytes that will be written at `base`
  // (nullptr when every slot is taken).
  Slot* acquire(const std::uint8_t* base, std::size_t size) noexcept;
  // publish: the payload's first `have` bytes are in place.
  void publish(Slot* s, std::size_t have) noexcept;
  // finish: the stream once it has read everything published (the last publish must
  // have been the whole payload for it to have passed).
  const validate::NakamotoStream& finish(Slot* s) noexcept;
  // release: the slot back to the pool; the worker has left it when this returns.
  void release(Slot* s) noexcept;

  bool threaded() const noexcept { return worker_.joinable(); }
  // pin: the second thread runs on `cpu` only (pin_thread); ESRCH without a thread.
  int pin(unsigned cpu) noexcept;
  // board: where the dataplane thread posts work this thread may help with (without a
  // thread, jobs run entirely in join()).
  TaskBoard& board() noexcept { return board_; }

 private:
  static constexpr std::uint8_t kNobody = 0, kWorker = 1, kOwner = 2;
  void run() noexcept;
  void advance(Slot& s, std::size_t have) noexcept;
  static bool take(Slot& s, std::uint8_t who) noexcept {
    std::uint8_t none = kNobody;
    return s.holder.compare_exchange_strong(none, who, std::memory_order_acq_rel);
  }
  static void drop(Slot& s) noexcept { s.holder.store(kNobody, std::memory_order_release); }

  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex check_mu_;           // the worker's PushCheck (its signer sets) vs set_reward_set
  validate::PushCheck check_;     // signer checks for the streams (built on this thread: its scratch)
  std::atomic<std::uint64_t> epoch_{0};  // bumped at every publish (and at stop); the idle worker waits on it
  std::atomic<bool> stop_{false};
  TaskBoard board_;
  std::thread worker_;
};

}  // namespace relay::dp
