// Exercise 6: a gradient checker that catches a wrong backward (statement: exercises/README.md).
// Write find_gradient_mismatch in exercise.cpp; test.cpp grades it on the ops of suspect_ops.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <tapegrad/tapegrad.hpp>
#include <vector>

namespace tapegrad::exercises {

// Where a backward and the central difference disagree.
struct GradientMismatch {
  std::size_t input = 0;  // which input
  int64_t element = 0;    // which element of it, as a row-major (flat) index
  double analytic = 0;    // ∂L/∂xᵢ from backward()
  double numeric = 0;     // the central difference
};

struct GradientCheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  uint64_t seed = 0;  // of the weights w below
};

// Checks fn's backward at `inputs` (contiguous float64 leaves that require grad) through one
// number, the output weighted by w, drawn once from N(0, 1) in fn's output shape:
//   L(x) = Σ w ⊙ fn(x)
// For every element xᵢ of every input, in order:
//   analytic = ∂L/∂xᵢ, from L.backward()
//   numeric  = (L(x + ε·eᵢ) − L(x − ε·eᵢ)) / 2ε
// They agree when |analytic − numeric| ≤ atol + rtol·|numeric|. Returns the first element where
// they do not, or std::nullopt when they agree everywhere. An input fn does not use has
// gradient 0.
std::optional<GradientMismatch> find_gradient_mismatch(const GradcheckFn& fn,
                                                       const std::vector<Tensor>& inputs,
                                                       const GradientCheckOptions& options = {});

}  // namespace tapegrad::exercises
