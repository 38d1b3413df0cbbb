// Joining tensors along a dim into a new tensor: cat along an existing dim, stack along a new one.
// Each input's gradient is its slice of the output's gradient.
#pragma once

#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad {

// Inputs of one dtype and equal shapes except along `dim`.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Inputs of one dtype and one shape, joined along a new dim `dim` of the result.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);

}  // namespace tapegrad
