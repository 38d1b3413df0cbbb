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
  const Tensor xc = contiguous(x.detach());
  const Tensor gamma = weight.defined() ? contiguous(weight.detach()) : Tensor();
  const Tensor beta = bias.defined() ? contiguous(bias.detach()) : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mean = Tensor::empty({rows}, x.dtype()), rstd = Tensor::empty({rows}, x.dtype());
  dispatch_floating(x.dtype(), "layer_norm", [&]<class T>() {
    kernels::layer_norm(xc.data<T>(), data_or_null<T>(gamma), data_or_null<T>(beta), rows, n,
                        static_cast<T>(eps), y.data<T>(), mean.data<T>(), rstd.data<T>());
  });
  // d/dx layer_norm: rstd * (g*w - mean(g*w) - x̂ * mean(g*w*x̂)), d/dw = sum_rows(g*x̂),
  // d/db = sum_rows(g), with x̂ = (x - mean) * rstd
  return record("layer_norm", y, {x, weight, bias},
                [xc, gamma, mean, rstd, rows, n, normalized_shape,
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
