// Reductions over all elements or over one or several dims, keeping them as size 1 on request.
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor sum(const Tensor& x);  // all elements: a 0-dim tensor
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);

// Sums a broadcast gradient back to `shape` (the inverse of broadcasting to g's shape).
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace tapegrad
