// Choosing values by a bool mask: masked_fill puts a number where the mask is true, where picks
// from a where the condition is true and from b elsewhere. Shapes broadcast by NumPy's rules; the
// gradient flows only to the elements that were picked, summed back to each input's shape.
//   scores = masked_fill(scores, !mask, -INFINITY);  // mask: true = may attend
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);

}  // namespace tapegrad
