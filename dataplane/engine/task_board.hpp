// dataplane/engine/task_board.hpp — the dataplane thread hands independent pieces of
// work (signature checks: a message's, a block's signers') to its second thread, which
// takes them between stream checks (StreamWorker), and does the rest itself.
//
// The dataplane thread never waits for the helper to start: post() puts a job on the
// board and wakes the helper; join() runs every item the helper has not taken, then
// waits only for the items the helper is running at that moment. A sleeping, busy or
// absent helper therefore costs the job nothing but the wake-up call: the items run
// one after another, as they would without a board.
//
// One thread posts and joins (the dataplane's); one thread helps. A job lives on the
// poster's stack: join() returns only once the helper has let go of it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "relay/base/parallel.hpp"

namespace relay::dp {

class TaskBoard final : public ParallelFor {
 public:
  class Job {
   public:
    Job(Fn fn, void* ctx, std::size_t n) noexcept : fn_(fn), ctx_(ctx), n_(n) {}
    // of: a job of n items f(i) (f outlives the job).
    template <class F>
    static Job of(F& f, std::size_t n) noexcept {
      return Job([](void* c, std::size_t i) noexcept { (*static_cast<F*>(c))(i); }, &f, n);
    }
    Job(const Job& o) noexcept : fn_(o.fn_), ctx_(o.ctx_), n_(o.n_) {}  // only before posting
    Job& operator=(const Job&) = delete;

   private:
    friend class TaskBoard;
    bool take_one() noexcept;  // run the next untaken item; false when none is left
    Fn fn_;
    void* ctx_;
    std::size_t n_;
    std::atomic<std::size_t> next_{0};  // items taken
    std::atomic<std::size_t> done_{0};  // items finished
    int slot_ = -1;                     // where it is posted (-1: not on the board)
  };

  // wake: bumped and notified at every post (the helper sleeps on it); nullptr when no
  // thread helps, and jobs then run entirely in join().
  explicit TaskBoard(std::atomic<std::uint64_t>* wake) noexcept : wake_(wake) {}
  TaskBoard(const TaskBoard&) = delete;
  TaskBoard& operator=(const TaskBoard&) = delete;

  // post: the helper may take the job's items from now on (when a slot is free;
  // otherwise join() runs them all).
  void post(Job& j) noexcept;
  // join: every item has run, and the helper has let go of the job. Idempotent.
  void join(Job& j) noexcept;
  // run (ParallelFor): post, then join.
  void run(std::size_t n, Fn fn, void* ctx) noexcept override;

  // help (the helper thread): run items of posted jobs until none is left; true when it
  // ran any.
  bool help() noexcept;

  // Items the helper ran (the dataplane's counters read this).
  std::uint64_t helped_items() const noexcept { return helped_.load(std::memory_order_relaxed); }
  // Nanoseconds join() waited for items the helper was running (the poster's thread).
  std::uint64_t waited_ns() const noexcept { return waited_ns_; }

 private:
  static constexpr int kSlots = 4;  // jobs on the board at once (a push's signature and its block's signers)
  std::atomic<std::uint64_t>* wake_;
  std::atomic<Job*> slots_[kSlots] = {};
  std::atomic<bool> inside_[kSlots] = {};  // the helper may be reading that slot's job
  std::atomic<std::uint64_t> helped_{0};
  std::uint64_t waited_ns_ = 0;  // the poster's own: written and read on its thread
};

}  // namespace relay::dp
