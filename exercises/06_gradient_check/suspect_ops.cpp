// Exercise 6: the four suspects, with their derivations. Each op is written as docs/tour.md,
// step 3, writes one: the forward on detached inputs, then record with the backward.
#include "exercises/06_gradient_check/suspect_ops.hpp"

namespace tapegrad::exercises {

Tensor softsign(const Tensor& input) {
  const Tensor x = input.detach();
  // y = x / (1 + |x|) ⇒ dy/dx = ((1 + |x|) − x·sign(x)) / (1 + |x|)² = 1 / (1 + |x|)²
  return record("softsign", x / (1.0 + abs(x)), {input},
                [x](const Tensor& g) -> Grads { return {g / pow(1.0 + abs(x), 2.0)}; });
}

Tensor softsign_with_planted_bug(const Tensor& input) {
  const Tensor x = input.detach();
  // The bug: the square of the denominator is forgotten.
  return record("softsign", x / (1.0 + abs(x)), {input},
                [x](const Tensor& g) -> Grads { return {g / (1.0 + abs(x))}; });
}

Tensor hypot(const Tensor& a_input, const Tensor& b_input) {
  const Tensor a = a_input.detach();
  const Tensor b = b_input.detach();
  const Tensor h = sqrt(a * a + b * b);
  // h = √(a² + b²) ⇒ ∂h/∂a = a / h, ∂h/∂b = b / h
  // The backward keeps h detached: h itself becomes the output, and an output held by its own
  // backward would never be freed if no backward ran (a reference cycle).
  return record("hypot", h, {a_input, b_input}, [a, b, h = h.detach()](const Tensor& g) -> Grads {
    return {g * a / h, g * b / h};
  });
}

Tensor hypot_with_planted_bug(const Tensor& a_input, const Tensor& b_input) {
  const Tensor a = a_input.detach();
  const Tensor b = b_input.detach();
  const Tensor h = sqrt(a * a + b * b);
  // The bug: b gets a copy of a's gradient; a's own is right.
  return record("hypot", h, {a_input, b_input}, [a, h = h.detach()](const Tensor& g) -> Grads {
    return {g * a / h, g * a / h};
  });
}

}  // namespace tapegrad::exercises
