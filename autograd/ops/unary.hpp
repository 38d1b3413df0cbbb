// Elementwise math of one tensor: exp, log, sqrt, abs, tanh, sigmoid, relu, gelu, clamp and pow.
// The output has the input's shape and dtype (float32 or float64); a non-contiguous input is
// read through a contiguous copy.
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
// relu's gradient off the tape: g where x > 0, else 0. x may be relu's input or its output (both
// are > 0 at the same places); contiguous, of g's shape.
Tensor relu_backward(const Tensor& g, const Tensor& x);
Tensor gelu(const Tensor& x);  // the exact form x·Φ(x), Φ the normal CDF (through erf)
Tensor clamp(const Tensor& x, double min, double max);  // an error if min > max
Tensor pow(const Tensor& x, double exponent);

}  // namespace tapegrad
