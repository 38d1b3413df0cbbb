// Exercise 4: the first AdamW step by hand, then five steps beside optim::AdamW.
#include "exercises/04_adamw/adamw_step.hpp"
#include "exercises/testing.hpp"

namespace tapegrad::exercises {

TEST_CASE("exercise 4: the first step moves each parameter by lr against its gradient") {
  // At t = 1, m̂ = g and v̂ = g², so the step is lr·g / (|g| + ε) ≈ lr·sign(g), whatever |g|.
  // The decay comes first: p·(1 − lr·wd) = p·(1 − 0.1·0.01) = 0.999·p. A parameter whose
  // gradient is 0 is only decayed (Adam's L2 decay would also move it by lr).
  Tensor param = tensor({1.0, -2.0, 0.5, 3.0}, {.dtype = kFloat64, .requires_grad = true});
  param.set_grad(tensor({0.3, -4.0, 2.0, 0.0}, {.dtype = kFloat64}));
  AdamWState state;
  adamw_step(param, state, {.lr = 0.1, .weight_decay = 0.01});
  CHECK(state.step == 1);
  testing::check_close(param, {0.999 - 0.1, -1.998 + 0.1, 0.4995 - 0.1, 2.997}, 1e-7);
  CHECK(param.requires_grad());  // still the same leaf
}

namespace {

// A loss with a different curvature for each element: Σ c·(p − target)².
Tensor quadratic_loss(const Tensor& param) {
  const Tensor target = tensor({{1.0, -1.0}, {0.5, 2.0}, {-3.0, 0.0}}, {.dtype = kFloat64});
  const Tensor curvature = tensor({{1.0, 10.0}, {0.1, 3.0}, {5.0, 0.5}}, {.dtype = kFloat64});
  return sum(curvature * (param - target) * (param - target));
}

}  // namespace

TEST_CASE("exercise 4: five steps follow optim::AdamW to 1e-6") {
  const auto follow = [](const optim::AdamWOptions& options) {
    Generator generator(7);
    const Tensor start = randn({3, 2}, {.dtype = kFloat64}, generator);
    Tensor by_hand = start.clone().requires_grad_();
    Tensor by_library = start.clone().requires_grad_();
    AdamWState state;
    optim::AdamW optimizer({by_library}, options);
    for (int step = 1; step <= 5; ++step) {
      INFO("step ", step);
      by_hand.zero_grad();
      quadratic_loss(by_hand).backward();
      adamw_step(by_hand, state, options);
      optimizer.zero_grad();
      quadratic_loss(by_library).backward();
      optimizer.step();
      testing::check_allclose(by_hand, by_library, 0, 1e-6);
    }
    CHECK(state.step == 5);
  };
  SUBCASE("the default options") { follow({}); }
  SUBCASE("lr 0.05, betas 0.8 and 0.95, weight decay 0.1") {
    follow({.lr = 0.05, .betas = {0.8, 0.95}, .weight_decay = 0.1});
  }
}

}  // namespace tapegrad::exercises
