#include "autograd/ops/layer_norm.hpp"

#include <algorithm>

#include "autograd/factories.hpp"
#include "autograd/kernels/layer_norm.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

void check_layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                      const Tensor& bias) {
  const std::size_t k = normalized_shape.size();
  if (k == 0 || k > x.shape().size() ||
      !std::equal(normalized_shape.begin(), normalized_shape.end(), x.shape().end() - k))
    fail("layer_norm: normalized_shape {} is not a non-empty suffix of the input shape {}",
         normalized_shape, x.shape());
  for (const Tensor& parameter : {weight, bias}) {
    if (!parameter.defined()) continue;
    if (parameter.shape() != normalized_shape || parameter.dtype() != x.dtype())
      fail("layer_norm: weight and bias must have shape {} and dtype {}, got shape {} and dtype {}",
           normalized_shape, x.dtype(), parameter.shape(), parameter.dtype());
  }
}

// The data of an optional tensor, or null.
template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  check_layer_norm(x, normalized_shape, weight, bias);
  const int64_t n = numel(normalized_shape, "layer_norm");
  const int64_t rows = n == 0 ? 0 : x.numel() / n;
  const Tensor xc = contiguous_values(x);
  const Tensor gamma = weight.defined() ? contiguous_values(weight) : Tensor();
  const Tensor beta = bias.defined() ? contiguous_values(bias) : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  // The rows' statistics, only when a backward will read them.
  const Tensor inputs[] = {x, weight, bias};
  const bool recording = detail::should_record(inputs);
  const Tensor mean = recording ? Tensor::empty({rows}, x.dtype()) : Tensor();
  const Tensor rstd = recording ? Tensor::empty({rows}, x.dtype()) : Tensor();
  dispatch_floating(x.dtype(), "layer_norm", [&]<class T>() {
    kernels::layer_norm(xc.data<T>(), data_or_null<T>(gamma), data_or_null<T>(beta), rows, n,
                        static_cast<T>(eps), y.data<T>(), data_or_null<T>(mean),
                        data_or_null<T>(rstd));
  });
  // Per row of n: μ = Σ_j x_j / n, σ² = Σ_j (x_j - μ)² / n, r = rstd = (σ² + eps)^(-½),
  // x̂_i = (x_i - μ)·r, y_i = w_i·x̂_i + b_i; write ĝ_i = ∂L/∂x̂_i = g_i·w_i (g_i without weight).
  //   ∂μ/∂x_j = 1/n
  //   ∂σ²/∂x_j = 2(x_j - μ)/n                (μ's own term is -2Σ_k (x_k - μ)/n² = 0)
  //   ∂r/∂x_j = -½(σ² + eps)^(-3/2)·∂σ²/∂x_j = -r³(x_j - μ)/n = -r²·x̂_j/n
  //   ∂x̂_i/∂x_j = r·(δ_ij - 1/n) + (x_i - μ)·∂r/∂x_j = r·(δ_ij - 1/n - x̂_i·x̂_j/n)
  //   ∂L/∂x_j = Σ_i ĝ_i·∂x̂_i/∂x_j = r·(ĝ_j - Σ_i ĝ_i / n - x̂_j·Σ_i ĝ_i·x̂_i / n)
  //   dx = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂))
  // The two mean terms: mean(ĝ) is the path through μ, x̂·mean(ĝ·x̂) the path through σ.
  // A constant row (x̂ = 0) keeps only r·(ĝ - mean(ĝ)), finite since r <= eps^(-½).
  //   ∂L/∂w_i = Σ_rows g_i·x̂_i,   ∂L/∂b_i = Σ_rows g_i
  return record("layer_norm", y, inputs,
                [xc = saved(xc), gamma = saved(gamma), mean, rstd, rows, n, normalized_shape,
                 has_bias = bias.defined()](const Tensor& g) -> Grads {
                  const Tensor gc = contiguous(g);
                  Tensor dx = Tensor::empty(xc.shape(), xc.dtype());
                  Tensor dweight, dbias;
                  if (gamma.defined()) dweight = zeros(normalized_shape, {.dtype = xc.dtype()});
                  if (has_bias) dbias = zeros(normalized_shape, {.dtype = xc.dtype()});
                  dispatch_floating(xc.dtype(), "layer_norm", [&]<class T>() {
                    kernels::layer_norm_backward(xc.data<T>(), gc.data<T>(), data_or_null<T>(gamma),
                                                 mean.data<T>(), rstd.data<T>(), rows, n,
                                                 dx.data<T>(), data_or_null<T>(dweight),
                                                 data_or_null<T>(dbias));
                  });
                  return {dx, dweight, dbias};
                });
}

}  // namespace tapegrad
