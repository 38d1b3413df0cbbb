#include "autograd/shape.hpp"

#include <algorithm>
#include <functional>
#include <numeric>

#include "autograd/error.hpp"

namespace tapegrad {

int64_t numel(const Shape& shape, std::string_view op) {
  // The product of the sizes with 0 counted as 1 is where contiguous strides reach: it must fit
  // too, even when a 0 leaves the tensor empty ([0, 2^32, 2^32]). The count never exceeds it.
  int64_t count = 1, extent = 1;
  for (int64_t size : shape) {
    if (size < 0) fail("{}: negative size in shape {}", op, shape);
    if (__builtin_mul_overflow(extent, std::max<int64_t>(size, 1), &extent))
      fail("{}: shape {} has more elements than fit in int64", op, shape);
    count *= size;
  }
  return count;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  const size_t ndim = std::max(a.size(), b.size());
  Shape out(ndim);
  for (size_t i = 0; i < ndim; ++i) {
    const int64_t size_a = i < ndim - a.size() ? 1 : a[i - (ndim - a.size())];
    const int64_t size_b = i < ndim - b.size() ? 1 : b[i - (ndim - b.size())];
    if (size_a != size_b && size_a != 1 && size_b != 1)
      fail("{}: shapes {} and {} cannot be broadcast (dim {}: {} vs {})", op, a, b, i, size_a,
           size_b);
    out[i] = size_a == 1 ? size_b : size_a;
  }
  return out;
}

int64_t normalize_dim(int64_t dim, int64_t ndim, std::string_view op) {
  const int64_t range = std::max<int64_t>(ndim, 1);
  if (dim < -range || dim >= range)
    fail("{}: dim {} is out of range for a tensor of {} dims; take one in [{}, {}]", op, dim, ndim,
         -range, range - 1);
  return dim < 0 ? dim + range : dim;
}

AroundDim around_dim(const Shape& shape, int64_t dim) {
  const auto at = shape.begin() + dim;
  return {std::accumulate(shape.begin(), at, int64_t{1}, std::multiplies<>()), *at,
          std::accumulate(at + 1, shape.end(), int64_t{1}, std::multiplies<>())};
}

Shape unravel_index(int64_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

}  // namespace tapegrad
