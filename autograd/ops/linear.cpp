#include "autograd/ops/linear.hpp"

#include <algorithm>

#include "autograd/kernels/gemm.hpp"
#include "autograd/kernels/parallel.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

using kernels::Transpose;

void check_arguments(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (weight.dim() != 2)
    fail("linear: weight must be [out_features, in_features], got shape {}", weight.shape());
  if (x.dim() == 0 || x.size(-1) != weight.size(1))
    fail("linear: input of shape {} does not end in in_features {} (weight shape {})", x.shape(),
         weight.size(1), weight.shape());
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0)))
    fail("linear: bias of shape {} does not match out_features {} (weight shape {})", bias.shape(),
         weight.size(0), weight.shape());
  const bool same_dtype =
      x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == x.dtype());
  if (!same_dtype || !is_floating(x.dtype()))
    fail("linear: input, weight and bias need one floating dtype, got {}, {} and {}", x.dtype(),
         weight.dtype(), bias.defined() ? bias.dtype() : x.dtype());
}

// [..., K] -> [M, K], contiguous, off the tape.
Tensor as_rows(const Tensor& x) {
  const Tensor values = contiguous(x.detach());
  const int64_t K = x.size(-1);
  return values.alias({K == 0 ? 0 : values.numel() / K, K}, {K, 1}, values.storage_offset());
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_arguments(x, weight, bias);
  const Tensor rows = as_rows(x), w = contiguous(weight.detach());
  const int64_t M = rows.size(0), K = rows.size(1), N = w.size(0);
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor out = Tensor::empty(out_shape, x.dtype());
  dispatch_floating(x.dtype(), "linear", [&]<class T>() {
    T* y = out.data<T>();
    if (bias.defined()) {
      const Tensor b = contiguous(bias.detach());
      kernels::parallel_for(M, N, [&](int64_t first, int64_t last) {
        for (int64_t i = first; i < last; ++i) std::copy_n(b.data<T>(), N, y + i * N);
      });
    }
    kernels::gemm<T>(Transpose::No, Transpose::Yes, M, N, K, T(1), rows.data<T>(), K, w.data<T>(),
                     K, bias.defined() ? T(1) : T(0), y, N);
  });
  // d/dx = g W, d/dW = gᵀ x, d/db = column sums of g (g seen as [M, N])
  return record(
      "linear", out, {x, weight, bias},
      [rows, w, x_shape = x.shape(), has_bias = bias.defined()](const Tensor& g) -> Grads {
        const Tensor g_rows = as_rows(g);
        const int64_t M = rows.size(0), K = rows.size(1), N = w.size(0);
        Tensor gx = Tensor::empty(x_shape, g.dtype());
        Tensor gw = Tensor::empty(w.shape(), g.dtype());
        dispatch_floating(g.dtype(), "linear backward", [&]<class T>() {
          const T* gy = g_rows.data<T>();
          kernels::gemm<T>(Transpose::No, Transpose::No, M, K, N, T(1), gy, N, w.data<T>(), K, T(0),
                           gx.data<T>(), K);
          kernels::gemm<T>(Transpose::Yes, Transpose::No, N, K, M, T(1), gy, N, rows.data<T>(), K,
                           T(0), gw.data<T>(), K);
        });
        return {gx, gw, has_bias ? sum(g_rows, {0}) : Tensor()};
      });
}

}  // namespace tapegrad
