// The loops of an elementwise op of one tensor, off the tape: map_unary runs the forward functor
// over x, map_grad runs the backward functor over (incoming gradient, saved tensor) pairs, and
// saved_input keeps x for the backward. The ops of unary.cpp are made of them, and so are ops
// written outside the library (<tapegrad/custom_op.hpp>).
//
// A functor has one templated call operator, called with a scalar T (float or double) and with an
// xsimd::batch<T> (kernels/simd.hpp): write its math with xsimd's functions, which are std::'s on
// a scalar (xsimd::exp, xsimd::log1p, xsimd::max), and its branches with kernels::select.
// A functor with a parameter is a template on T (kernels::Pow<T>): pass a generic lambda that
// builds one, [=]<class T>() { return kernels::Pow<T>{T(exponent)}; }.
#pragma once

#include <string_view>

#include "autograd/dtype.hpp"
#include "autograd/error.hpp"
#include "autograd/kernels/map.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/tape.hpp"
#include "autograd/tensor.hpp"

namespace tapegrad {
namespace detail {

// The functor for element type T: op itself, or the one op builds for T when op is a generic
// lambda [=]<class T>() {...}.
template <class T, class Op>
auto functor_for(const Op& op) {
  if constexpr (requires { op.template operator()<T>(); }) {
    return op.template operator()<T>();
  } else {
    return op;
  }
}

}  // namespace detail

// op(x) elementwise into a new contiguous tensor of x's shape and dtype (float32 or float64), off
// the tape; a non-contiguous x is read through a contiguous copy.
template <class Op>
Tensor map_unary(std::string_view name, const Tensor& x, const Op& op) {
  if (!is_floating(x.dtype()))
    fail("{}: expected a float32 or float64 tensor, got {} of shape {}", name, x.dtype(),
         x.shape());
  const Tensor input = contiguous_values(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), name, [&]<class T>() {
    kernels::unary(input.data<T>(), out.data<T>(), out.numel(), detail::functor_for<T>(op));
  });
  return out;
}

// grad_op(g, saved) elementwise: an input's gradient from the output's gradient g and the tensor
// the op saved (its input or its output, of g's shape and dtype), into a new contiguous tensor,
// off the tape.
template <class GradOp>
Tensor map_grad(std::string_view name, const Tensor& g, const Tensor& saved,
                const GradOp& grad_op) {
  if (saved.shape() != g.shape() || saved.dtype() != g.dtype())
    fail("{}: the saved tensor is {} of shape {}, the gradient {} of shape {}", name, saved.dtype(),
         saved.shape(), g.dtype(), g.shape());
  const Tensor grad_output = contiguous(g);
  const Tensor saved_values = contiguous(saved);
  Tensor out = Tensor::empty(g.shape(), g.dtype());
  dispatch_floating(g.dtype(), name, [&]<class T>() {
    kernels::binary(grad_output.data<T>(), 1, saved_values.data<T>(), 1, out.data<T>(), out.numel(),
                    detail::functor_for<T>(grad_op));
  });
  return out;
}

// x's values, contiguous and cut from the tape: what an op whose gradient reads x saves. As
// saved(x), undefined while grad mode is off (nothing records, and a strided x is not copied).
inline Tensor saved_input(const Tensor& x) {
  return grad_enabled() ? contiguous(x.detach()) : Tensor();
}

}  // namespace tapegrad
