// Finding NaN and Inf in training: the first named tensor, or the first named parameter's
// gradient, holding a value that is not finite. A training loop checks the loss (or the norm that
// clip_grad_norm returns) every step and calls these only when it is not finite, to name the
// culprit; a saver checks the values before writing over a good file. optim/ knows no Module: the
// callers pass names and tensors, e.g. model.named_parameters().
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad::optim {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Whether every element of `t` is finite (true for integer and bool tensors).
bool all_finite(const Tensor& t);

// The name of the first tensor, in the order given, with a NaN or Inf element; none if all finite.
std::optional<std::string> first_nonfinite_value(const NamedTensors& tensors);

// The name of the first parameter, in the order given, whose gradient has a NaN or Inf element;
// parameters without a gradient are skipped. None if every gradient is finite.
std::optional<std::string> first_nonfinite_gradient(const NamedTensors& parameters);

}  // namespace tapegrad::optim
