// Copies: clone, contiguous and dtype conversion. Each is differentiable (the gradient of a copy
// is the gradient itself, converted back to the input's dtype).
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor clone(const Tensor& x);       // a contiguous copy with storage of its own
Tensor contiguous(const Tensor& x);  // x itself if already contiguous, else clone(x)
Tensor to(const Tensor& x, DType dtype);

}  // namespace tapegrad
