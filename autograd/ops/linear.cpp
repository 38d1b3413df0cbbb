#include "autograd/ops/linear.hpp"

#include <string_view>

#include "autograd/kernels/gemm.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/ops/unary.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

using kernels::Transpose;

// [..., in_features] -> [..., out_features]
Shape output_shape(const Tensor& x, const Tensor& weight) {
  Shape shape = x.shape();
  shape.back() = weight.size(0);
  return shape;
}

void check_arguments(std::string_view op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                     const Tensor& residual) {
  if (weight.dim() != 2)
    fail("{}: weight must be [out_features, in_features], got shape {}", op, weight.shape());
  if (x.dim() == 0 || x.size(-1) != weight.size(1))
    fail("{}: input of shape {} does not end in in_features {} (weight shape {})", op, x.shape(),
         weight.size(1), weight.shape());
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0)))
    fail("{}: bias of shape {} does not match out_features {} (weight shape {})", op, bias.shape(),
         weight.size(0), weight.shape());
  const bool same_dtype =
      x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == x.dtype());
  if (!same_dtype || !is_floating(x.dtype()))
    fail("{}: input, weight and bias need one floating dtype, got {}, {} and {}", op, x.dtype(),
         weight.dtype(), bias.defined() ? bias.dtype() : x.dtype());
  if (residual.defined() &&
      (residual.shape() != output_shape(x, weight) || residual.dtype() != x.dtype()))
    fail("{}: residual of shape {} and dtype {} is not the output's, {} {} (input shape {})", op,
         residual.shape(), residual.dtype(), output_shape(x, weight), x.dtype(), x.shape());
}

// M of [..., K]: the product of every dim but the last, whatever K (0 included).
int64_t rows_of(const Tensor& x) { return around_dim(x.shape(), x.dim() - 1).outer; }

// [..., K] -> [M, K], contiguous, off the tape.
Tensor as_rows(const Tensor& x) {
  const Tensor values = contiguous_values(x);
  const int64_t K = x.size(-1);
  return values.alias({rows_of(x), K}, {K, 1}, values.storage_offset());
}

// residual + x weightᵀ + bias, then relu when asked for, recorded on the tape as `name`.
Tensor linear_with(std::string_view name, const Tensor& x, const Tensor& weight, const Tensor& bias,
                   const Tensor& residual, bool relu) {
  check_arguments(name, x, weight, bias, residual);
  const Tensor x_values = contiguous_values(x), w = contiguous_values(weight);
  const Tensor b = bias.defined() ? contiguous_values(bias) : Tensor();
  const Tensor r = residual.defined() ? contiguous_values(residual) : Tensor();
  const int64_t M = rows_of(x), K = w.size(1), N = w.size(0);
  Tensor out = Tensor::empty(output_shape(x, weight), x.dtype());
  dispatch_floating(x.dtype(), name, [&]<class T>() {
    const kernels::Epilogue<T> epilogue{b.defined() ? b.data<T>() : nullptr, relu,
                                        r.defined() ? r.data<T>() : nullptr};
    kernels::gemm<T>(Transpose::No, Transpose::Yes, M, N, K, T(1), x_values.data<T>(), K,
                     w.data<T>(), K, T(0), out.data<T>(), N, epilogue);
  });
  // With x as rows [M, K], W [N, K], y [M, N]: y_mn = Σ_k x_mk·W_nk + b_n (+ r_mn), so
  //   ∂L/∂x_mk = Σ_n g_mn·W_nk      dx = g W    [M, N] @ [N, K] = [M, K]
  //   ∂L/∂W_nk = Σ_m g_mn·x_mk      dW = gᵀ x   [N, M] @ [M, K] = [N, K]
  //   ∂L/∂b_n = Σ_m g_mn            db = column sums of g
  //   ∂L/∂r = g                     (the residual is added as it is)
  // With relu, y = relu(z): g becomes g' = g ⊙ [z > 0] = g ⊙ [y > 0] in the first three.
  return record(name, out, {x, weight, bias, residual},
                [name, x_values = saved(x_values), w = saved(w), has_bias = bias.defined(),
                 y = relu ? saved(out) : Tensor()](const Tensor& g) -> Grads {
                  const Tensor g_rows = as_rows(y.defined() ? relu_backward(g, y) : g);
                  const int64_t M = rows_of(x_values), K = w.size(1), N = w.size(0);
                  Tensor gx = Tensor::empty(x_values.shape(), g.dtype());
                  Tensor gw = Tensor::empty(w.shape(), g.dtype());
                  dispatch_floating(g.dtype(), name, [&]<class T>() {
                    const T* gy = g_rows.data<T>();
                    kernels::gemm<T>(Transpose::No, Transpose::No, M, K, N, T(1), gy, N,
                                     w.data<T>(), K, T(0), gx.data<T>(), K);
                    kernels::gemm<T>(Transpose::Yes, Transpose::No, N, K, M, T(1), gy, N,
                                     x_values.data<T>(), K, T(0), gw.data<T>(), K);
                  });
                  return {gx, gw, has_bias ? sum(g_rows, {0}) : Tensor(), g};
                });
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual) {
  return linear_with("linear", x, weight, bias, residual, false);
}

Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear_with("linear_relu", x, weight, bias, Tensor(), true);
}

}  // namespace tapegrad
