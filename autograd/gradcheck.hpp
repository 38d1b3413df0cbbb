// gradcheck: compares the Jacobian that backward() computes with central differences
// (f(x + eps) - f(x - eps)) / 2eps, element by element, in float64, for every input that
// requires a gradient. PyTorch's defaults: eps 1e-6, atol 1e-5, rtol 1e-3; an element passes when
// |analytic - numeric| <= atol + rtol * |numeric|.
//
//   auto x = randn({3, 4}, {.dtype = kFloat64, .requires_grad = true});
//   CHECK(gradcheck([](const std::vector<Tensor>& in) { return my_op(in[0]); }, {x}));
#pragma once

#include <functional>
#include <vector>

#include "autograd/tensor.hpp"

namespace tapegrad {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  bool raise = true;  // throw an Error describing the first mismatch; else return false
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>& inputs)>;

// True when every analytic derivative matches its numeric estimate. The inputs are perturbed in
// place (and restored), so `fn` may also read tensors it captured, such as module parameters,
// when they are passed in `inputs`.
bool gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
               const GradcheckOptions& options = {});

}  // namespace tapegrad
