// linear(x, weight, bias) = x weightᵀ + bias over the last dim, as torch.nn.functional.linear:
//   x [..., K], weight [N, K], bias [N] or undefined -> [..., N]
// One GEMM that adds the bias as it stores each row (no broadcast add, no transposed copy of the
// weight), and one tape node; the backward is two GEMMs and a column sum.
// With a residual (the output's shape), the GEMM adds it as it stores, a residual connection
// without a pass of its own:
//   linear(x, weight, bias, residual) = residual + x weightᵀ + bias
// linear_relu(x, weight, bias) = relu(linear(x, weight, bias)), the same GEMM clamping as it
// stores: a feed-forward block's first layer without a pass of its own for relu.
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Tensor& residual = {});
Tensor linear_relu(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

}  // namespace tapegrad
