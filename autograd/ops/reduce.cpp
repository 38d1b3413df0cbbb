#include "autograd/ops/reduce.hpp"

#include <algorithm>
#include <numeric>

#include "autograd/kernels/reduce.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// The dims as a mask over x's dims; an empty list means every dim.
std::vector<bool> reduced_dims(const Tensor& x, const Shape& dims, std::string_view op) {
  std::vector<bool> reduced(static_cast<std::size_t>(x.dim()), dims.empty());
  for (int64_t d : dims) {
    const int64_t dim = normalize_dim(d, x.dim(), op);
    if (reduced[dim]) fail("{}: dim {} appears twice in {}", op, d, dims);
    reduced[dim] = true;
  }
  return reduced;
}

// x's shape with the reduced dims set to 1.
Shape keepdim_shape(const Tensor& x, const std::vector<bool>& reduced) {
  Shape shape = x.shape();
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (reduced[d]) shape[d] = 1;
  return shape;
}

// Sums the reduced dims of x, one run of neighbouring dims at a time (last run first), into a
// tensor of keepdim shape; off the tape.
Tensor sum_values(const Tensor& x, const std::vector<bool>& reduced) {
  Tensor current = contiguous(x.detach());
  for (std::size_t end = reduced.size(); end-- > 0;) {
    if (!reduced[end]) continue;
    std::size_t begin = end;
    while (begin > 0 && reduced[begin - 1]) --begin;
    const Shape& shape = current.shape();
    const int64_t outer = std::accumulate(shape.begin(), shape.begin() + begin, int64_t{1}, std::multiplies<>());
    const int64_t n = std::accumulate(shape.begin() + begin, shape.begin() + end + 1, int64_t{1}, std::multiplies<>());
    const int64_t inner = std::accumulate(shape.begin() + end + 1, shape.end(), int64_t{1}, std::multiplies<>());
    Shape out_shape = shape;
    std::fill(out_shape.begin() + begin, out_shape.begin() + end + 1, 1);
    Tensor out = Tensor::empty(out_shape, x.dtype());
    dispatch_floating(x.dtype(), "sum", [&]<class T>() {
      kernels::sum(current.data<T>(), outer, n, inner, out.data<T>());
    });
    current = out;
    end = begin;
  }
  return current;
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  const std::vector<bool> reduced = reduced_dims(x, dims, "sum");
  const Shape kept = keepdim_shape(x, reduced);
  Shape out_shape;
  for (std::size_t d = 0; d < kept.size(); ++d)
    if (keepdim || !reduced[d]) out_shape.push_back(kept[d]);
  const Tensor values = sum_values(x, reduced);
  Tensor out = values.alias(out_shape, contiguous_strides(out_shape), values.storage_offset());
  // d/dx sum(x) = 1: the gradient expanded back over the reduced dims
  return record("sum", out, {x}, [kept, input_shape = x.shape()](const Tensor& g) -> Grads {
    return {expand(reshape(g, kept), input_shape)};
  });
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  const std::vector<bool> reduced = reduced_dims(x, dims, "mean");
  int64_t count = 1;
  for (std::size_t d = 0; d < reduced.size(); ++d)
    if (reduced[d]) count *= x.shape()[d];
  if (count == 0) fail("mean: reducing shape {} over dims {} averages zero elements", x.shape(), dims);
  return mul(sum(x, dims, keepdim), 1.0 / static_cast<double>(count));
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const std::size_t lead = g.shape().size() - shape.size();
  Shape dims;
  for (std::size_t d = 0; d < g.shape().size(); ++d)
    if (d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1)) dims.push_back(static_cast<int64_t>(d));
  return reshape(sum(g, dims, true), shape);
}

}  // namespace tapegrad
