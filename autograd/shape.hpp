// Shapes and strides: the small arithmetic every op needs (element counts, row-major strides,
// NumPy broadcasting, negative dims). Shapes print as [2, 3] with fmt.
#pragma once

#include <fmt/ranges.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace tapegrad {

using Shape = std::vector<int64_t>;

// Product of the sizes; an error naming `op` if a size is negative or the product, with sizes of 0
// counted as 1 (as contiguous strides count them), overflows int64.
int64_t numel(const Shape& shape, std::string_view op = "shape");

// Row-major strides, in elements: the last dim has stride 1.
Shape contiguous_strides(const Shape& shape);

// NumPy broadcasting of two shapes: align on the right, sizes equal or one of them 1.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

// A dim in [-ndim, ndim) made non-negative; an error naming `op` and that range otherwise.
int64_t normalize_dim(int64_t dim, int64_t ndim, std::string_view op);

// `shape` seen as [outer, shape[dim], inner] around `dim` (in [0, ndim)): the element counts
// before, along and after it.
struct AroundDim {
  int64_t outer, n, inner;
};
AroundDim around_dim(const Shape& shape, int64_t dim);

// The multi-index of the `flat`-th element of `shape` in row-major order: for error messages.
Shape unravel_index(int64_t flat, const Shape& shape);

}  // namespace tapegrad
