// Picking parts of a tensor along one dim. narrow, slice and split are views that share the
// input's storage; index_select copies. Every gradient is the output's gradient added back at
// the positions the output came from (repeated indices accumulate).
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

}  // namespace tapegrad
