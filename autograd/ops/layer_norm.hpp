// Layer normalisation over the trailing dims given by normalized_shape, as torch's layer_norm:
//   y = (x - mean) / sqrt(var + eps) * weight + bias,
// mean and biased variance per row (two passes, so a constant row gives y = bias and a finite
// gradient). weight and bias have shape normalized_shape and may each be undefined.
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {},
                  const Tensor& bias = {}, double eps = 1e-5);

}  // namespace tapegrad
