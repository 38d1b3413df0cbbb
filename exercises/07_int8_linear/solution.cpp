// Exercise 7, the reference solution.
#include "exercises/07_int8_linear/int8_linear.hpp"

#include <algorithm>
#include <cmath>

namespace tapegrad::exercises {

QuantizedRows quantize_rows(const Tensor& x) {
  if (x.dtype() != kFloat32 || x.dim() != 2)
    fail("quantize_rows: x {} of shape {} must be float32 [R, K]", x.dtype(), x.shape());
  const Tensor rows = x.contiguous();
  const int64_t R = rows.size(0), K = rows.size(1);
  QuantizedRows quantized{Tensor::empty({R, K}, kInt8), Tensor::empty({R}, kFloat32)};
  for (int64_t r = 0; r < R; ++r) {
    const float* row = rows.data<float>() + r * K;
    float largest = 0;
    for (int64_t k = 0; k < K; ++k) largest = std::max(largest, std::abs(row[k]));
    const float inverse = largest > 0 ? 127 / largest : 0;
    int8_t* values = quantized.values.data<int8_t>() + r * K;
    for (int64_t k = 0; k < K; ++k)
      values[k] = static_cast<int8_t>(std::nearbyint(row[k] * inverse));
    quantized.scales.data<float>()[r] = largest / 127;
  }
  return quantized;
}

Tensor int8_linear(const Tensor& x, const QuantizedRows& weight, const Tensor& bias) {
  const int64_t N = weight.values.size(0), K = weight.values.size(1);
  if (x.dim() != 2 || x.size(1) != K)
    fail("int8_linear: x of shape {} does not fit the weight of shape {}: x must be [M, {}]",
         x.shape(), weight.values.shape(), K);
  const QuantizedRows input = quantize_rows(x);
  const int64_t M = x.size(0);
  const int8_t* xq = input.values.data<int8_t>();
  const int8_t* wq = weight.values.data<int8_t>();
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = Tensor::empty({M, N}, kFloat32);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      int32_t sum = 0;  // at most 127 · 127 · K: exact for K below 2^17
      for (int64_t k = 0; k < K; ++k) sum += int32_t{xq[m * K + k]} * int32_t{wq[n * K + k]};
      float out =
          input.scales.data<float>()[m] * weight.scales.data<float>()[n] * static_cast<float>(sum);
      if (b.defined()) out += b.data<float>()[n];
      y.data<float>()[m * N + n] = out;
    }
  }
  return y;
}

}  // namespace tapegrad::exercises
