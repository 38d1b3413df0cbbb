// linear(x, weight, bias) = x weightᵀ + bias over the last dim, as torch.nn.functional.linear:
//   x [..., K], weight [N, K], bias [N] or undefined -> [..., N]
// One GEMM with the bias as its starting value (no broadcast add, no transposed copy of the
// weight), and one tape node; the backward is two GEMMs and a column sum.
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

}  // namespace tapegrad
