#include "autograd/ops/select.hpp"

#include "autograd/ops/compare.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// x's values broadcast to `shape`, contiguous, off the tape.
Tensor broadcast_values(const Tensor& x, const Shape& shape) {
  return contiguous(expand(x.detach(), shape));
}

void check_mask(std::string_view op, const Tensor& mask, const Tensor& x) {
  if (mask.dtype() != kBool)
    fail("{}: the mask must be bool, got {} (mask shape {}, input shape {})", op, mask.dtype(),
         mask.shape(), x.shape());
}

}  // namespace

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_mask("masked_fill", mask, x);
  const Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  const Tensor xs = broadcast_values(x, shape), ms = broadcast_values(mask, shape);
  Tensor out = Tensor::empty(shape, x.dtype());
  dispatch_all(x.dtype(), [&]<class T>() {
    const T* px = xs.data<T>();
    const bool* pm = ms.data<bool>();
    T* po = out.data<T>();
    const T fill = static_cast<T>(value);
    const int64_t n = out.numel();
    for (int64_t i = 0; i < n; ++i) po[i] = pm[i] ? fill : px[i];
  });
  // out_i = v where m_i, else x_i: ∂out_i/∂x_i = 0 where m_i, else 1, so ∂L/∂x = g with the
  // masked entries 0, summed back to x's shape when the mask broadcast x
  return record("masked_fill", out, {x},
                [mask = saved(mask), input_shape = saved(x.shape())](const Tensor& g) -> Grads {
                  return {sum_to(masked_fill(g, mask, 0.0), input_shape)};
                });
}

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_mask("where", condition, a);
  if (a.dtype() != b.dtype())
    fail("where: dtypes differ ({} and {}) for shapes {} and {}", a.dtype(), b.dtype(), a.shape(),
         b.shape());
  const Shape shape =
      broadcast_shapes(condition.shape(), broadcast_shapes(a.shape(), b.shape(), "where"), "where");
  const Tensor cs = broadcast_values(condition, shape);
  const Tensor as = broadcast_values(a, shape), bs = broadcast_values(b, shape);
  Tensor out = Tensor::empty(shape, a.dtype());
  dispatch_all(a.dtype(), [&]<class T>() {
    const bool* pc = cs.data<bool>();
    const T* pa = as.data<T>();
    const T* pb = bs.data<T>();
    T* po = out.data<T>();
    const int64_t n = out.numel();
    for (int64_t i = 0; i < n; ++i) po[i] = pc[i] ? pa[i] : pb[i];
  });
  // out_i = a_i where c_i, else b_i: ∂out_i/∂a_i = [c_i], ∂out_i/∂b_i = [!c_i], so
  //   ∂L/∂a = sum_to(g where c, else 0),  ∂L/∂b = sum_to(g where !c, else 0)
  return record("where", out, {a, b},
                [condition = saved(condition), sa = saved(a.shape()),
                 sb = saved(b.shape())](const Tensor& g) -> Grads {
                  return {sum_to(masked_fill(g, !condition, 0.0), sa),
                          sum_to(masked_fill(g, condition, 0.0), sb)};
                });
}

}  // namespace tapegrad
