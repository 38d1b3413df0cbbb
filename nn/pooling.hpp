// Pooling a sequence into one vector per example.
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad::nn {

// The mean of h over the real tokens: h [B, T, C], mask [B, T] bool (true = a real token)
// -> [B, C]. A row with no real token gives zeros (and zero gradients), never NaN.
Tensor masked_mean(const Tensor& h, const Tensor& mask);

}  // namespace tapegrad::nn
