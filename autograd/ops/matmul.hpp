// Matrix product with PyTorch's rules: 1-D operands are promoted to a row (left) or a column
// (right) and the added dim removed again; leading (batch) dims broadcast.
//   [M, K] @ [K, N] -> [M, N];  [B, H, T, D] @ [B, H, D, T] -> [B, H, T, T];  [K] @ [K, N] -> [N]
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace tapegrad
