// Dynamic int8 quantization of a linear layer, as PyTorch's quantize_dynamic does it:
//   weight  W [N, K] -> Wq int8 [N, K], s_w [N] = max_k |W[n, k]| / 127
//                       (symmetric, one scale per output channel: Wq = round(W / s_w))
//   input   x [M, K] -> xq int8, s_x [M] = max_k |x[m, k]| / 127, per row at run time
//   output  y[m, n] = s_x[m] s_w[n] Σ_k xq[m, k] Wq[n, k] + b[n]
// The sum is exact in int32 (kernels/gemm_int8.hpp, AVX512-VNNI where the CPU has it); only the
// two roundings to int8 lose precision: |y - x Wᵀ| <= Σ_k (|x[m, k]| s_w[n] + |W[n, k]| s_x[m]) / 2
// plus their product. A row (or channel) of zeros gets scale 0 and gives exact zeros.
// Inference only: the op records nothing, and an input that requires grad is an Error.
#pragma once

#include "autograd/kernels/gemm_int8.hpp"
#include "autograd/tensor.hpp"

namespace tapegrad {

struct QuantizedWeight {
  Tensor weight;                      // int8 [N, K]
  Tensor scale;                       // float32 [N]
  kernels::PackedInt8Weights packed;  // weight, packed once for gemm_int8
};

// W float32 or float64 [N, K] quantized as above.
QuantizedWeight quantize_weight(const Tensor& weight);
// From a saved int8 weight [N, K] and its float32 scale [N]; an Error naming both shapes and
// dtypes if they do not fit.
QuantizedWeight quantized_weight(const Tensor& weight, const Tensor& scale);

// x float32 [..., K] -> float32 [..., N]; bias float32 [N] or undefined; a residual (float32,
// the output's shape) is added as the output is written, as linear() does.
Tensor quantized_linear(const Tensor& x, const QuantizedWeight& weight, const Tensor& bias = {},
                        const Tensor& residual = {});

}  // namespace tapegrad
