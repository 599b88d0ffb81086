#include "dataplane/engine/task_board.hpp"

#include <sched.h>

#include "relay/shm/cnc.hpp"

namespace relay::dp {

namespace {
// wait_until: spin briefly (the helper is running an item on the other core), then give
// the core away between looks, so a helper that shares this core can finish.
template <class Pred>
void wait_until(Pred done) noexcept {
  for (std::uint32_t spins = 0; !done(); ++spins) {
    if (spins < 4096) __builtin_ia32_pause();
    else ::sched_yield();
  }
}
}  // namespace

bool TaskBoard::Job::take_one() noexcept {
  const std::size_t i = next_.fetch_add(1, std::memory_order_acq_rel);
  if (i >= n_) return false;
  fn_(ctx_, i);
  done_.fetch_add(1, std::memory_order_release);  // publishes what fn wrote
  return true;
}

void TaskBoard::post(Job& j) noexcept {
  if (wake_ == nullptr || j.slot_ >= 0 || j.n_ == 0) return;
  for (int s = 0; s < kSlots; ++s) {
    if (slots_[s].load(std::memory_order_relaxed) != nullptr) continue;  // only this thread posts
    j.slot_ = s;
    slots_[s].store(&j, std::memory_order_seq_cst);
    wake_->fetch_add(1, std::memory_order_release);
    wake_->notify_one();
    return;
  }
}

void TaskBoard::join(Job& j) noexcept {
  while (j.take_one()) {
  }
  if (j.slot_ < 0) return;  // never posted (or joined already): everything ran here
  if (j.done_.load(std::memory_order_acquire) < j.n_) {  // the helper is running some: wait, timed
    const std::uint64_t t0 = shm::monotonic_ns();
    wait_until([&] { return j.done_.load(std::memory_order_acquire) >= j.n_; });
    waited_ns_ += shm::monotonic_ns() - t0;
  }
  const int s = j.slot_;
  slots_[s].store(nullptr, std::memory_order_seq_cst);
  // The helper marks itself inside before it reads the slot again (both seq_cst): either
  // it sees the slot empty, or this sees it inside and waits for it to leave.
  wait_until([&] { return !inside_[s].load(std::memory_order_seq_cst); });
  j.slot_ = -1;
}

void TaskBoard::run(std::size_t n, Fn fn, void* ctx) noexcept {
  Job j(fn, ctx, n);
  post(j);
  join(j);
}

bool TaskBoard::help() noexcept {
  bool ran = false;
  for (int s = 0; s < kSlots; ++s) {
    if (slots_[s].load(std::memory_order_acquire) == nullptr) continue;
    inside_[s].store(true, std::memory_order_seq_cst);
    if (Job* j = slots_[s].load(std::memory_order_seq_cst); j != nullptr) {
      std::uint64_t n = 0;
      while (j->take_one()) ++n;
      if (n != 0) {
        ran = true;
        helped_.fetch_add(n, std::memory_order_relaxed);
      }
    }
    inside_[s].store(false, std::memory_order_release);
  }
  return ran;
}

}  // namespace relay::dp
