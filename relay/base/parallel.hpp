// relay/base/parallel.hpp — a way for pure, independent pieces of work (a block's signer
// signatures, say) to be spread over more than one thread without the code that has
// them knowing about threads. The dataplane lends its second thread through this
// (dataplane/engine/task_board.hpp); everywhere else the pieces run one after another
// on the caller's thread, with the same results.
#pragma once

#include <cstddef>
#include <type_traits>

namespace relay {

class ParallelFor {
 public:
  using Fn = void (*)(void* ctx, std::size_t i) noexcept;
  // run: fn(ctx, i) once for every i in [0, n), in any order and on any of the
  // implementation's threads (the caller's among them); returns when all have returned.
  // fn must not touch anything another i writes.
  virtual void run(std::size_t n, Fn fn, void* ctx) noexcept = 0;

 protected:
  ~ParallelFor() = default;
};

// for_each_index: f(i) for every i in [0, n), through `par` when there is one, else
// in order here.
template <class F>
void for_each_index(ParallelFor* par, std::size_t n, F& f) noexcept {
  static_assert(std::is_nothrow_invocable_v<F&, std::size_t>, "the pieces must be noexcept");
  if (par == nullptr || n < 2) {
    for (std::size_t i = 0; i < n; ++i) f(i);
    return;
  }
  par->run(n, [](void* ctx, std::size_t i) noexcept { (*static_cast<F*>(ctx))(i); }, &f);
}

}  // namespace relay
