// Exercise 6, the reference solution.
#include <cmath>

#include "exercises/06_gradient_check/gradient_check.hpp"

namespace tapegrad::exercises {

std::optional<GradientMismatch> find_gradient_mismatch(const GradcheckFn& fn,
                                                       const std::vector<Tensor>& inputs,
                                                       const GradientCheckOptions& options) {
  // The analytic gradients of L = Σ w ⊙ fn(x), from one backward.
  for (Tensor input : inputs) input.zero_grad();
  const Tensor output = fn(inputs);
  Generator generator(options.seed);
  const Tensor weights = randn(output.shape(), {.dtype = kFloat64}, generator);
  sum(output * weights).backward();

  // The numeric ones, one element at a time, on a copy of the input it belongs to.
  NoGradGuard no_grad;
  const auto loss_at = [&](const std::vector<Tensor>& at) { return sum(fn(at) * weights).item(); };
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor grad = inputs[i].grad();
    const std::vector<double> analytic =
        grad.defined() ? grad.to_vector() : std::vector<double>(inputs[i].numel(), 0.0);
    std::vector<Tensor> moved = inputs;
    moved[i] = inputs[i].detach().clone();
    double* values = moved[i].data<double>();
    for (int64_t element = 0; element < inputs[i].numel(); ++element) {
      const double original = values[element];
      values[element] = original + options.eps;
      const double loss_plus = loss_at(moved);
      values[element] = original - options.eps;
      const double loss_minus = loss_at(moved);
      values[element] = original;
      const double numeric = (loss_plus - loss_minus) / (2 * options.eps);
      const double difference = std::abs(analytic[element] - numeric);
      if (!(difference <= options.atol + options.rtol * std::abs(numeric)))
        return GradientMismatch{
            .input = i, .element = element, .analytic = analytic[element], .numeric = numeric};
    }
  }
  return std::nullopt;
}

}  // namespace tapegrad::exercises
