// Exercise 6: write find_gradient_mismatch here (statement: exercises/README.md).
#include "exercises/06_gradient_check/gradient_check.hpp"

namespace tapegrad::exercises {

std::optional<GradientMismatch> find_gradient_mismatch(
    [[maybe_unused]] const GradcheckFn& fn, [[maybe_unused]] const std::vector<Tensor>& inputs,
    [[maybe_unused]] const GradientCheckOptions& options) {
  // Analytic: clear the inputs' gradients, L.backward(), read each input's grad().
  // Numeric: under a NoGradGuard, on a clone of one input at a time, move one element by ±ε.
  throw Error("exercise 6: not done yet");
}

}  // namespace tapegrad::exercises
