// optim/: the first steps of each update rule against the formulas worked by hand, convergence on
// a small regression, parameter groups, gradient clipping, learning-rate schedules, exact resume
// from a state_dict, and the errors.
#include <doctest/doctest.h>

#include <cmath>

#include "optim/optim.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

// p = [x, y] in float64, starting at (1, 1).
Tensor start_point() { return tensor({1.0, 1.0}, {.dtype = kFloat64, .requires_grad = true}); }

// f(x, y) = x² + 10y², so ∇f = (2x, 20y).
void backward_quadratic(const Tensor& p) {
  (p * p * tensor({1.0, 10.0}, {.dtype = kFloat64})).sum().backward();
}

// `steps` rounds of zero_grad, backward of f, step.
void descend(optim::Optimizer& optimizer, const Tensor& p, int steps) {
  for (int i = 0; i < steps; ++i) {
    optimizer.zero_grad();
    backward_quadratic(p);
    optimizer.step();
  }
}

// One Adam configuration for adam_by_hand.
struct AdamCase {
  double lr = 0.1;
  double beta2 = 0.999;
  double weight_decay = 0;
  bool decoupled = false;  // AdamW's weight decay, else L2
  bool amsgrad = false;
};

// Three steps of Adam on f from (1, 1), by the formulas of adam.hpp written out in double.
std::vector<double> adam_by_hand(const AdamCase& c) {
  const double beta1 = 0.9, eps = 1e-8;
  std::vector<double> p = {1, 1}, m = {0, 0}, v = {0, 0}, v_max = {0, 0};
  const std::vector<double> curvature = {2, 20};
  for (int t = 1; t <= 3; ++t) {
    for (int i = 0; i < 2; ++i) {
      double g = curvature[i] * p[i];
      if (c.decoupled)
        p[i] *= 1 - c.lr * c.weight_decay;
      else
        g += c.weight_decay * p[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g;
      v_max[i] = std::max(v_max[i], v[i]);
      const double v_used = c.amsgrad ? v_max[i] : v[i];
      const double step_size = c.lr / (1 - std::pow(beta1, t));
      p[i] -= step_size * (m[i] / (std::sqrt(v_used) / std::sqrt(1 - std::pow(c.beta2, t)) + eps));
    }
  }
  return p;
}

}  // namespace

TEST_CASE("optim: SGD's first three steps on x² + 10y²") {
  const Tensor p = start_point();
  SUBCASE("plain: p -= lr·g") {
    optim::SGD sgd({p}, {.lr = 0.1});
    descend(sgd, p, 3);
    // x: 1 → 1 - 0.1·2 = 0.8 → 0.8 - 0.1·1.6 = 0.64 → 0.64 - 0.1·1.28 = 0.512
    // y: 1 → 1 - 0.1·20 = -1 → -1 + 0.1·20 = 1 → -1
    testing::check_values(p, {0.512, -1.0}, 1e-12);
  }
  SUBCASE("momentum 0.9: b = g first, then 0.9·b + g") {
    optim::SGD sgd({p}, {.lr = 0.1, .momentum = 0.9});
    descend(sgd, p, 3);
    // x: g 2, b 2, x 0.8; g 1.6, b 3.4, x 0.46; g 0.92, b 3.98, x 0.062
    // y: g 20, b 20, y -1; g -20, b -2, y -0.8; g -16, b -17.8, y 0.98
    testing::check_values(p, {0.062, 0.98}, 1e-12);
  }
  SUBCASE("momentum 0.9 with dampening 0.5: b = g first (undamped), then 0.9·b + 0.5·g") {
    optim::SGD sgd({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
    descend(sgd, p, 3);
    // x: g 2, b 2, x 0.8; g 1.6, b 2.6, x 0.54; g 1.08, b 2.88, x 0.252
    // y: g 20, b 20, y -1; g -20, b 8, y -1.8; g -36, b -10.8, y -0.72
    testing::check_values(p, {0.252, -0.72}, 1e-12);
  }
  SUBCASE("nesterov: step along g + 0.9·b") {
    optim::SGD sgd({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
    descend(sgd, p, 3);
    // x: g 2, b 2, d 3.8, x 0.62; g 1.24, b 3.04, d 3.976, x 0.2224;
    //    g 0.4448, b 3.1808, d 3.30752, x -0.108352
    // y: g 20, b 20, d 38, y -2.8; g -56, b -38, d -90.2, y 6.22;
    //    g 124.4, b 90.2, d 205.58, y -14.338
    testing::check_values(p, {-0.108352, -14.338}, 1e-12);
  }
  SUBCASE("weight decay 0.5: g + 0.5·p") {
    optim::SGD sgd({p}, {.lr = 0.1, .weight_decay = 0.5});
    descend(sgd, p, 3);
    // x: d = 2.5x, x *= 0.75 each step: 0.421875; y: d = 20.5y, y *= -1.05: -1.157625
    testing::check_values(p, {0.421875, -1.157625}, 1e-12);
  }
}

TEST_CASE("optim: Adam's and AdamW's first three steps on x² + 10y²") {
  const Tensor p = start_point();
  SUBCASE("Adam") {
    optim::Adam adam({p}, {.lr = 0.1});
    descend(adam, p, 3);
    testing::check_values(p, adam_by_hand({.lr = 0.1}), 1e-12);
  }
  SUBCASE("Adam with amsgrad: β2 = 0.5 and lr = 0.5 make v shrink at step 2 (x: g 2 → 1)") {
    optim::Adam adam({p}, {.lr = 0.5, .betas = {0.9, 0.5}, .amsgrad = true});
    descend(adam, p, 3);
    testing::check_values(p, adam_by_hand({.lr = 0.5, .beta2 = 0.5, .amsgrad = true}), 1e-12);
  }
  SUBCASE("Adam with L2 weight decay") {
    optim::Adam adam({p}, {.lr = 0.1, .weight_decay = 0.5});
    descend(adam, p, 3);
    testing::check_values(p, adam_by_hand({.lr = 0.1, .weight_decay = 0.5}), 1e-12);
  }
  SUBCASE("AdamW: decoupled weight decay") {
    optim::AdamW adamw({p}, {.lr = 0.1, .weight_decay = 0.5});
    descend(adamw, p, 3);
    testing::check_values(p, adam_by_hand({.lr = 0.1, .weight_decay = 0.5, .decoupled = true}),
                          1e-12);
  }
  SUBCASE("AdamW with its default weight decay and amsgrad") {
    optim::AdamW adamw({p}, {.lr = 0.5, .betas = {0.9, 0.5}, .amsgrad = true});
    descend(adamw, p, 3);
    const AdamCase expected{
        .lr = 0.5, .beta2 = 0.5, .weight_decay = 1e-2, .decoupled = true, .amsgrad = true};
    testing::check_values(p, adam_by_hand(expected), 1e-12);
  }
}

TEST_CASE("optim: Adam's hand-worked steps are not all alike") {
  // Guards the reference above: each option changes the result.
  CHECK(adam_by_hand({.lr = 0.5, .beta2 = 0.5, .amsgrad = true}) !=
        adam_by_hand({.lr = 0.5, .beta2 = 0.5}));
  CHECK(adam_by_hand({.weight_decay = 0.5}) != adam_by_hand({}));
  CHECK(adam_by_hand({.weight_decay = 0.5, .decoupled = true}) !=
        adam_by_hand({.weight_decay = 0.5}));
}

TEST_CASE("optim: Adam's bias correction makes the first step lr·sign(g), whatever |g|") {
  for (const DType dtype : {kFloat32, kFloat64}) {
    const Tensor p =
        tensor({1.0, -2.0, 1e-3, 30.0, -5e-2}, {.dtype = dtype, .requires_grad = true});
    const std::vector<double> before = p.to_vector();
    optim::Adam adam({p}, {.lr = 0.01});
    (p * p).sum().backward();  // g = 2p
    adam.step();
    const std::vector<double> after = p.to_vector();
    for (std::size_t i = 0; i < before.size(); ++i) {
      INFO(dtype_name(dtype), " element ", i);
      CHECK(after[i] - before[i] == doctest::Approx(before[i] > 0 ? -0.01 : 0.01).epsilon(1e-3));
    }
  }
}

TEST_CASE("optim: a linear regression converges with each optimizer") {
  Generator generator(7);
  const Tensor inputs = randn({64, 3}, {}, generator);
  const Tensor true_weight = tensor({{1.0}, {-2.0}, {0.5}});
  const Tensor targets = matmul(inputs, true_weight) + 0.3;

  const auto fit = [&](auto make_optimizer) {
    Tensor weight = zeros({3, 1}, {.requires_grad = true});
    Tensor bias = zeros({1}, {.requires_grad = true});
    auto optimizer = make_optimizer(std::vector<Tensor>{weight, bias});
    double loss_value = 0;
    for (int step = 0; step < 400; ++step) {
      const Tensor loss = mse_loss(matmul(inputs, weight) + bias, targets);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_value = loss.item();
    }
    CHECK(loss_value < 1e-4);
    testing::check_values(weight, {1.0, -2.0, 0.5}, 1e-2);
    testing::check_values(bias, {0.3}, 1e-2);
  };
  SUBCASE("SGD") {
    fit([](std::vector<Tensor> params) { return optim::SGD(params, {.lr = 0.1}); });
  }
  SUBCASE("SGD with nesterov momentum") {
    fit([](std::vector<Tensor> params) {
      return optim::SGD(params, {.lr = 0.05, .momentum = 0.9, .nesterov = true});
    });
  }
  SUBCASE("Adam") {
    fit([](std::vector<Tensor> params) { return optim::Adam(params, {.lr = 0.05}); });
  }
  SUBCASE("AdamW without decay") {
    fit([](std::vector<Tensor> params) {
      return optim::AdamW(params, {.lr = 0.05, .weight_decay = 0});
    });
  }
}

TEST_CASE("optim: parameter groups have their own lr and weight decay") {
  Tensor a = tensor({1.0}, {.dtype = kFloat64, .requires_grad = true});
  Tensor b = tensor({1.0}, {.dtype = kFloat64, .requires_grad = true});
  SUBCASE("lr: a group without one takes the options' lr") {
    optim::SGD sgd({{.params = {a}}, {.params = {b}, .lr = 0.01}}, {.lr = 0.1});
    CHECK(sgd.param_groups()[0].lr == 0.1);
    CHECK(sgd.param_groups()[1].lr == 0.01);
    (a * 3.0 + b * 3.0).sum().backward();
    sgd.step();
    testing::check_values(a, {1 - 0.1 * 3}, 1e-12);
    testing::check_values(b, {1 - 0.01 * 3}, 1e-12);
  }
  SUBCASE("AdamW: no decay for the group that sets weight_decay 0") {
    optim::AdamW adamw({{.params = {a}}, {.params = {b}, .weight_decay = 0.0}},
                       {.lr = 0.1, .weight_decay = 0.5});
    a.set_grad(zeros({1}, {.dtype = kFloat64}));  // g = 0: the Adam part moves nothing
    b.set_grad(zeros({1}, {.dtype = kFloat64}));
    adamw.step();
    testing::check_values(a, {1 - 0.1 * 0.5}, 1e-12);  // p·(1 - lr·wd)
    testing::check_values(b, {1.0}, 0);
  }
}

TEST_CASE("optim: step skips parameters without a gradient and zero_grad clears them") {
  const Tensor a = tensor({1.0}, {.requires_grad = true});
  const Tensor b = tensor({1.0}, {.requires_grad = true});
  optim::Adam adam({a, b}, {.lr = 0.1});
  (a * 2.0).sum().backward();
  adam.step();
  testing::check_values(a, {0.9}, 1e-6);
  testing::check_values(b, {1.0}, 0);
  CHECK(adam.state_dict().tensors.count("state.0.exp_avg") == 1);
  CHECK(adam.state_dict().tensors.count("state.1.exp_avg") == 0);
  // as in PyTorch, a parameter never stepped has no entry in the state
  CHECK(adam.state_dict().scalars["state"].contains("0"));
  CHECK_FALSE(adam.state_dict().scalars["state"].contains("1"));
  adam.zero_grad();
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("optim: a step between the forward pass and backward() makes backward() an error") {
  // The loss's graph used w's values before the step: its gradient would be computed with the
  // new ones. Each step counts in w.version().
  const Tensor x = tensor({1.0, 2.0});
  Tensor w = tensor({3.0, 4.0}, {.requires_grad = true});
  const Tensor b = tensor({0.5, 0.5}, {.requires_grad = true});
  w.set_grad(ones({2}));
  optim::SGD sgd({w, b}, {.lr = 0.1});
  sgd.step();
  CHECK(w.version() == 1);
  CHECK(b.version() == 0);  // no gradient, no step
  const Tensor loss = (x * w + b).sum();
  sgd.step();
  CHECK(w.version() == 2);
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("input 1 of 'mul' (tape entry #"), Error);
  CHECK_THROWS_WITH_AS(
      loss.backward(),
      doctest::Contains(", of shape [2], has been changed in place since the op used it "
                        "(version 2, then 1); an optimizer step or copy_into between the forward "
                        "pass and backward()? Call backward() before changing it"),
      Error);
  CHECK_FALSE(b.grad().defined());  // refused before any gradient was computed
  testing::check_values(w.grad(), {1, 1});
  sgd.zero_grad();
  (x * w + b).sum().backward();  // a new forward pass uses the new values
  testing::check_values(w.grad(), {1, 2});
}

TEST_CASE("optim: step() with no gradient on any parameter is an error that says what to do") {
  const Tensor a = tensor({1.0}, {.requires_grad = true});
  const Tensor b = tensor({1.0}, {.requires_grad = true});
  optim::SGD sgd({a, b});
  optim::Adam adam({a, b});
  optim::AdamW adamw({a, b});
  for (optim::Optimizer* optimizer : std::vector<optim::Optimizer*>{&sgd, &adam, &adamw}) {
    const std::string& name = optimizer->name();
    INFO(name);
    const std::string expected =
        name +
        ": step() found no gradient on any of its 2 parameters: call loss.backward() "
        "before step()";
    CHECK_THROWS_WITH_AS(optimizer->step(), doctest::Contains(expected.c_str()), Error);
    CHECK_THROWS_WITH_AS(optimizer->step(),
                         doctest::Contains("the optimizer holds tensors other than the model's"),
                         Error);
  }
  testing::check_values(a, {1.0}, 0);
}

TEST_CASE("optim: clip_grad_norm returns the total norm and scales gradients above max_norm") {
  Tensor a = zeros({2}, {.requires_grad = true});
  Tensor b = zeros({1}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor no_grad = zeros({3}, {.requires_grad = true});
  const auto set_grads = [&] {
    a.set_grad(tensor({3.0, -4.0}));
    b.set_grad(tensor({12.0}, {.dtype = kFloat64}));
  };
  set_grads();
  SUBCASE("2-norm: √(9 + 16 + 144) = 13") {
    CHECK(optim::clip_grad_norm({a, b, no_grad}, 1.0) == doctest::Approx(13.0));
    const double scale = 1.0 / (13.0 + 1e-6);
    testing::check_values(a.grad(), {3 * scale, -4 * scale}, 1e-7);
    testing::check_values(b.grad(), {12 * scale}, 1e-12);
    CHECK_FALSE(no_grad.grad().defined());
  }
  SUBCASE("inf-norm: max |g| = 12") {
    CHECK(optim::clip_grad_norm({a, b}, 6.0, INFINITY) == 12.0);
    const double scale = 6.0 / (12.0 + 1e-6);
    testing::check_values(a.grad(), {3 * scale, -4 * scale}, 1e-6);
    testing::check_values(b.grad(), {12 * scale}, 1e-12);
  }
  SUBCASE("1-norm: 3 + 4 + 12 = 19") {
    CHECK(optim::clip_grad_norm({a, b}, 100.0, 1.0) == doctest::Approx(19.0));
  }
  SUBCASE("3-norm: (27 + 64 + 1728)^(1/3)") {
    CHECK(optim::clip_grad_norm({a, b}, 100.0, 3.0) == doctest::Approx(std::cbrt(1819.0)));
  }
  SUBCASE("max_norm 0 zeroes the gradients") {
    CHECK(optim::clip_grad_norm({a, b}, 0.0) == doctest::Approx(13.0));
    testing::check_values(a.grad(), {0, 0}, 0);
    testing::check_values(b.grad(), {0}, 0);
  }
  SUBCASE("gradients below max_norm are left exactly as they were") {
    CHECK(optim::clip_grad_norm({a, b}, 13.5) == doctest::Approx(13.0));
    testing::check_values(a.grad(), {3, -4}, 0);
    testing::check_values(b.grad(), {12}, 0);
  }
  SUBCASE("a non-finite norm is returned and the gradients are left alone") {
    a.set_grad(tensor({NAN, 1.0}));
    CHECK(std::isnan(optim::clip_grad_norm({a, b}, 1.0)));
    b.set_grad(tensor({INFINITY}, {.dtype = kFloat64}));
    CHECK(std::isnan(optim::clip_grad_norm({a, b}, 1.0, INFINITY)));
    a.set_grad(tensor({3.0, -4.0}));
    CHECK(std::isinf(optim::clip_grad_norm({a, b}, 1.0)));
    CHECK(std::isinf(b.grad().item()));
    testing::check_values(a.grad(), {3, -4}, 0);
  }
  SUBCASE("no gradients at all: norm 0") { CHECK(optim::clip_grad_norm({no_grad}, 1.0) == 0.0); }
  SUBCASE("a long gradient goes through the SIMD body and the tail") {
    Tensor long_param = zeros({1001}, {.requires_grad = true});
    long_param.set_grad(full({1001}, 0.5));
    CHECK(optim::clip_grad_norm({long_param}, 1.0) == doctest::Approx(0.5 * std::sqrt(1001.0)));
    CHECK(long_param.grad().to_vector()[1000] == doctest::Approx(1.0 / std::sqrt(1001.0)));
  }
}

TEST_CASE("optim: clip_grad_value clamps every gradient element") {
  Tensor a = zeros({5}, {.requires_grad = true});
  a.set_grad(tensor({-3.0, 0.5, 2.0, -1.0, 1.0}));
  optim::clip_grad_value({a}, 1.0);
  testing::check_values(a.grad(), {-1, 0.5, 1, -1, 1}, 0);
  optim::clip_grad_value({a}, 0.0);
  testing::check_values(a.grad(), {0, 0, 0, 0, 0}, 0);
}

TEST_CASE("optim: schedulers set the closed-form lr of each step") {
  const Tensor p = zeros({1}, {.requires_grad = true});
  optim::SGD sgd({p}, {.lr = 0.1});
  // lr after `step` calls of schedule.step(), for each step listed.
  const auto lrs_at = [&](optim::LRScheduler& schedule, std::vector<int64_t> steps) {
    std::vector<double> lrs;
    for (int64_t step : steps) {
      while (schedule.last_step() < step) schedule.step();
      CHECK(sgd.param_groups()[0].lr == schedule.last_lr()[0]);
      lrs.push_back(schedule.last_lr()[0]);
    }
    return lrs;
  };
  const auto check_lrs = [](const std::vector<double>& actual,
                            const std::vector<double>& expected) {
    REQUIRE(actual.size() == expected.size());
    for (std::size_t i = 0; i < actual.size(); ++i) {
      INFO("entry ", i);
      CHECK(actual[i] == doctest::Approx(expected[i]).epsilon(1e-12));
    }
  };
  SUBCASE("StepLR: 0.1 · 0.5^⌊step/2⌋") {
    optim::StepLR schedule(sgd, {.step_size = 2, .gamma = 0.5});
    check_lrs(lrs_at(schedule, {0, 1, 2, 3, 4, 7}), {0.1, 0.1, 0.05, 0.05, 0.025, 0.0125});
  }
  SUBCASE("LinearLR: 0.1 · (1/3 + 2/3 · min(step, 5)/5)") {
    optim::LinearLR schedule(sgd);
    check_lrs(lrs_at(schedule, {0, 1, 4, 5, 9}),
              {0.1 / 3, 0.1 * (1.0 / 3 + 2.0 / 15), 0.1 * (1.0 / 3 + 8.0 / 15), 0.1, 0.1});
  }
  SUBCASE("LinearLR down to 0") {
    optim::LinearLR schedule(sgd, {.start_factor = 1.0, .end_factor = 0.0, .total_iters = 4});
    check_lrs(lrs_at(schedule, {0, 1, 3, 4, 6}), {0.1, 0.075, 0.025, 0.0, 0.0});
  }
  SUBCASE("LinearWarmupCosine: 4 warmup steps, cosine to 0.01 at step 12") {
    optim::LinearWarmupCosine schedule(sgd,
                                       {.warmup_steps = 4, .total_steps = 12, .min_lr_ratio = 0.1});
    // warmup 0.1·step/4; then 0.01 + 0.09·(1 + cos(π·(step - 4)/8))/2
    check_lrs(lrs_at(schedule, {0, 1, 4, 6, 8, 12, 20}),
              {0.0, 0.025, 0.1, 0.01 + 0.09 * (1 + std::sqrt(0.5)) / 2, 0.055, 0.01, 0.01});
  }
  SUBCASE("LinearWarmupCosine without warmup: 0.1·(1 + cos(π·step/4))/2 from the first step") {
    optim::LinearWarmupCosine schedule(sgd, {.warmup_steps = 0, .total_steps = 4});
    check_lrs(lrs_at(schedule, {0, 1, 2, 4}), {0.1, 0.1 * (1 + std::sqrt(0.5)) / 2, 0.05, 0.0});
  }
  SUBCASE("LinearWarmupCosine with min_lr_ratio 1: flat after the warmup") {
    optim::LinearWarmupCosine schedule(sgd,
                                       {.warmup_steps = 1, .total_steps = 3, .min_lr_ratio = 1});
    check_lrs(lrs_at(schedule, {0, 1, 2, 3}), {0.0, 0.1, 0.1, 0.1});
  }
  SUBCASE("LambdaLR: 0.1 · 0.9^step") {
    optim::LambdaLR schedule(sgd, [](int64_t step) { return std::pow(0.9, step); });
    check_lrs(lrs_at(schedule, {0, 1, 10}), {0.1, 0.09, 0.1 * std::pow(0.9, 10)});
  }
  SUBCASE("each group from its own base lr") {
    const Tensor q = zeros({1}, {.requires_grad = true});
    optim::SGD two_groups({{.params = {p}}, {.params = {q}, .lr = 1.0}}, {.lr = 0.1});
    optim::StepLR schedule(two_groups, {.step_size = 1, .gamma = 0.5});
    schedule.step();
    check_lrs(schedule.last_lr(), {0.05, 0.5});
    check_lrs({two_groups.param_groups()[0].lr, two_groups.param_groups()[1].lr}, {0.05, 0.5});
  }
  SUBCASE("state_dict restores the step, and the lr with it") {
    optim::LinearWarmupCosine schedule(sgd, {.warmup_steps = 2, .total_steps = 10});
    for (int i = 0; i < 5; ++i) schedule.step();
    const nlohmann::json state = schedule.state_dict();
    const Tensor q = zeros({1}, {.requires_grad = true});
    optim::SGD fresh({q}, {.lr = 0.1});
    optim::LinearWarmupCosine resumed(fresh, {.warmup_steps = 2, .total_steps = 10});
    resumed.load_state_dict(state);
    CHECK(resumed.last_step() == 5);
    CHECK(fresh.param_groups()[0].lr == sgd.param_groups()[0].lr);
    schedule.step();
    resumed.step();
    CHECK(fresh.param_groups()[0].lr == sgd.param_groups()[0].lr);
  }
}

namespace {

// A float32 parameter of odd length (SIMD body and tail) and a loss whose gradient varies.
Tensor resume_parameter() {
  Generator generator(3);
  return randn({37}, {.requires_grad = true}, generator);
}
void backward_resume_loss(const Tensor& p) { (p * p * p * p + p * 3.0).sum().backward(); }

// `steps` rounds of backward, clip, step, schedule step.
void train(optim::Optimizer& optimizer, optim::LRScheduler& schedule, const Tensor& p, int steps) {
  for (int i = 0; i < steps; ++i) {
    optimizer.zero_grad();
    backward_resume_loss(p);
    optim::clip_grad_norm({p}, 5.0);
    optimizer.step();
    schedule.step();
  }
}

// 10 straight steps against 5, a state_dict (and a copy of the parameter), a fresh optimizer
// over the copy, and 5 more.
template <class Make>
void check_exact_resume(Make make_optimizer) {
  const optim::StepLROptions schedule_options{.step_size = 3, .gamma = 0.5};
  const Tensor straight = resume_parameter();
  auto straight_optimizer = make_optimizer(straight);
  optim::StepLR straight_schedule(straight_optimizer, schedule_options);
  train(straight_optimizer, straight_schedule, straight, 10);

  Tensor resumed;
  optim::OptimizerStateDict saved_optimizer;
  nlohmann::json saved_schedule;
  {
    const Tensor first = resume_parameter();
    auto optimizer = make_optimizer(first);
    optim::StepLR schedule(optimizer, schedule_options);
    train(optimizer, schedule, first, 5);
    saved_optimizer = optimizer.state_dict();
    saved_schedule = schedule.state_dict();
    resumed = first.detach().clone().requires_grad_();
    train(optimizer, schedule, first, 2);  // steps after saving leave the saved state alone
  }
  auto optimizer = make_optimizer(resumed);
  optim::StepLR schedule(optimizer, schedule_options);
  optimizer.load_state_dict(saved_optimizer);
  schedule.load_state_dict(saved_schedule);
  train(optimizer, schedule, resumed, 5);
  CHECK(resumed.to_vector() == straight.to_vector());
}

}  // namespace

TEST_CASE("optim: a state_dict resumes bit-identically") {
  SUBCASE("SGD with nesterov momentum and weight decay") {
    check_exact_resume([](const Tensor& p) {
      return optim::SGD({p}, {.lr = 0.01, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
    });
  }
  SUBCASE("Adam with amsgrad") {
    check_exact_resume(
        [](const Tensor& p) { return optim::Adam({p}, {.lr = 0.01, .amsgrad = true}); });
  }
  SUBCASE("AdamW") {
    check_exact_resume([](const Tensor& p) { return optim::AdamW({p}, {.lr = 0.01}); });
  }
}

TEST_CASE("optim: a resumed run differs from a fresh one (the resume test can fail)") {
  const Tensor trained = resume_parameter();
  optim::Adam adam({trained}, {.lr = 0.01});
  for (int i = 0; i < 5; ++i) {
    adam.zero_grad();
    backward_resume_loss(trained);
    adam.step();
  }
  const Tensor resumed = trained.detach().clone().requires_grad_();
  const Tensor restarted = trained.detach().clone().requires_grad_();
  optim::Adam with_state({resumed}, {.lr = 0.01});
  with_state.load_state_dict(adam.state_dict());
  optim::Adam without_state({restarted}, {.lr = 0.01});
  backward_resume_loss(resumed);
  with_state.step();
  backward_resume_loss(restarted);
  without_state.step();
  CHECK(resumed.to_vector() != restarted.to_vector());
}

TEST_CASE("optim: state_dict carries the step counts, the groups and the options") {
  const Tensor p = start_point();
  optim::AdamW adamw({p}, {.lr = 0.1, .betas = {0.8, 0.99}});
  descend(adamw, p, 2);
  const optim::OptimizerStateDict state = adamw.state_dict();
  CHECK(state.scalars["optimizer"] == "optim.AdamW");
  CHECK(state.scalars["state"]["0"]["step"] == 2);
  CHECK(state.scalars["param_groups"][0]["lr"] == 0.1);
  CHECK(state.scalars["param_groups"][0]["weight_decay"] == 0.01);
  CHECK(state.scalars["options"]["betas"][0] == 0.8);
  CHECK(state.tensors.size() == 2);  // exp_avg, exp_avg_sq
  CHECK(state.tensors.at("state.0.exp_avg_sq").shape() == Shape{2});

  const Tensor q = start_point();
  optim::AdamW other({q});
  other.load_state_dict(state);
  CHECK(other.options().betas.first == 0.8);
  CHECK(other.param_groups()[0].lr == 0.1);

  // plain SGD keeps no buffer, only the count
  const Tensor r = start_point();
  optim::SGD sgd({r});
  descend(sgd, r, 3);
  CHECK(sgd.state_dict().scalars["state"]["0"]["step"] == 3);
  CHECK(sgd.state_dict().tensors.empty());
}

TEST_CASE("optim: errors name the optimizer and the problem") {
  const Tensor p = start_point();
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                       doctest::Contains("nesterov needs momentum > 0 and dampening == 0"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.nesterov = true}),
                       doctest::Contains("optim.SGD: nesterov"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p}, {.lr = -0.1}),
                       doctest::Contains("optim.SGD: lr must be >= 0, got -0.1"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam({p}, {.lr = -1}), doctest::Contains("optim.Adam: lr"), Error);
  CHECK_THROWS_WITH_AS(optim::AdamW({p}, {.weight_decay = -1}),
                       doctest::Contains("optim.AdamW: weight_decay must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam({p}, {.betas = {1.0, 0.999}}),
                       doctest::Contains("betas.first must be in [0, 1), got 1"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam({p}, {.betas = {-0.1, 0.999}}),
                       doctest::Contains("betas.first must be in [0, 1), got -0.1"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam({p}, {.betas = {0.9, 1.0}}),
                       doctest::Contains("betas.second must be in [0, 1)"), Error);
  CHECK_THROWS_WITH_AS(optim::Adam({p}, {.eps = -1e-8}), doctest::Contains("eps must be >= 0"),
                       Error);
  CHECK_NOTHROW(optim::Adam({p}, {.betas = {0.0, 0.0}, .eps = 0}));  // the bounds, as in PyTorch
  CHECK_THROWS_WITH_AS(optim::SGD({{.params = {p}}, {.params = {p}}}),
                       doctest::Contains("appears more than once"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD(std::vector<Tensor>{}), doctest::Contains("empty parameter list"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p * 2.0}), doctest::Contains("parameter 0 is not a leaf"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p, from_vector(std::vector<int64_t>{1, 2}, {2})}),
                       doctest::Contains("parameter 1 is int64, not a floating tensor"), Error);
  CHECK_THROWS_WITH_AS(optim::SGD({p, zeros({2}).expand({3, 2})}),
                       doctest::Contains("parameter 1 of shape [3, 2] is not contiguous"), Error);
}

TEST_CASE("optim: a gradient that does not match its parameter is an error at step()") {
  const Tensor p = start_point();
  optim::Adam adam({p});
  p.impl()->grad = zeros({3}, {.dtype = kFloat64}).impl_ptr();  // past set_grad's own check
  CHECK_THROWS_WITH_AS(
      adam.step(),
      doctest::Contains("optim.Adam: parameter 0 of shape [2] and dtype float64 has a gradient of "
                        "shape [3]"),
      Error);
  p.impl()->grad = zeros({2}).impl_ptr();
  CHECK_THROWS_WITH_AS(adam.step(), doctest::Contains("gradient of shape [2] and dtype float32"),
                       Error);
}

TEST_CASE("optim: a state_dict of another optimizer or other parameters is refused whole") {
  const Tensor p = start_point();
  optim::Adam adam({p});
  descend(adam, p, 1);
  optim::SGD sgd({start_point()}, {.momentum = 0.9});
  CHECK_THROWS_WITH_AS(sgd.load_state_dict(adam.state_dict()),
                       doctest::Contains("optim.SGD: the state is of optimizer 'optim.Adam'"),
                       Error);
  optim::Adam bigger({zeros({3}, {.dtype = kFloat64, .requires_grad = true})});
  CHECK_THROWS_WITH_AS(bigger.load_state_dict(adam.state_dict()),
                       doctest::Contains("state 'state.0.exp_avg' has shape [2]"), Error);
  optim::Adam two({start_point(), start_point()});
  CHECK_THROWS_WITH_AS(two.load_state_dict(adam.state_dict()),
                       doctest::Contains("group 0 of the state has 1 parameters"), Error);
  optim::OptimizerStateDict broken = adam.state_dict();
  broken.scalars.erase("options");
  CHECK_THROWS_WITH_AS(adam.load_state_dict(broken), doctest::Contains("malformed"), Error);
}

TEST_CASE("optim: scheduler and clipping errors") {
  const Tensor p = start_point();
  optim::SGD sgd({p});
  CHECK_THROWS_WITH_AS(optim::StepLR(sgd, {}),
                       doctest::Contains("optim.StepLR: step_size must be > 0"), Error);
  CHECK_THROWS_WITH_AS(optim::LinearLR(sgd, {.start_factor = 0}),
                       doctest::Contains("start_factor must be in (0, 1]"), Error);
  CHECK_THROWS_WITH_AS(optim::LinearLR(sgd, {.end_factor = 1.5}),
                       doctest::Contains("end_factor must be in [0, 1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS(optim::LinearLR(sgd, {.end_factor = -0.5}),
                       doctest::Contains("end_factor must be in [0, 1], got -0.5"), Error);
  CHECK_THROWS_WITH_AS(optim::LinearLR(sgd, {.total_iters = 0}),
                       doctest::Contains("total_iters must be > 0, got 0"), Error);
  CHECK_THROWS_WITH_AS(optim::LinearWarmupCosine(sgd, {.warmup_steps = -1}),
                       doctest::Contains("warmup_steps must be >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(optim::LinearWarmupCosine(sgd, {.warmup_steps = 10, .total_steps = 10}),
                       doctest::Contains("total_steps (10) must be > warmup_steps (10)"), Error);
  for (const double ratio : {-0.1, 1.1})
    CHECK_THROWS_WITH_AS(optim::LinearWarmupCosine(sgd, {.total_steps = 10, .min_lr_ratio = ratio}),
                         doctest::Contains("min_lr_ratio must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(optim::LambdaLR(sgd, nullptr), doctest::Contains("lr_lambda is empty"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::clip_grad_norm({p}, -1.0), doctest::Contains("max_norm must be >= 0"),
                       Error);
  CHECK_THROWS_WITH_AS(optim::clip_grad_norm({p}, 1.0, 0.0),
                       doctest::Contains("norm_type must be > 0"), Error);
  CHECK_THROWS_WITH_AS(optim::clip_grad_value({p}, -1.0),
                       doctest::Contains("clip_value must be >= 0"), Error);
}
