// Exercise 4: an AdamW step by hand (statement: exercises/README.md). Write adamw_step in
// exercise.cpp; test.cpp grades it against optim::AdamW.
#pragma once

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::exercises {

// What AdamW keeps for one parameter from one step to the next.
struct AdamWState {
  int64_t step = 0;   // t: the steps taken so far
  Tensor exp_avg;     // m: the running mean of the gradients (undefined before the first step)
  Tensor exp_avg_sq;  // v: the running mean of their squares (undefined before the first step)
};

// One AdamW step on `param`, a leaf that holds its gradient g in param.grad(), as
// torch.optim.AdamW computes it (amsgrad aside), with lr, β₁, β₂, ε and wd from `options`:
//   t = t + 1
//   p = p·(1 − lr·wd)                 decoupled weight decay: it never enters m or v
//   m = β₁·m + (1 − β₁)·g
//   v = β₂·v + (1 − β₂)·g²
//   m̂ = m / (1 − β₁ᵗ)                 bias corrections: m and v start at 0
//   v̂ = v / (1 − β₂ᵗ)
//   p = p − lr·m̂ / (√v̂ + ε)
// m and v are 0 before the first step. param keeps being the same tensor (an optimizer's and a
// module's handles onto it see the new values).
void adamw_step(Tensor& param, AdamWState& state, const optim::AdamWOptions& options);

}  // namespace tapegrad::exercises
