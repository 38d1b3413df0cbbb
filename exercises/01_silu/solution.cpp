// Exercise 1, the reference solution.
#include "exercises/01_silu/silu.hpp"

namespace tapegrad::exercises {

Tensor silu(const Tensor& input) {
  const Tensor x = input.detach();  // the forward runs on a tensor the tape does not see
  const Tensor s = sigmoid(x);
  // y = x·σ(x), and σ'(x) = σ(x)·(1 − σ(x)), so
  //   dy/dx = σ(x) + x·σ(x)·(1 − σ(x)) = σ(x)·(1 + x·(1 − σ(x)))
  return record("silu", x * s, {input},
                [x, s](const Tensor& g) -> Grads { return {g * s * (1.0 + x * (1.0 - s))}; });
}

}  // namespace tapegrad::exercises
