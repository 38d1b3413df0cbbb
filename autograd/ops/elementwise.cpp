#include "autograd/ops/elementwise.hpp"

#include "autograd/kernels/functors.hpp"
#include "autograd/kernels/map.hpp"
#include "autograd/ops/broadcast.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// out = op(a, b) broadcast, off the tape.
template <class Op>
Tensor broadcast_map(std::string_view name, const Tensor& a, const Tensor& b, Op op) {
  if (a.dtype() != b.dtype())
    fail("{}: dtypes differ ({} and {}) for shapes {} and {}", name, a.dtype(), b.dtype(),
         a.shape(), b.shape());
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  const Tensor ac = contiguous_values(a), bc = contiguous_values(b);
  Tensor out = Tensor::empty(out_shape, a.dtype());
  dispatch_floating(a.dtype(), name, [&]<class T>() {
    const T* pa = ac.data<T>();
    const T* pb = bc.data<T>();
    T* po = out.data<T>();
    // A single row (same shapes, a scalar operand) is shared among threads by the kernel, many
    // rows by for_each_broadcast_row.
    const int64_t total = out.numel();
    for_each_broadcast_row(
        out_shape, a.shape(), b.shape(),
        [&](int64_t ia, int64_t sa, int64_t ib, int64_t sb, int64_t io, int64_t n) {
          if (n == total) {
            kernels::binary(pa + ia, sa, pb + ib, sb, po + io, n, op);
          } else {
            kernels::binary_row(pa + ia, sa, pb + ib, sb, po + io, n, op);
          }
        });
  });
  return out;
}

// A one-element tensor of x's dtype holding `value`.
Tensor scalar_like(const Tensor& x, double value) {
  Tensor out = Tensor::empty({}, x.dtype());
  dispatch_floating(x.dtype(), "scalar",
                    [&]<class T>() { *out.data<T>() = static_cast<T>(value); });
  return out;
}

}  // namespace

// Each backward maps g = ∂L/∂out to one gradient per input. With broadcasting, one input element
// feeds many outputs: a [1, N] added to b [M, N] reads a[0, j] for every out[i, j], so
//   ∂L/∂a[0, j] = Σ_i ∂L/∂out[i, j] · ∂out[i, j]/∂a[0, j]
// the elementwise gradient summed over every dim a was broadcast along (the leading dims it lacks
// and its size-1 dims): sum_to(·, a.shape), the identity when nothing was broadcast.

Tensor add(const Tensor& a, const Tensor& b) {
  // ∂(a + b)/∂a = 1, ∂(a + b)/∂b = 1, so
  //   ∂L/∂a = sum_to(g, a.shape),  ∂L/∂b = sum_to(g, b.shape)
  return record("add", broadcast_map("add", a, b, kernels::Add{}), {a, b},
                [sa = saved(a.shape()), sb = saved(b.shape())](const Tensor& g) -> Grads {
                  return {sum_to(g, sa), sum_to(g, sb)};
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  // ∂(a - b)/∂a = 1, ∂(a - b)/∂b = -1, so
  //   ∂L/∂a = sum_to(g, a.shape),  ∂L/∂b = sum_to(-g, b.shape)
  return record("sub", broadcast_map("sub", a, b, kernels::Sub{}), {a, b},
                [sa = saved(a.shape()), sb = saved(b.shape())](const Tensor& g) -> Grads {
                  return {sum_to(g, sa), sum_to(neg(g), sb)};
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  // ∂(a·b)/∂a = b, ∂(a·b)/∂b = a, so
  //   ∂L/∂a = sum_to(g·b, a.shape),  ∂L/∂b = sum_to(g·a, b.shape)
  return record("mul", broadcast_map("mul", a, b, kernels::Mul{}), {a, b},
                [a = saved(a), b = saved(b)](const Tensor& g) -> Grads {
                  return {sum_to(mul(g, b), a.shape()), sum_to(mul(g, a), b.shape())};
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  // ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = -a/b² = -(a/b)/b = -out/b, so
  //   ∂L/∂a = sum_to(g/b, a.shape),  ∂L/∂b = sum_to(-(g/b)·out, b.shape)
  Tensor out = broadcast_map("div", a, b, kernels::Div{});
  return record("div", out, {a, b},
                [sa = saved(a.shape()), b = saved(b), out = saved(out)](const Tensor& g) -> Grads {
                  const Tensor g_over_b = div(g, b);
                  return {sum_to(g_over_b, sa), sum_to(neg(mul(g_over_b, out)), b.shape())};
                });
}

Tensor add(const Tensor& a, double b) {
  // ∂(a + c)/∂a = 1, so ∂L/∂a = g
  return record("add_scalar", broadcast_map("add", a, scalar_like(a, b), kernels::Add{}), {a},
                [](const Tensor& g) -> Grads { return {g}; });
}

Tensor mul(const Tensor& a, double b) {
  // ∂(a·c)/∂a = c, so ∂L/∂a = c·g
  return record("mul_scalar", broadcast_map("mul", a, scalar_like(a, b), kernels::Mul{}), {a},
                [b](const Tensor& g) -> Grads { return {mul(g, b)}; });
}

Tensor neg(const Tensor& x) {
  // ∂(-x)/∂x = -1, so ∂L/∂x = -g
  return record("neg", broadcast_map("neg", x, scalar_like(x, -1.0), kernels::Mul{}), {x},
                [](const Tensor& g) -> Grads { return {neg(g)}; });
}

}  // namespace tapegrad
