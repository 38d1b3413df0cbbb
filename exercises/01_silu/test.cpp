// Exercise 1: silu's values, and its backward against central differences.
#include "exercises/01_silu/silu.hpp"
#include "exercises/testing.hpp"

namespace tapegrad::exercises {

TEST_CASE("exercise 1: silu values worked by hand") {
  // x·σ(x) = x / (1 + e⁻ˣ): at -2, -2 / (1 + e²) = -0.238406
  const Tensor x = tensor({-2.0, -0.5, 0.0, 1.0, 3.0});
  const Tensor y = silu(x);
  CHECK(y.dtype() == kFloat32);
  testing::check_close(y, {-0.238406, -0.188770, 0.0, 0.731059, 2.857722});
  // Far from 0: x for large x (σ → 1), 0 for very negative x (σ → 0), never NaN.
  testing::check_close(silu(tensor({{80.0, -80.0}}, {.dtype = kFloat64})), {80.0, 0.0}, 1e-12);
}

TEST_CASE("exercise 1: silu is one op on the tape, and its backward passes gradcheck") {
  Generator generator(1);
  const Tensor x = randn({3, 4}, {.dtype = kFloat64, .requires_grad = true}, generator);
  const Tensor y = silu(x);
  CHECK(y.shape() == x.shape());
  CHECK(y.dtype() == kFloat64);
  // One node of your own, not the nodes of the ops that computed the forward.
  REQUIRE_MESSAGE(y.grad_fn(), "silu's output is on no tape: call record");
  CHECK(y.grad_fn()->op == "silu");
  CHECK(gradcheck([](const std::vector<Tensor>& inputs) { return silu(inputs[0]); }, {x}));
}

}  // namespace tapegrad::exercises
