#include "autograd/ops/quantized_linear.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/kernels/parallel.hpp"
#include "autograd/tape.hpp"

namespace tapegrad {
namespace {

// The scale max |row| / 127 of `row` (0 for a row of zeros), and row / scale rounded into `to`.
template <class T>
float quantize_row(const T* row, int64_t K, int8_t* to) {
  T largest = 0;
  for (int64_t k = 0; k < K; ++k) largest = std::max(largest, std::abs(row[k]));
  const float scale = static_cast<float>(largest / 127);
  const T inverse = largest > 0 ? T(127) / largest : T(0);
  for (int64_t k = 0; k < K; ++k)
    to[k] = static_cast<int8_t>(std::clamp<long>(std::lround(row[k] * inverse), -127, 127));
  return scale;
}

}  // namespace

QuantizedWeight quantized_weight(const Tensor& weight, const Tensor& scale) {
  if (weight.dtype() != kInt8 || weight.dim() != 2 || scale.dtype() != kFloat32 ||
      scale.shape() != Shape{weight.dim() == 2 ? weight.size(0) : -1})
    fail(
        "quantized_weight: weight {} of shape {} and scale {} of shape {} must be an int8 [N, K] "
        "and a float32 [N]",
        weight.dtype(), weight.shape(), scale.dtype(), scale.shape());
  const Tensor rows = weight.contiguous();
  return {
      rows, scale.contiguous(),
      kernels::pack_int8_weights(rows.data<int8_t>(), rows.size(0), rows.size(1), rows.size(1))};
}

QuantizedWeight quantize_weight(const Tensor& weight) {
  if (weight.dim() != 2)
    fail("quantize_weight: weight of shape {} is not [out_features, in_features]", weight.shape());
  const Tensor rows = weight.contiguous();
  const int64_t N = rows.size(0), K = rows.size(1);
  Tensor quantized = Tensor::empty({N, K}, kInt8), scale = Tensor::empty({N}, kFloat32);
  dispatch_floating(rows.dtype(), "quantize_weight", [&]<class T>() {
    for (int64_t n = 0; n < N; ++n)
      scale.data<float>()[n] =
          quantize_row(rows.data<T>() + n * K, K, quantized.data<int8_t>() + n * K);
  });
  return quantized_weight(quantized, scale);
}

Tensor quantized_linear(const Tensor& x, const QuantizedWeight& weight, const Tensor& bias,
                        const Tensor& residual) {
  const int64_t N = weight.packed.rows, K = weight.packed.depth;
  if (x.dtype() != kFloat32 || x.dim() < 1 || x.size(-1) != K)
    fail("quantized_linear: x {} of shape {} must be float32 [..., {}] (the weight is [{}, {}])",
         x.dtype(), x.shape(), K, N, K);
  if (bias.defined() && (bias.dtype() != kFloat32 || bias.shape() != Shape{N}))
    fail("quantized_linear: bias {} of shape {} must be float32 [{}]", bias.dtype(), bias.shape(),
         N);
  if (x.requires_grad() && grad_enabled())
    fail(
        "quantized_linear: x requires grad, but int8 inference has no backward; run it under "
        "NoGradGuard (or on a detached input)");
  Shape shape = x.shape();
  shape.back() = N;
  if (residual.defined() && (residual.dtype() != kFloat32 || residual.shape() != shape))
    fail("quantized_linear: residual {} of shape {} must be float32 of the output's shape {}",
         residual.dtype(), residual.shape(), shape);
  const Tensor rows = x.contiguous();
  const int64_t M = rows.numel() / std::max<int64_t>(K, 1);
  Tensor out = Tensor::empty(shape, kFloat32);
  // Each row of x quantized with its own scale, then the int32 products, then
  //   y[m, n] = s_x[m] s_w[n] C[m, n] + b[n].
  std::vector<int8_t> quantized(static_cast<std::size_t>(M * K));
  std::vector<float> row_scale(static_cast<std::size_t>(M));
  kernels::parallel_for(M, K, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m)
      row_scale[m] = quantize_row(rows.data<float>() + m * K, K, quantized.data() + m * K);
  });
  std::vector<int32_t> products(static_cast<std::size_t>(M * N));
  kernels::gemm_int8(M, quantized.data(), K, weight.packed, products.data(), N);
  const float* channel_scale = weight.scale.data<float>();
  const Tensor bias_values = bias.defined() ? bias.contiguous() : Tensor();
  const float* b = bias.defined() ? bias_values.data<float>() : nullptr;
  const Tensor residual_values = residual.defined() ? residual.contiguous() : Tensor();
  const float* r = residual.defined() ? residual_values.data<float>() : nullptr;
  float* y = out.data<float>();
  kernels::parallel_for(M, N, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m)
      for (int64_t n = 0; n < N; ++n)
        y[m * N + n] = row_scale[m] * channel_scale[n] * static_cast<float>(products[m * N + n]) +
                       (b ? b[n] : 0.0f) + (r ? r[m * N + n] : 0.0f);
  });
  return out;
}

}  // namespace tapegrad
