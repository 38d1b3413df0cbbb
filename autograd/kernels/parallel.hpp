// Parallel loops over independent items on tapegrad's threads (thread_pool.hpp), serial below a
// work threshold.
//
// Kernels cut their work into items whose results do not depend on how the items are shared out
// (rows, lines, fixed-size blocks; never one reduction split by the thread count), so 1 and 2
// threads give bit-identical results. Elementwise kernels cut at multiples of a SIMD batch, so
// each element takes the same (batch or tail) path whatever the split.
#pragma once

#include <algorithm>
#include <cstdint>

#include "autograd/kernels/thread_pool.hpp"

namespace tapegrad::kernels {

// Units of work (about one element read and written) each thread must get before a loop is worth
// sharing: a shared loop costs ~1 µs with the workers spinning and more waking them, against
// ~0.13 ns per element of an add in cache (measurements in docs/ops-performance.md).
inline constexpr int64_t kParallelGrain = 1 << 14;

// Work per thread from which a loop wakes sleeping workers even on a busy machine
// (thread_pool.hpp).
inline constexpr int64_t kWakeGrain = 16 * kParallelGrain;

// The team worth using for `work` units: 1 thread below kParallelGrain per thread.
inline Team team_for_work(int64_t work) {
  const int threads = static_cast<int>(
      std::clamp<int64_t>(work / kParallelGrain, 1, ThreadPool::instance().threads()));
  return {threads, work / threads >= kWakeGrain};
}

// Calls body(ranges) on each thread of the team that shares the loop; the body takes ranges of
// [0, items) from ranges.next() until it returns none: one body per thread, so a body may set up
// scratch space once for all the items it gets.
template <class Body>
void parallel_for_each_thread(int64_t items, Team team, const Body& body) {
  ThreadPool::instance().run(items, team, body);
}

// Calls f(begin, end) over consecutive ranges covering [0, items), a few per thread (all of it at
// once when the work, items · work_per_item, is small).
template <class F>
void parallel_for(int64_t items, int64_t work_per_item, const F& f) {
  if (items <= 0) return;
  const Team team = items == 1 ? Team{1, false} : team_for_work(items * work_per_item);
  if (team.threads <= 1) {
    f(int64_t{0}, items);
    return;
  }
  parallel_for_each_thread(items, team, [&](ItemRanges& ranges) {
    while (const auto range = ranges.next()) f(range->begin, range->end);
  });
}

// Calls f(begin, end) over ranges covering [0, n) elements, cut at multiples of `unit`.
template <class F>
void parallel_chunks(int64_t n, int64_t unit, const F& f) {
  const int64_t units = (n + unit - 1) / unit;
  parallel_for(units, unit,
               [&](int64_t first, int64_t last) { f(first * unit, std::min(n, last * unit)); });
}

}  // namespace tapegrad::kernels
