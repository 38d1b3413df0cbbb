// Sorting the lines of a contiguous [outer, n, inner] tensor along its middle axis, as sort and
// topk need: each line's first k elements in order, with their positions in the line. Ties keep
// the order of the line (a stable sort), and a NaN counts as larger than every number (as
// PyTorch), so results never depend on the sorting algorithm or the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "autograd/kernels/parallel.hpp"

namespace tapegrad::kernels {

// values[o, r, j] = the r-th element (r < k) of line x[o, :, j] in ascending order (descending
// when `descending`), indices[o, r, j] its position k' in the line; when `in_line_order`, the k
// elements picked keep the order in which they appear in the line instead.
template <class T>
void sort_lines(const T* x, int64_t outer, int64_t n, int64_t inner, int64_t k, bool descending,
                bool in_line_order, T* values, int64_t* indices) {
  const auto before = [descending](T a, T b) {  // a strictly before b
    return descending ? a > b || (std::isnan(a) && !std::isnan(b))
                      : a < b || (!std::isnan(a) && std::isnan(b));
  };
  parallel_for(outer * inner, n, [&](int64_t first, int64_t last) {
    std::vector<int64_t> order(static_cast<std::size_t>(n));
    for (int64_t line = first; line < last; ++line) {
      const int64_t o = line / inner, j = line % inner;
      const T* in = x + o * n * inner + j;
      // Equal elements ordered by position: a strict total order, so any sort is stable.
      const auto in_order = [&](int64_t a, int64_t b) {
        return before(in[a * inner], in[b * inner]) ||
               (!before(in[b * inner], in[a * inner]) && a < b);
      };
      std::iota(order.begin(), order.end(), int64_t{0});
      if (k == n)
        std::sort(order.begin(), order.end(), in_order);
      else
        std::partial_sort(order.begin(), order.begin() + k, order.end(), in_order);
      if (in_line_order) std::sort(order.begin(), order.begin() + k);
      for (int64_t r = 0; r < k; ++r) {
        values[(o * k + r) * inner + j] = in[order[r] * inner];
        indices[(o * k + r) * inner + j] = order[r];
      }
    }
  });
}

}  // namespace tapegrad::kernels
