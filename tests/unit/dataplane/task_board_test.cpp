// TaskBoard: every item of a job runs exactly once, join() returns only when all have
// (and the helper has let go), the helper really runs items beside the poster, and a
// board nobody helps runs everything in join().
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "dataplane/engine/stream_worker.hpp"

namespace relay::dp {
namespace {

using Clock = std::chrono::steady_clock;

TEST(TaskBoard, EveryItemRunsOnceAndJoinWaitsForAll) {
  for (bool threaded : {true, false}) {
    StreamWorker w(0, threaded);
    TaskBoard& board = w.board();
    for (std::size_t n : {0u, 1u, 2u, 3u, 17u, 100u}) {
      for (int round = 0; round < 50; ++round) {
        std::vector<std::atomic<int>> runs(n);
        auto f = [&](std::size_t i) noexcept { runs[i].fetch_add(1); };
        TaskBoard::Job job = TaskBoard::Job::of(f, n);
        board.post(job);
        board.join(job);
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(runs[i].load(), 1) << "n " << n << " item " << i;
        board.join(job);  // again: nothing runs twice
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(runs[i].load(), 1);
      }
    }
    if (!threaded) {
      EXPECT_EQ(board.helped_items(), 0u);
    }
  }
}

// Two items that can only both finish when they run at the same time: the helper must
// take one while the poster runs the other. (Bounded: each waits at most 10 s for the
// other to start, so a board that does not help fails instead of hanging.)
TEST(TaskBoard, TheHelperRunsItemsBesideThePoster) {
  StreamWorker w(0, true);
  TaskBoard& board = w.board();
  std::atomic<int> started{0};
  std::atomic<bool> both{true};
  std::thread::id ran_on[2];
  auto f = [&](std::size_t i) noexcept {
    ran_on[i] = std::this_thread::get_id();
    started.fetch_add(1);
    const auto until = Clock::now() + std::chrono::seconds(10);
    while (started.load() < 2) {
      if (Clock::now() > until) {
        both = false;
        return;
      }
      std::this_thread::yield();
    }
  };
  TaskBoard::Job job = TaskBoard::Job::of(f, 2);
  board.post(job);
  board.join(job);
  EXPECT_TRUE(both.load());
  EXPECT_NE(ran_on[0], ran_on[1]);
  EXPECT_EQ(board.helped_items(), 1u);
}

// join() counts the time it waits for an item the helper is running, and only that: the
// helper's item takes 20 ms after both have started, the poster's returns at once. A
// job run entirely by the poster waits for nothing.
TEST(TaskBoard, JoinCountsOnlyTheTimeItWaitsForTheHelper) {
  StreamWorker w(0, true);
  TaskBoard& board = w.board();
  const std::thread::id poster = std::this_thread::get_id();
  std::atomic<int> started{0};
  auto f = [&](std::size_t) noexcept {
    started.fetch_add(1);
    const auto until = Clock::now() + std::chrono::seconds(10);
    while (started.load() < 2 && Clock::now() < until) std::this_thread::yield();
    if (std::this_thread::get_id() != poster) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  TaskBoard::Job job = TaskBoard::Job::of(f, 2);
  board.post(job);
  board.join(job);
  ASSERT_EQ(board.helped_items(), 1u);
  EXPECT_GE(board.waited_ns(), 10'000'000u);
  EXPECT_LT(board.waited_ns(), 10'000'000'000u);

  TaskBoard alone(nullptr);  // nobody helps: join runs both items itself
  std::atomic<int> ran{0};
  auto g = [&](std::size_t) noexcept { ran.fetch_add(1); };
  TaskBoard::Job solo = TaskBoard::Job::of(g, 2);
  alone.post(solo);
  alone.join(solo);
  EXPECT_EQ(ran.load(), 2);
  EXPECT_EQ(alone.waited_ns(), 0u);
}

// Jobs posted while another waits (a push's signature, then its block's signers) and
// more jobs than the board has slots: all complete, results intact.
TEST(TaskBoard, JobsPostedTogetherAllComplete) {
  StreamWorker w(0, true);
  TaskBoard& board = w.board();
  constexpr std::size_t kJobs = 7, kItems = 9;
  std::vector<std::vector<std::atomic<std::uint64_t>>> out(kJobs);
  for (auto& v : out) v = std::vector<std::atomic<std::uint64_t>>(kItems);
  struct Ctx {
    std::vector<std::atomic<std::uint64_t>>* v;
    std::size_t j;
    void operator()(std::size_t i) noexcept {
      std::uint64_t x = j * 1000 + i;
      for (int k = 0; k < 2000; ++k) x = x * 6364136223846793005ull + 1442695040888963407ull;  // some work
      (*v)[i].store(x + 1);
    }
  };
  for (int round = 0; round < 20; ++round) {
    std::vector<Ctx> ctx;
    for (std::size_t j = 0; j < kJobs; ++j) ctx.push_back({&out[j], j});
    std::vector<TaskBoard::Job> jobs;
    jobs.reserve(kJobs);
    for (std::size_t j = 0; j < kJobs; ++j) jobs.push_back(TaskBoard::Job::of(ctx[j], kItems));
    for (auto& job : jobs) board.post(job);  // four get a slot; the rest run in join()
    for (std::size_t j = kJobs; j-- > 0;) board.join(jobs[j]);
    for (std::size_t j = 0; j < kJobs; ++j)
      for (std::size_t i = 0; i < kItems; ++i) {
        std::uint64_t x = j * 1000 + i;
        for (int k = 0; k < 2000; ++k) x = x * 6364136223846793005ull + 1442695040888963407ull;
        ASSERT_EQ(out[j][i].exchange(0), x + 1) << "job " << j << " item " << i;
      }
  }
}

// ParallelFor through the board: for_each_index with it equals the loop without it.
TEST(TaskBoard, ForEachIndexThroughTheBoard) {
  StreamWorker w(0, true);
  std::vector<std::uint64_t> a(1000), b(1000);
  auto fa = [&](std::size_t i) noexcept { a[i] = i * i + 7; };
  auto fb = [&](std::size_t i) noexcept { b[i] = i * i + 7; };
  for_each_index(&w.board(), a.size(), fa);
  for_each_index(nullptr, b.size(), fb);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace relay::dp
