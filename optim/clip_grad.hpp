// Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_. Both change the
// parameters' gradients in place and skip parameters without one.
#pragma once

#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad::optim {

// The norm of all gradients together, as if concatenated into one vector (norm_type > 0, or
// INFINITY for the largest |g|). If it exceeds max_norm, every gradient is scaled by
// max_norm / (norm + 1e-6). Returns the norm before clipping (0 with no gradients). A non-finite
// norm (a NaN or Inf gradient) is returned and the gradients are left alone: PyTorch's default
// error_if_nonfinite=false; check the result to skip such a step.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);

// Clamps every gradient element to [-clip_value, clip_value] (clip_value >= 0).
void clip_grad_value(const std::vector<Tensor>& params, double clip_value);

}  // namespace tapegrad::optim
