// Parallel loops over independent items with OpenMP, serial below a work threshold.
//
// Kernels cut their work into items whose results do not depend on how the items are shared out
// (rows, lines, fixed-size blocks; never one reduction split by the thread count), so 1 and 2
// threads give bit-identical results. Elementwise kernels cut at multiples of a SIMD batch, so
// each element takes the same (batch or tail) path whatever the split.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace tapegrad::kernels {

// Units of work (about one element read and written) each thread must get before a team is worth
// starting: a parallel region costs ~1 µs with the worker spinning and ~5 µs waking it, against
// ~0.13 ns per element of an add in cache (measurements in docs/ops-performance.md).
inline constexpr int64_t kParallelGrain = 1 << 14;

// The threads worth using for `work` units: 1 below kParallelGrain per thread, and 1 inside a
// parallel region (no nested teams).
inline int threads_for_work(int64_t work) {
  if (omp_in_parallel()) return 1;
  return static_cast<int>(
      std::clamp<int64_t>(work / kParallelGrain, 1, std::max(1, omp_get_max_threads())));
}

// Calls f(begin, end) over consecutive ranges covering [0, items), one range per thread (all of
// it serially when the work, items · work_per_item, is small).
template <class F>
void parallel_for(int64_t items, int64_t work_per_item, const F& f) {
  if (items <= 0) return;
  const int threads =
      items == 1
          ? 1
          : static_cast<int>(std::min<int64_t>(items, threads_for_work(items * work_per_item)));
  if (threads <= 1) {
    f(int64_t{0}, items);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int64_t thread = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t begin = items * thread / team, end = items * (thread + 1) / team;
    if (begin < end) f(begin, end);
  }
}

// Calls f(begin, end) over ranges covering [0, n) elements, cut at multiples of `unit`.
template <class F>
void parallel_chunks(int64_t n, int64_t unit, const F& f) {
  const int64_t units = (n + unit - 1) / unit;
  parallel_for(units, unit,
               [&](int64_t first, int64_t last) { f(first * unit, std::min(n, last * unit)); });
}

}  // namespace tapegrad::kernels
