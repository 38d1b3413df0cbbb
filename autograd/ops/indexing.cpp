#include "autograd/ops/indexing.hpp"

#include <algorithm>

#include "autograd/factories.hpp"
#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/map.hpp"
#include "autograd/kernels/parallel.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

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
  // out[k] = x[start + k·step] along dim, so ∂L/∂x[start + k·step] = g[k], and ∂L/∂x = 0 at the
  // entries out does not read
  return record(op, out, {x},
                [op, dim, start, step, input_shape = saved(x.shape())](const Tensor& g) -> Grads {
                  return {place_strided(op, g, input_shape, dim, start, step)};
                });
}

// The checks gather and scatter_add share: index is int64 with as many dims as the input x, no
// larger than x outside `dim` (nor than src, if given, in any dim), its entries in
// [0, x.size(dim)).
void check_index(std::string_view op, const Tensor& x, int64_t dim, const Tensor& index,
                 const Tensor& src = {}) {
  if (index.dtype() != kInt64)
    fail(
        "{}: index must be int64, got {} of shape {} (input shape {}); convert it with .to(kInt64)",
        op, index.dtype(), index.shape(), x.shape());
  if (index.dim() != x.dim())
    fail("{}: index of shape {} must have as many dims as the input of shape {}; reshape it", op,
         index.shape(), x.shape());
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d != dim && index.shape()[d] > x.shape()[d])
      fail(
          "{}: index of shape {} is larger than the input of shape {} in dim {}; "
          "only dim {} (the one indexed) may be larger",
          op, index.shape(), x.shape(), d, dim);
    if (src.defined() && index.shape()[d] > src.shape()[d])
      fail(
          "{}: index of shape {} is larger than src of shape {} in dim {}; "
          "it may be no larger in any dim",
          op, index.shape(), src.shape(), d);
  }
  const Tensor positions = contiguous(index);
  const int64_t* at = positions.data<int64_t>();
  const int64_t size = x.shape()[dim];
  const auto bad =
      std::find_if(at, at + positions.numel(), [size](int64_t i) { return i < 0 || i >= size; });
  if (bad != at + positions.numel())
    fail("{}: index {} at position {} is out of range [0, {}) for dim {} of input shape {}", op,
         *bad, unravel_index(bad - at, index.shape()), size, dim, x.shape());
}

// Calls visit(indexed, aligned) for every position p of `index` (row-major), with the offsets, by
// the given strides, of p with its entry along `dim` replaced by index[p] (`indexed`) and of p
// itself (`aligned`).
template <class Visit>
void for_each_index(const Tensor& index, int64_t dim, const Shape& indexed_strides,
                    const Shape& aligned_strides, const Visit& visit) {
  const Tensor positions = contiguous(index);
  const int64_t* at = positions.data<int64_t>();
  const Shape& shape = index.shape();
  Shape position(shape.size(), 0);
  for (int64_t k = 0; k < positions.numel(); ++k) {
    int64_t indexed = 0, aligned = 0;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      indexed += (static_cast<int64_t>(d) == dim ? at[k] : position[d]) * indexed_strides[d];
      aligned += position[d] * aligned_strides[d];
    }
    visit(indexed, aligned);
    for (std::size_t d = shape.size(); d-- > 0 && ++position[d] == shape[d];) position[d] = 0;
  }
}

// to[p] = from[p with its entry along dim replaced by index[p]] for every position p of index
// (to's elements outside index's shape are left alone).
void gather_into(std::string_view op, const Tensor& to, const Tensor& from, int64_t dim,
                 const Tensor& index) {
  dispatch_floating(from.dtype(), op, [&]<class T>() {
    T* out = to.data<T>();
    const T* in = from.data<T>();
    for_each_index(index, dim, from.strides(), to.strides(),
                   [&](int64_t indexed, int64_t aligned) { out[aligned] = in[indexed]; });
  });
}

// to[p with its entry along dim replaced by index[p]] += from[p] for every position p of index.
void scatter_add_into(std::string_view op, const Tensor& to, const Tensor& from, int64_t dim,
                      const Tensor& index) {
  dispatch_floating(from.dtype(), op, [&]<class T>() {
    T* out = to.data<T>();
    const T* in = from.data<T>();
    for_each_index(index, dim, to.strides(), from.strides(),
                   [&](int64_t indexed, int64_t aligned) { out[indexed] += in[aligned]; });
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
        "index_select: the index must be a 0- or 1-dim int64 tensor, "
        "got {} of shape {} (input shape {})",
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
  const Tensor input = contiguous_values(x);
  Tensor out = Tensor::empty(shape, x.dtype());
  dispatch_all(x.dtype(), [&]<class T>() {
    const T* in = input.data<T>();
    T* rows = out.data<T>();
    for (int64_t o = 0; o < from.outer; ++o)
      for (int64_t k = 0; k < count; ++k)
        std::copy_n(in + (o * from.n + at[k]) * from.inner, from.inner,
                    rows + (o * count + k) * from.inner);
  });
  // out[..., k, ...] = x[..., index[k], ...], so
  //   ∂L/∂x[..., r, ...] = Σ_{k : index[k] = r} g[..., k, ...]
  // g's entry k added at entry index[k] (repeated indices accumulate)
  return record("index_select", out, {x},
                [dim, positions, input_shape = saved(x.shape())](const Tensor& g) -> Grads {
                  const int64_t* at = positions.data<int64_t>();
                  return {add_at_positions("index_select", g, input_shape, dim,
                                           [at](int64_t k) { return at[k]; })};
                });
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  dim = normalize_dim(dim, x.dim(), "select");
  if (x.dim() == 0) fail("select: a 0-dim tensor has no dim to select from");
  const int64_t size = x.shape()[dim];
  if (index < -size || index >= size)
    fail("select: index {} is out of range for dim {} of shape {}; it must be in [{}, {})", index,
         dim, x.shape(), -size, size);
  const int64_t entry = index < 0 ? index + size : index;
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  Tensor out = x.alias(shape, strides, x.storage_offset() + entry * x.strides()[dim]);
  // out = x[..., entry, ...] with dim dropped, so ∂L/∂x = g at that entry of dim, 0 elsewhere
  return record("select", out, {x},
                [dim, entry, input_shape = saved(x.shape())](const Tensor& g) -> Grads {
                  return {place_strided("select", unsqueeze(g, dim), input_shape, dim, entry, 1)};
                });
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  dim = normalize_dim(dim, x.dim(), "gather");
  if (x.dim() == 0) fail("gather: a 0-dim tensor has no dim to gather along; unsqueeze it first");
  check_index("gather", x, dim, index);
  const Tensor positions = index.detach();
  Tensor out = Tensor::empty(index.shape(), x.dtype());
  gather_into("gather", out, x.detach(), dim, positions);
  // out[p] = x[p with index[p] along dim], so
  //   ∂L/∂x[q] = Σ over the p that read q of g[p]:
  // g added back at the positions it was read from (repeated indices accumulate)
  return record("gather", out, {x},
                [dim, positions, input_shape = saved(x.shape())](const Tensor& g) -> Grads {
                  const Tensor grad = zeros(input_shape, {.dtype = g.dtype()});
                  scatter_add_into("gather", grad, g, dim, positions);
                  return {grad};
                });
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  dim = normalize_dim(dim, x.dim(), "scatter_add");
  if (x.dim() == 0)
    fail("scatter_add: a 0-dim tensor has no dim to scatter along; unsqueeze it first");
  if (src.dtype() != x.dtype() || src.dim() != x.dim())
    fail(
        "scatter_add: src ({} of shape {}) must have the input's dtype and number of dims "
        "({} of shape {})",
        src.dtype(), src.shape(), x.dtype(), x.shape());
  check_index("scatter_add", x, dim, index, src);
  const Tensor positions = index.detach();
  Tensor out = clone(x.detach());
  scatter_add_into("scatter_add", out, src.detach(), dim, positions);
  // out = x + S(src), S adding src[p] at p with index[p] along dim, so
  //   ∂L/∂x = g
  //   ∂L/∂src[p] = g[p with index[p] along dim]  (0 where p is outside index's shape)
  return record("scatter_add", out, {x, src},
                [dim, positions, src_shape = saved(src.shape())](const Tensor& g) -> Grads {
                  const Tensor grad_src = zeros(src_shape, {.dtype = g.dtype()});
                  gather_into("scatter_add", grad_src, g, dim, positions);
                  return {g, grad_src};
                });
}

}  // namespace tapegrad
