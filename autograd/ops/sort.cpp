#include "autograd/ops/sort.hpp"

#include "autograd/factories.hpp"
#include "autograd/kernels/sort.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/indexing.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// `dim` made non-negative, after checking that x has one.
int64_t dim_to_order(std::string_view op, const Tensor& x, int64_t dim) {
  dim = normalize_dim(dim, x.dim(), op);
  if (x.dim() == 0) fail("{}: a 0-dim tensor has no dim to order along; unsqueeze it first", op);
  return dim;
}

// The first k elements of every line of x along `dim` (non-negative) in the order `descending`
// asks, recorded as `op`.
ValuesAndIndices first_in_order(std::string_view op, const Tensor& x, int64_t dim, int64_t k,
                                bool descending, bool in_line_order) {
  const Tensor input = contiguous_values(x);
  const AroundDim lines = around_dim(x.shape(), dim);
  Shape shape = x.shape();
  shape[dim] = k;
  Tensor values = Tensor::empty(shape, x.dtype());
  const Tensor indices = Tensor::empty(shape, kInt64);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    kernels::sort_lines(input.data<T>(), lines.outer, lines.n, lines.inner, k, descending,
                        in_line_order, values.data<T>(), indices.data<int64_t>());
  });
  // values = gather(x, dim, indices), so
  //   ∂L/∂x = g added back at the positions the indices name (each at most once)
  values = record(op, values, {x},
                  [dim, indices, input_shape = saved(x.shape())](const Tensor& g) -> Grads {
                    return {scatter_add(zeros(input_shape, {.dtype = g.dtype()}), dim, indices, g)};
                  });
  return {values, indices};
}

}  // namespace

ValuesAndIndices sort(const Tensor& x, int64_t dim, bool descending) {
  dim = dim_to_order("sort", x, dim);
  return first_in_order("sort", x, dim, x.shape()[dim], descending, false);
}

ValuesAndIndices topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  dim = dim_to_order("topk", x, dim);
  const int64_t size = x.shape()[dim];
  if (k < 0 || k > size)
    fail("topk: k = {} is outside [0, {}], the size of dim {} of shape {}; take k <= {}", k, size,
         dim, x.shape(), size);
  return first_in_order("topk", x, dim, k, largest, !sorted);
}

}  // namespace tapegrad
