// Reductions over all elements or over one or several dims, keeping them as size 1 on request.
// An empty list of dims means every dim.
#pragma once

#include "autograd/tensor.hpp"

namespace tapegrad {

Tensor sum(const Tensor& x);  // all elements: a 0-dim tensor
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);

// The largest element (a 0-dim tensor); the gradient goes to its first occurrence. A NaN is the
// largest (as PyTorch).
Tensor max(const Tensor& x);
// The largest element along `dim` and where it first occurs (int64); the gradient goes there.
struct ValuesAndIndices {
  Tensor values;
  Tensor indices;
};
ValuesAndIndices max(const Tensor& x, int64_t dim, bool keepdim = false);

// Where the largest (smallest) element first occurs along `dim`, as int64, with the dim kept as
// size 1 on request; without a dim, the flat index into x (a 0-dim tensor). A NaN counts as both
// the largest and the smallest (as PyTorch). Not differentiable.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x);

// Σ(x - mean)² / (n - correction) over `dims`, n the number of elements reduced: correction 1 is
// the unbiased estimate, 0 the population variance. Two passes (no E[x²] - E[x]² cancellation).
Tensor var(const Tensor& x, const Shape& dims, int64_t correction = 1, bool keepdim = false);

// Sums a broadcast gradient back to `shape` (the inverse of broadcasting to g's shape).
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace tapegrad
