// The loop behind every broadcasting binary op: a and b (contiguous) are broadcast to the
// output's shape by NumPy's rules and visited one innermost row at a time, so the kernel sees
// plain pointers with a step of 1 (contiguous) or 0 (one value repeated).
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/kernels/parallel.hpp"
#include "autograd/shape.hpp"

namespace tapegrad {

// The strides of contiguous `shape` seen from `out_shape`: 0 along broadcast dims.
inline Shape broadcast_strides(const Shape& shape, const Shape& out_shape) {
  const Shape strides = contiguous_strides(shape);
  const std::size_t lead = out_shape.size() - shape.size();
  Shape out(out_shape.size(), 0);
  for (std::size_t i = lead; i < out_shape.size(); ++i)
    out[i] = shape[i - lead] == 1 ? 0 : strides[i - lead];
  return out;
}

// Calls row(a_offset, a_step, b_offset, b_step, out_offset, n) for each row of the output. Rows
// are shared among threads when there are many (row must write only its own output row); a single
// long row is left to the kernel, which shares its elements.
template <class Row>
void for_each_broadcast_row(const Shape& out_shape, const Shape& a_shape, const Shape& b_shape,
                            Row&& row) {
  // Each operand the output's shape (step 1) or a single value (step 0): one row, and nothing
  // to work out (the common case, which the merging below would also come to).
  const auto whole_row_step = [&](const Shape& shape) -> int64_t {
    return shape == out_shape ? 1 : numel(shape) == 1 ? 0 : -1;
  };
  const int64_t a_step = whole_row_step(a_shape), b_step = whole_row_step(b_shape);
  if (a_step >= 0 && b_step >= 0) {
    const int64_t total = numel(out_shape);
    if (total > 0) row(int64_t{0}, a_step, int64_t{0}, b_step, int64_t{0}, total);
    return;
  }
  // Merge neighbouring dims that both operands walk through as one, so rows are long.
  Shape sizes, a_strides, b_strides;
  const Shape a_full = broadcast_strides(a_shape, out_shape);
  const Shape b_full = broadcast_strides(b_shape, out_shape);
  for (std::size_t i = 0; i < out_shape.size(); ++i) {
    if (out_shape[i] == 0) return;
    if (out_shape[i] == 1) continue;
    if (!sizes.empty() && a_strides.back() == a_full[i] * out_shape[i] &&
        b_strides.back() == b_full[i] * out_shape[i]) {
      sizes.back() *= out_shape[i];
      a_strides.back() = a_full[i];
      b_strides.back() = b_full[i];
      continue;
    }
    sizes.push_back(out_shape[i]);
    a_strides.push_back(a_full[i]);
    b_strides.push_back(b_full[i]);
  }
  if (sizes.empty()) {
    row(int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0}, int64_t{1});
    return;
  }
  const std::size_t outer_dims = sizes.size() - 1;
  const int64_t n = sizes.back();
  int64_t rows = 1;
  for (std::size_t d = 0; d < outer_dims; ++d) rows *= sizes[d];
  kernels::parallel_for(rows, n, [&](int64_t first, int64_t last) {
    // The odometer over the outer dims, started at row `first`.
    std::vector<int64_t> index(outer_dims, 0);
    int64_t a_offset = 0, b_offset = 0, rest = first;
    for (std::size_t d = outer_dims; d-- > 0;) {
      index[d] = rest % sizes[d];
      rest /= sizes[d];
      a_offset += index[d] * a_strides[d];
      b_offset += index[d] * b_strides[d];
    }
    for (int64_t r = first; r < last; ++r) {
      row(a_offset, a_strides.back(), b_offset, b_strides.back(), r * n, n);
      for (std::size_t d = outer_dims; d-- > 0;) {
        a_offset += a_strides[d];
        b_offset += b_strides[d];
        if (++index[d] < sizes[d]) break;
        a_offset -= a_strides[d] * sizes[d];
        b_offset -= b_strides[d] * sizes[d];
        index[d] = 0;
      }
    }
  });
}

}  // namespace tapegrad
