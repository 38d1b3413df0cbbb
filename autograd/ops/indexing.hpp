// Picking parts of a tensor along one dim. narrow, slice, split and select are views that share
// the input's storage; index_select and gather copy. Every gradient is the output's gradient
// added back at the positions the output came from (repeated indices accumulate). scatter_add is
// gather's reverse: it adds values at the positions an index names.
#pragma once

#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad {

// Elements start, start + 1, ..., start + length - 1 along `dim` (a negative start counts from
// the end); an error if they are not all inside.
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// Python's x[start:end:step] along `dim`: negative indices count from the end, out-of-range ones
// are clamped, step must be positive.
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
// Consecutive pieces of split_size along `dim` (the last may be smaller).
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
// The entries index[0], index[1], ... along `dim`; index is a 1-dim (or 0-dim) int64 tensor.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// x[..., index, ...] with `index` along `dim`: that dim removed (a negative index counts from the
// end).
Tensor select(const Tensor& x, int64_t dim, int64_t index);

// As PyTorch, for index (int64) with as many dims as x and sizes no larger than x's outside `dim`:
//   gather:      out[i][j][k] = x[index[i][j][k]][j][k]        (dim 0; out has index's shape)
//   scatter_add: out = x, then out[index[i][j][k]][j][k] += src[i][j][k]   (dim 0)
// src is as large as index or larger in every dim (its elements beyond index's shape are unused).
// Differentiable in x and src; entries of index outside [0, x.size(dim)) are an error.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

}  // namespace tapegrad
