// The kernels' thread pool: every item once, whatever the team; a caller that takes over the
// chunks of a worker that is late; loops inside loops and from two threads at once; and the
// public thread count.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "autograd/error.hpp"
#include "autograd/kernels/thread_pool.hpp"
#include "autograd/threads.hpp"

using namespace tapegrad;
namespace k = tapegrad::kernels;

namespace {

// Sets the thread count for a scope, and puts the old one back.
class ThreadCount {
 public:
  explicit ThreadCount(int threads) : previous_(num_threads()) { set_num_threads(threads); }
  ~ThreadCount() { set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

// How many times each of [0, items) was visited by a loop of `team` on the pool (an empty range
// counts as a visit of item 0, so that it fails the checks).
std::vector<int> visits(int64_t items, k::Team team) {
  std::vector<std::atomic<int>> counts(static_cast<std::size_t>(std::max<int64_t>(items, 1)));
  k::ThreadPool::instance().run(items, team, [&](k::ItemRanges& ranges) {
    while (const auto range = ranges.next()) {
      if (range->begin >= range->end) ++counts[0];
      for (int64_t i = range->begin; i < range->end; ++i) ++counts[i];
    }
  });
  if (items == 0) return counts[0] == 0 ? std::vector<int>{} : std::vector<int>{counts[0]};
  std::vector<int> result;
  for (const auto& count : counts) result.push_back(count.load());
  return result;
}

}  // namespace

TEST_CASE("thread pool: every item once, for any items and threads") {
  for (const int threads : {1, 2, 3, 5}) {
    const ThreadCount count(threads);
    for (const int64_t items : {0, 1, 2, 3, 7, 64, 1001}) {
      for (const bool wake : {false, true}) {
        CAPTURE(threads);
        CAPTURE(items);
        CAPTURE(wake);
        const std::vector<int> seen = visits(items, {threads, wake});
        CHECK(std::count(seen.begin(), seen.end(), 1) == items);
      }
    }
  }
}

TEST_CASE("thread pool: the caller takes the chunks of a worker that is late") {
  // The first worker body to start sleeps 200 ms in its first range, as a worker whose core
  // another job holds would stall: the caller must do every other chunk, its own and the
  // worker's, and not wait for the worker to come back for them.
  const ThreadCount count(2);
  const auto caller = std::this_thread::get_id();
  std::atomic<int64_t> by_caller{0}, by_worker{0};
  std::atomic<bool> stalled{false};
  const int64_t items = 1000;
  k::ThreadPool::instance().run(items, {2, true}, [&](k::ItemRanges& ranges) {
    const bool on_caller = std::this_thread::get_id() == caller;
    while (const auto range = ranges.next()) {
      if (!on_caller && !stalled.exchange(true))
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      (on_caller ? by_caller : by_worker) += range->end - range->begin;
    }
  });
  CHECK(by_caller + by_worker == items);
  // The worker holds at most the one chunk it stalled in: a quarter of the items, with two chunks
  // a thread.
  CHECK(by_worker <= items / 4);
}

TEST_CASE(
    "thread pool: a loop inside a loop's body runs on that thread, and loops from two "
    "threads at once both finish") {
  const ThreadCount count(2);
  std::atomic<int64_t> inner_items{0};
  k::ThreadPool::instance().run(4, {2, true}, [&](k::ItemRanges& ranges) {
    while (const auto range = ranges.next()) {
      for (int64_t i = range->begin; i < range->end; ++i) {
        const auto outer_thread = std::this_thread::get_id();
        k::ThreadPool::instance().run(100, {2, true}, [&](k::ItemRanges& inner) {
          CHECK(std::this_thread::get_id() == outer_thread);
          while (const auto r = inner.next()) inner_items += r->end - r->begin;
        });
      }
    }
  });
  CHECK(inner_items == 400);

  std::vector<int> first, second;
  std::thread other([&] { second = visits(5000, {2, true}); });
  first = visits(5000, {2, true});
  other.join();
  CHECK(std::count(first.begin(), first.end(), 1) == 5000);
  CHECK(std::count(second.begin(), second.end(), 1) == 5000);
}

TEST_CASE("set_num_threads and num_threads, as torch.set_num_threads") {
  const ThreadCount count(3);
  CHECK(num_threads() == 3);
  set_num_threads(1);
  CHECK(num_threads() == 1);
  CHECK(visits(100, {4, true}) == std::vector<int>(100, 1));
  CHECK_THROWS_WITH_AS(set_num_threads(0), "set_num_threads: 0 threads; give 1 to 1024", Error);
}
