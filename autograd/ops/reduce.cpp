#include "autograd/ops/reduce.hpp"

#include <algorithm>
#include <numeric>

#include "autograd/factories.hpp"
#include "autograd/kernels/reduce.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// The dims as a mask over x's dims; an empty list means every dim. A 0-dim tensor accepts dim 0
// or -1 and has nothing to reduce.
std::vector<bool> reduced_dims(const Tensor& x, const Shape& dims, std::string_view op) {
  std::vector<bool> reduced(static_cast<std::size_t>(x.dim()), dims.empty());
  for (int64_t d : dims) {
    const int64_t dim = normalize_dim(d, x.dim(), op);
    if (x.dim() == 0) continue;
    if (reduced[dim]) fail("{}: dim {} appears twice in {} for shape {}", op, d, dims, x.shape());
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

// The result's shape: the reduced dims kept as 1, or dropped.
Shape result_shape(const Shape& kept, const std::vector<bool>& reduced, bool keepdim) {
  Shape shape;
  for (std::size_t d = 0; d < kept.size(); ++d)
    if (keepdim || !reduced[d]) shape.push_back(kept[d]);
  return shape;
}

int64_t product(Shape::const_iterator begin, Shape::const_iterator end) {
  return std::accumulate(begin, end, int64_t{1}, std::multiplies<>());
}

// x's values as a contiguous [outer, n, inner] block whose middle axis walks the reduced
// elements, and whose [outer, inner] order is that of the kept dims: x itself when the reduced
// dims are neighbours, else a copy with them moved last. Off the tape.
struct Lines {
  Tensor values;
  int64_t outer, n, inner;
};
Lines reduction_lines(const Tensor& x, const std::vector<bool>& reduced) {
  const auto first = std::find(reduced.begin(), reduced.end(), true);
  const auto last = std::find(reduced.rbegin(), reduced.rend(), true).base();
  const Shape& shape = x.shape();
  if (first == reduced.end()) return {contiguous(x.detach()), x.numel(), 1, 1};
  const std::ptrdiff_t begin = first - reduced.begin(), end = last - reduced.begin();
  if (std::all_of(first, last, [](bool r) { return r; }))
    return {contiguous(x.detach()), product(shape.begin(), shape.begin() + begin),
            product(shape.begin() + begin, shape.begin() + end),
            product(shape.begin() + end, shape.end())};
  Shape order;
  int64_t n = 1;
  for (std::size_t d = 0; d < reduced.size(); ++d)
    if (!reduced[d]) order.push_back(static_cast<int64_t>(d));
  for (std::size_t d = 0; d < reduced.size(); ++d)
    if (reduced[d]) {
      order.push_back(static_cast<int64_t>(d));
      n *= shape[d];
    }
  return {contiguous(permute(x.detach(), order)), x.numel() / std::max<int64_t>(n, 1), n, 1};
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
    const int64_t outer = product(shape.begin(), shape.begin() + begin);
    const int64_t n = product(shape.begin() + begin, shape.begin() + end + 1);
    const int64_t inner = product(shape.begin() + end + 1, shape.end());
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
  const Shape out_shape = result_shape(kept, reduced, keepdim);
  const Tensor values = sum_values(x, reduced);
  Tensor out = values.alias(out_shape, contiguous_strides(out_shape), values.storage_offset());
  // out[k] = Σ_{i in line k} x[i], so ∂out[k]/∂x[i] = 1 for the one line k that holds i, and
  //   ∂L/∂x[i] = g[k(i)]
  // g (reduced dims kept as 1) expanded back over the reduced dims
  return record("sum", out, {x}, [kept, input_shape = saved(x.shape())](const Tensor& g) -> Grads {
    return {expand(reshape(g, kept), input_shape)};
  });
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  const std::vector<bool> reduced = reduced_dims(x, dims, "mean");
  int64_t count = 1;
  for (std::size_t d = 0; d < reduced.size(); ++d)
    if (reduced[d]) count *= x.shape()[d];
  if (count == 0)
    fail("mean: reducing shape {} over dims {} averages zero elements", x.shape(), dims);
  // out = (1/N)·Σ x over N elements, so ∂L/∂x[i] = g[k(i)]/N: the backward of sum (g expanded)
  // then that of the scalar product (·1/N), recorded as those two ops
  return mul(sum(x, dims, keepdim), 1.0 / static_cast<double>(count));
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

namespace {

// The largest element of each line along `dim` and where it first occurs, off the tape, with the
// [outer, n, inner] layout of the lines; errors name `op`.
struct LineMaxima {
  ValuesAndIndices maxima;
  int64_t outer, n, inner;
};
LineMaxima line_maxima(const Tensor& x, int64_t dim, bool keepdim, std::string_view op) {
  const std::vector<bool> reduced = reduced_dims(x, {dim}, op);
  const Shape kept = keepdim_shape(x, reduced);
  const Lines lines = reduction_lines(x, reduced);
  if (lines.n == 0)
    fail("{}: dim {} of shape {} is empty; the max of no elements is undefined", op, dim,
         x.shape());
  const Shape out_shape = result_shape(kept, reduced, keepdim);
  Tensor values = Tensor::empty(out_shape, x.dtype());
  Tensor indices = Tensor::empty(out_shape, kInt64);
  dispatch_floating(x.dtype(), op, [&]<class T>() {
    kernels::max(lines.values.data<T>(), lines.outer, lines.n, lines.inner, values.data<T>(),
                 indices.data<int64_t>());
  });
  return {{values, indices}, lines.outer, lines.n, lines.inner};
}

// x flattened, after checking that it has an element to pick.
Tensor flat_nonempty(const Tensor& x, std::string_view op) {
  if (x.numel() == 0)
    fail("{}: the tensor of shape {} is empty; the max of no elements is undefined", op, x.shape());
  return flatten(x);
}

}  // namespace

ValuesAndIndices max(const Tensor& x, int64_t dim, bool keepdim) {
  const LineMaxima lines = line_maxima(x, dim, keepdim, "max");
  const Tensor indices = lines.maxima.indices;
  const int64_t outer = lines.outer, n = lines.n, inner = lines.inner;
  // out[k] = x[i*(k)], i*(k) the line's arg-max (its first maximum on ties), so
  //   ∂out[k]/∂x[i] = 1 if i = i*(k), else 0
  //   ∂L/∂x[i] = g[k] at each line's arg-max, 0 elsewhere
  const Tensor values = record("max", lines.maxima.values, {x},
                               [=, input_shape = saved(x.shape())](const Tensor& g) -> Grads {
                                 const Tensor grad_output = contiguous(g);
                                 Tensor grad = zeros(input_shape, {.dtype = g.dtype()});
                                 dispatch_floating(g.dtype(), "max", [&]<class T>() {
                                   const T* from = grad_output.data<T>();
                                   const int64_t* arg_max = indices.data<int64_t>();
                                   T* to = grad.data<T>();
                                   for (int64_t o = 0; o < outer; ++o)
                                     for (int64_t j = 0; j < inner; ++j)
                                       to[(o * n + arg_max[o * inner + j]) * inner + j] =
                                           from[o * inner + j];
                                 });
                                 return {grad};
                               });
  return {values, indices};
}

Tensor max(const Tensor& x) { return max(flat_nonempty(x, "max"), 0).values; }

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return line_maxima(x.detach(), dim, keepdim, "argmax").maxima.indices;
}

Tensor argmax(const Tensor& x) { return argmax(flat_nonempty(x.detach(), "argmax"), 0); }

// -x's first maximum is x's first minimum; a NaN stays NaN, which wins either way (as PyTorch).
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  if (!is_floating(x.dtype()))  // before neg, so that the error names argmin
    fail("argmin: expected a floating tensor (float32 or float64), got {}", x.dtype());
  return line_maxima(neg(x.detach()), dim, keepdim, "argmin").maxima.indices;
}

Tensor argmin(const Tensor& x) { return argmin(flat_nonempty(x.detach(), "argmin"), 0); }

Tensor var(const Tensor& x, const Shape& dims, int64_t correction, bool keepdim) {
  const std::vector<bool> reduced = reduced_dims(x, dims, "var");
  const Shape kept = keepdim_shape(x, reduced);
  const Lines lines = reduction_lines(x, reduced);
  Tensor mean_values = Tensor::empty(kept, x.dtype());
  Tensor out = Tensor::empty(result_shape(kept, reduced, keepdim), x.dtype());
  dispatch_floating(x.dtype(), "var", [&]<class T>() {
    kernels::variance(lines.values.data<T>(), lines.outer, lines.n, lines.inner, correction,
                      mean_values.data<T>(), out.data<T>());
  });
  const double divisor = static_cast<double>(std::max<int64_t>(0, lines.n - correction));
  // v = Σ_k (x_k - μ)² / D over a line of n, μ = Σ_j x_j / n, D = n - correction:
  //   ∂v/∂x_i = (2/D)·Σ_k (x_k - μ)·(δ_ki - 1/n)
  //           = (2/D)·((x_i - μ) - Σ_k (x_k - μ) / n)
  //           = (2/D)·(x_i - μ)          since Σ_k (x_k - μ) = 0: μ's own term vanishes
  //   ∂L/∂x_i = g·2(x_i - μ)/D
  return record("var", out, {x},
                [x = saved(x), mean_values, kept, divisor](const Tensor& g) -> Grads {
                  return {mul(mul(sub(x, mean_values), reshape(g, kept)), 2.0 / divisor)};
                });
}

// A broadcast input's gradient (elementwise.cpp derives it): g summed over the leading dims that
// broadcasting added and over the dims it stretched from size 1, then viewed in `shape`.
Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const auto does_not_broadcast = [&] {
    fail("sum_to: cannot sum shape {} to {}, which does not broadcast to it", g.shape(), shape);
  };
  if (shape.size() > g.shape().size()) does_not_broadcast();
  const std::size_t lead = g.shape().size() - shape.size();
  Shape dims;
  for (std::size_t d = 0; d < g.shape().size(); ++d) {
    if (d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1))
      dims.push_back(static_cast<int64_t>(d));
    else if (shape[d - lead] != g.shape()[d])
      does_not_broadcast();
  }
  return reshape(sum(g, dims, true), shape);
}

}  // namespace tapegrad
