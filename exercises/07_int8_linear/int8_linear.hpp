// Exercise 7: a linear layer in integers (statement: exercises/README.md). Write quantize_rows
// and int8_linear in exercise.cpp; test.cpp grades them by hand and against quantized_linear.
#pragma once

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::exercises {

// A float32 matrix [R, K] as int8 values with one float32 scale per row:
//   x[r, k] ≈ scales[r] · values[r, k]
struct QuantizedRows {
  Tensor values;  // int8 [R, K]
  Tensor scales;  // float32 [R]
};

// Symmetric quantization with one scale per row, as quantize_weight does for a weight's output
// channels. With a = max_k |x[r, k]|:
//   scales[r]    = a / 127
//   values[r, k] = round(x[r, k] · (127 / a))     in float32, ties to even (std::nearbyint)
// so |values| <= 127 and a row's largest element maps to ±127. A row of zeros has scale 0 and
// values 0. x must be float32 [R, K]: anything else is an Error naming the function and x's
// shape.
QuantizedRows quantize_rows(const Tensor& x);

// y = x Wᵀ + b computed in integers, W given as quantize_rows(W [N, K]): one scale per output
// channel. Quantize x [M, K] per row (xq, s_x), then
//   C[m, n] = Σ_k xq[m, k] · Wq[n, k]             exactly, in int32
//   y[m, n] = s_x[m] · s_w[n] · C[m, n] + b[n]    in float32
// bias: float32 [N], or undefined for none. x's K must be W's: an Error naming both shapes.
Tensor int8_linear(const Tensor& x, const QuantizedRows& weight, const Tensor& bias);

}  // namespace tapegrad::exercises
