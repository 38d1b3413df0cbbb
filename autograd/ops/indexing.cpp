#include "autograd/ops/indexing.hpp"

#include <algorithm>
#include <numeric>

#include "autograd/factories.hpp"
#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/map.hpp"
#include "autograd/kernels/parallel.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// `shape` seen as [outer, shape[dim], inner] around `dim`.
struct AroundDim {
  int64_t outer, n, inner;
};
AroundDim around_dim(const Shape& shape, int64_t dim) {
  const auto at = shape.begin() + dim;
  return {std::accumulate(shape.begin(), at, int64_t{1}, std::multiplies<>()), *at,
          std::accumulate(at + 1, shape.end(), int64_t{1}, std::multiplies<>())};
}

// zeros of `shape` with g's entry k along `dim` added at entry position(k), repeated positions
// accumulating: the gradient of index_select. g has `shape` except along `dim`.
template <class Position>
Tensor add_at_positions(std::string_view op, const Tensor& g, const Shape& shape, int64_t dim,
                        const Position& position) {
  const Tensor grad_output = contiguous(g);
  Tensor grad = zeros(shape, {.dtype = g.dtype()});
  const AroundDim to = around_dim(shape, dim);
  const int64_t entries = g.shape()[dim];
  dispatch_floating(g.dtype(), op, [&]<class T>() {
    const T* from = grad_output.data<T>();
    T* out = grad.data<T>();
    for (int64_t o = 0; o < to.outer; ++o)
      for (int64_t k = 0; k < entries; ++k) {
        T* row = out + (o * to.n + position(k)) * to.inner;
        kernels::binary_row(row, 1, from + (o * entries + k) * to.inner, 1, row, to.inner,
                            kernels::Add{});
      }
  });
  return grad;
}

// The gradient of the view of entries start + k·step (k < g.shape()[dim]) along `dim` of an
// input of `shape`: g at those entries, zeros elsewhere, each element written once.
Tensor place_strided(std::string_view op, const Tensor& g, const Shape& shape, int64_t dim,
                     int64_t start, int64_t step) {
  const Tensor grad_output = contiguous(g);
  Tensor grad = Tensor::empty(shape, g.dtype());
  const AroundDim to = around_dim(shape, dim);
  const int64_t entries = g.shape()[dim], slab = to.n * to.inner;
  dispatch_floating(g.dtype(), op, [&]<class T>() {
    const T* from = grad_output.data<T>();
    T* out = grad.data<T>();
    kernels::parallel_for(to.outer, slab, [&](int64_t first, int64_t last) {
      for (int64_t o = first; o < last; ++o) {
        T* to_slab = out + o * slab;
        const T* from_slab = from + o * entries * to.inner;
        if (step == 1) {  // zeros, the entries as one block, zeros
          std::fill_n(to_slab, start * to.inner, T(0));
          std::copy_n(from_slab, entries * to.inner, to_slab + start * to.inner);
          std::fill(to_slab + (start + entries) * to.inner, to_slab + slab, T(0));
        } else {
          std::fill_n(to_slab, slab, T(0));
          for (int64_t k = 0; k < entries; ++k)
            std::copy_n(from_slab + k * to.inner, to.inner,
                        to_slab + (start + k * step) * to.inner);
        }
      }
    });
  });
  return grad;
}

// The view of entries start, start + step, ... (`length` of them) along `dim`, recorded as `op`.
Tensor strided_view(std::string_view op, const Tensor& x, int64_t dim, int64_t start,
                    int64_t length, int64_t step) {
  Shape shape = x.shape(), strides = x.strides();
  shape[dim] = length;
  strides[dim] *= step;
  Tensor out = x.alias(shape, strides, x.storage_offset() + start * x.strides()[dim]);
  // d/dx x[start::step]: g at entries start + k·step, 0 elsewhere
  return record(op, out, {x},
                [op, dim, start, step, input_shape = x.shape()](const Tensor& g) -> Grads {
                  return {place_strided(op, g, input_shape, dim, start, step)};
                });
}

}  // namespace

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  dim = normalize_dim(dim, x.dim(), "narrow");
  if (x.dim() == 0) fail("narrow: a 0-dim tensor has no dim to narrow");
  const int64_t size = x.shape()[dim];
  const int64_t first = start < 0 ? start + size : start;
  if (first < 0 || length < 0 || first + length > size)
    fail("narrow: start {} and length {} do not fit in dim {} of shape {}", start, length, dim,
         x.shape());
  return strided_view("narrow", x, dim, first, length, 1);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  dim = normalize_dim(dim, x.dim(), "slice");
  if (x.dim() == 0) fail("slice: a 0-dim tensor has no dim to slice");
  if (step <= 0) fail("slice: step {} must be positive (dim {} of shape {})", step, dim, x.shape());
  const int64_t size = x.shape()[dim];
  const auto clamp_index = [size](int64_t i) {
    return std::clamp<int64_t>(i < 0 ? i + size : i, 0, size);
  };
  const int64_t first = clamp_index(start), last = std::max(first, clamp_index(end));
  return strided_view("slice", x, dim, first, (last - first + step - 1) / step, step);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  dim = normalize_dim(dim, x.dim(), "split");
  if (x.dim() == 0) fail("split: a 0-dim tensor has no dim to split");
  if (split_size <= 0)
    fail("split: split_size {} must be positive (dim {} of shape {})", split_size, dim, x.shape());
  const int64_t size = x.shape()[dim];
  std::vector<Tensor> pieces;
  int64_t start = 0;
  do {
    pieces.push_back(narrow(x, dim, start, std::min(split_size, size - start)));
    start += split_size;
  } while (start < size);
  return pieces;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  dim = normalize_dim(dim, x.dim(), "index_select");
  if (x.dim() == 0) fail("index_select: a 0-dim tensor has no dim to index");
  if (index.dtype() != kInt64 || index.dim() > 1)
    fail(
        "index_select: the index must be a 0- or 1-dim int64 tensor, got {} of shape {} (input "
        "shape {})",
        index.dtype(), index.shape(), x.shape());
  const Tensor positions = contiguous(index.detach());
  const int64_t* at = positions.data<int64_t>();
  const int64_t count = positions.numel();
  const AroundDim from = around_dim(x.shape(), dim);
  for (int64_t k = 0; k < count; ++k)
    if (at[k] < 0 || at[k] >= from.n)
      fail("index_select: index {} is out of range for dim {} of shape {}", at[k], dim, x.shape());
  Shape shape = x.shape();
  shape[dim] = count;
  const Tensor input = contiguous(x.detach());
  Tensor out = Tensor::empty(shape, x.dtype());
  dispatch_all(x.dtype(), [&]<class T>() {
    const T* in = input.data<T>();
    T* rows = out.data<T>();
    for (int64_t o = 0; o < from.outer; ++o)
      for (int64_t k = 0; k < count; ++k)
        std::copy_n(in + (o * from.n + at[k]) * from.inner, from.inner,
                    rows + (o * count + k) * from.inner);
  });
  // d/dx index_select: g's entry k added at entry index[k] (repeated indices accumulate)
  return record("index_select", out, {x},
                [dim, positions, input_shape = x.shape()](const Tensor& g) -> Grads {
                  const int64_t* at = positions.data<int64_t>();
                  return {add_at_positions("index_select", g, input_shape, dim,
                                           [at](int64_t k) { return at[k]; })};
                });
}

}  // namespace tapegrad
