// Losses: cross_entropy (class weights, ignore_index, label smoothing, each reduction),
// binary_cross_entropy_with_logits and mse_loss: gradient checks, values computed by hand from
// PyTorch's definitions, and one test per error path.
#include <doctest/doctest.h>

#include <cmath>

#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

using Inputs = const std::vector<Tensor>&;

Tensor ids(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape);
}

constexpr Reduction kReductions[] = {Reduction::None, Reduction::Mean, Reduction::Sum};

// The 2x3 example: logits [[1, 2, 3], [1, 0, -1]], targets [2, 1]. Both rows have
// log-sum-exp = max + log(1 + e⁻¹ + e⁻²) = max + 0.4076060, so the losses are 0.4076060 and
// 1.4076060.
Tensor example_logits() {
  return tensor({{1, 2, 3}, {1, 0, -1}}, {.dtype = kFloat64, .requires_grad = true});
}
Tensor example_targets() { return ids({2, 1}, {2}); }

}  // namespace

// ---- cross_entropy ----

TEST_CASE("gradcheck cross_entropy") {
  const Tensor target = ids({0, 2, -100, 1, 2}, {5});
  const Tensor weight = tensor({0.5, 2.0, 1.5}, {.dtype = kFloat64});
  for (Reduction reduction : kReductions) {
    for (double smoothing : {0.0, 0.1}) {
      INFO("reduction ", static_cast<int>(reduction), ", label_smoothing ", smoothing);
      CHECK(gradcheck(
          [&](Inputs in) { return cross_entropy(in[0], target, {.reduction = reduction}); },
          {testing::input({5, 3})}));
      CHECK(gradcheck(
          [&](Inputs in) {
            return cross_entropy(
                in[0], target,
                {.weight = weight, .label_smoothing = smoothing, .reduction = reduction});
          },
          {testing::transposed_input({5, 3})}));
    }
  }
  // [N, C, d]: the class dim is the second one
  CHECK(gradcheck(
      [](Inputs in) {
        return cross_entropy(in[0], ids({0, 3, 1, 2, 2, -1}, {2, 3}),
                             {.ignore_index = -1, .label_smoothing = 0.2});
      },
      {testing::input({2, 4, 3})}));
}

TEST_CASE("cross_entropy values on a 2x3 example") {
  testing::check_values(cross_entropy(example_logits(), example_targets()), {0.9076060}, 1e-6);
  testing::check_values(
      cross_entropy(example_logits(), example_targets(), {.reduction = Reduction::Sum}),
      {1.8152119}, 1e-6);
  testing::check_values(
      cross_entropy(example_logits(), example_targets(), {.reduction = Reduction::None}),
      {0.4076060, 1.4076060}, 1e-6);
  // 0.9·nll + (0.1/3)·Σ_c (lse - x_c): row 0 0.5076060, row 1 1.4076060
  testing::check_values(
      cross_entropy(example_logits(), example_targets(), {.label_smoothing = 0.1}), {0.9576060},
      1e-6);
  // weights [1, 2, 3]: (3·0.4076060 + 2·1.4076060) / (3 + 2)
  const Tensor weight = tensor({1, 2, 3}, {.dtype = kFloat64});
  testing::check_values(cross_entropy(example_logits(), example_targets(), {.weight = weight}),
                        {0.8076060}, 1e-6);
  // both: rows (0.9·w[y]·nll + (0.1/3)·Σ_c w[c]·(lse - x_c)) = 1.3153906, 2.8818786, over 3 + 2
  testing::check_values(cross_entropy(example_logits(), example_targets(),
                                      {.weight = weight, .label_smoothing = 0.1}),
                        {0.8394538}, 1e-6);
}

TEST_CASE("cross_entropy gradient is (softmax - onehot) / N") {
  const Tensor logits = example_logits();
  cross_entropy(logits, example_targets()).backward();
  testing::check_values(logits.grad(),
                        {0.0450153, 0.1223642, -0.1673795, 0.3326205, -0.3776358, 0.0450153}, 1e-6);
}

TEST_CASE("cross_entropy ignores ignore_index targets, also in the mean's divisor") {
  const Tensor logits = example_logits();
  const Tensor loss = cross_entropy(logits, ids({2, -100}, {2}));
  testing::check_values(loss, {0.4076060}, 1e-6);
  loss.backward();
  testing::check_values(logits.grad(), {0.0900306, 0.2447285, -0.3347591, 0, 0, 0}, 1e-6);
  testing::check_values(cross_entropy(example_logits(), ids({2, 7}, {2}), {.ignore_index = 7}),
                        {0.4076060}, 1e-6);
}

TEST_CASE("cross_entropy with every target ignored: mean is NaN as PyTorch, the gradient zero") {
  const Tensor logits = example_logits();
  const Tensor loss = cross_entropy(logits, ids({-100, -100}, {2}));
  CHECK(std::isnan(loss.item()));
  loss.backward();
  testing::check_values(logits.grad(), {0, 0, 0, 0, 0, 0}, 0);
  testing::check_values(
      cross_entropy(example_logits(), ids({-100, -100}, {2}), {.reduction = Reduction::Sum}), {0},
      0);
}

TEST_CASE("cross_entropy is stable for large logits") {
  testing::check_values(cross_entropy(tensor({{1000, 0}}), ids({1}, {1})), {1000}, 1e-3);
  testing::check_values(cross_entropy(tensor({{1000, 0}}), ids({0}, {1})), {0}, 1e-6);
  // Classes in dim 1 of [N, C, d]: each position's largest logit, strided by d, is found.
  const Tensor by_position = tensor({{{0, 1000}, {1000, 0}}});  // [1, 2 classes, 2 positions]
  testing::check_values(cross_entropy(by_position, ids({1, 0}, {1, 2})), {0}, 1e-6);
  testing::check_values(cross_entropy(by_position, ids({0, 1}, {1, 2})), {1000}, 1e-3);
}

TEST_CASE("cross_entropy with a target out of range is an error naming it and C") {
  CHECK_THROWS_WITH_AS(
      cross_entropy(zeros({2, 3}), ids({0, 3}, {2})),
      doctest::Contains("cross_entropy: target 3 at position [1] is out of range [0, 3)"),
      tapegrad::Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3}), ids({-1, 0}, {2})),
                       doctest::Contains("cross_entropy: target -1 at position [0]"),
                       tapegrad::Error);
}

TEST_CASE("cross_entropy with a target of the wrong shape or dtype is an error") {
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3}), ids({0, 1, 2}, {3})),
                       doctest::Contains("cross_entropy: target must be int64 of shape [2] for "
                                         "logits of shape [2, 3], got int64 of shape [3]"),
                       tapegrad::Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3}), zeros({2})),
                       doctest::Contains("got float32 of shape [2]"), tapegrad::Error);
  // a target that fits neither layout (classes in dim 1 or in the last dim) is just wrong
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3, 4}), ids(std::vector<int64_t>(10), {2, 5})),
                       doctest::Contains("cross_entropy: target must be int64 of shape [2, 4] for "
                                         "logits of shape [2, 3, 4], got int64 of shape [2, 5]"),
                       tapegrad::Error);
}

TEST_CASE("cross_entropy with the classes in the last dim says how to reshape or permute") {
  // A language model's [B, T, V] logits with [B, T] targets.
  manual_seed(0);
  const Tensor logits = randn({2, 4, 5}, {.dtype = kFloat64});
  const Tensor targets = randint(0, 5, {2, 4});
  CHECK_THROWS_WITH_AS(
      cross_entropy(logits, targets),
      doctest::Contains(
          "cross_entropy: logits of shape [2, 4, 5] and target of shape [2, 4] hold the classes in "
          "the last dim, but cross_entropy takes them in dim 1 (as PyTorch); flatten both, "
          "cross_entropy(logits.reshape({-1, 5}), target.reshape({-1})), or move the classes to "
          "dim 1 with logits.permute({0, 2, 1}) (shape [2, 5, 4])"),
      tapegrad::Error);
  // Both remedies work, and agree.
  const Tensor flat = cross_entropy(logits.reshape({-1, 5}), targets.reshape({-1}));
  const Tensor permuted = cross_entropy(logits.permute({0, 2, 1}), targets);
  testing::check_values(permuted, {flat.item()}, 1e-12);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3, 4, 5}), ids(std::vector<int64_t>(24), {2, 3, 4})),
                       doctest::Contains("logits.reshape({-1, 5}), target.reshape({-1})), or move "
                                         "the classes to dim 1 with logits.permute({0, 3, 1, 2}) "
                                         "(shape [2, 5, 3, 4])"),
                       tapegrad::Error);
}

TEST_CASE("cross_entropy with logits of one dim is an error") {
  CHECK_THROWS_WITH_AS(
      cross_entropy(zeros({3}), ids({0}, {1})),
      doctest::Contains("cross_entropy: logits must be [N, C] or [N, C, d...], got shape [3]"),
      tapegrad::Error);
}

TEST_CASE("cross_entropy with class weights of the wrong shape is an error") {
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3}), ids({0, 1}, {2}), {.weight = ones({2})}),
                       doctest::Contains("cross_entropy: weight must be float32 of shape [3] for "
                                         "logits of shape [2, 3], got float32 of shape [2]"),
                       tapegrad::Error);
}

TEST_CASE("cross_entropy with class weights that require grad is an error") {
  CHECK_THROWS_WITH_AS(
      cross_entropy(zeros({2, 3}), ids({0, 1}, {2}),
                    {.weight = ones({3}, {.requires_grad = true})}),
      doctest::Contains("cross_entropy: the class weight of shape [3] requires grad"),
      tapegrad::Error);
}

TEST_CASE("cross_entropy with label_smoothing outside [0, 1] is an error, and 1 is allowed") {
  CHECK_THROWS_WITH_AS(
      cross_entropy(zeros({2, 3}), ids({0, 1}, {2}), {.label_smoothing = 1.5}),
      doctest::Contains(
          "cross_entropy: label_smoothing 1.5 is outside [0, 1] (logits shape [2, 3])"),
      tapegrad::Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3}), ids({0, 1}, {2}), {.label_smoothing = -0.5}),
                       doctest::Contains("cross_entropy: label_smoothing -0.5 is outside [0, 1]"),
                       tapegrad::Error);
  // label_smoothing 1: a uniform target whatever the class, -mean_c log softmax(x)_c =
  //   log Σ_c exp(x_c) - mean_c x_c
  const Tensor uniform = cross_entropy(tensor({{1, 2, 3}}, {.dtype = kFloat64}), ids({0}, {1}),
                                       {.label_smoothing = 1.0});
  testing::check_values(uniform, {std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 2},
                        1e-12);
}

// ---- binary_cross_entropy_with_logits ----

TEST_CASE("gradcheck binary_cross_entropy_with_logits") {
  const Tensor pos_weight = tensor({0.5, 3.0, 1.0}, {.dtype = kFloat64});
  for (Reduction reduction : kReductions) {
    INFO("reduction ", static_cast<int>(reduction));
    CHECK(gradcheck(
        [&](Inputs in) {
          return binary_cross_entropy_with_logits(in[0], in[1], {.reduction = reduction});
        },
        {testing::input({2, 3}, 1), testing::input_in({2, 3}, 0, 1, 2)}));
    CHECK(gradcheck(
        [&](Inputs in) {
          return binary_cross_entropy_with_logits(
              in[0], in[1], {.pos_weight = pos_weight, .reduction = reduction});
        },
        {testing::transposed_input({2, 3}, 3), testing::input_in({2, 3}, 0, 1, 4)}));
  }
}

TEST_CASE("binary_cross_entropy_with_logits values") {
  const Tensor x = tensor({0.5, -1, 3});
  const Tensor t = tensor({1, 0, 1});
  // t = 1: log(1 + e^-x); t = 0: log(1 + e^x)
  testing::check_values(binary_cross_entropy_with_logits(x, t, {.reduction = Reduction::None}),
                        {0.4740770, 0.3132617, 0.0485874}, 1e-6);
  testing::check_values(binary_cross_entropy_with_logits(x, t), {0.2786420}, 1e-6);
  // pos_weight 2 doubles the terms of positive targets
  testing::check_values(binary_cross_entropy_with_logits(
                            x, t, {.pos_weight = tensor({2}), .reduction = Reduction::Sum}),
                        {0.9481540 + 0.3132617 + 0.0971747}, 1e-5);
  // stable at large |x|
  testing::check_values(
      binary_cross_entropy_with_logits(tensor({1000, -1000, -1000}), tensor({0, 0, 1}),
                                       {.reduction = Reduction::None}),
      {1000, 0, 1000}, 1e-3);
}

TEST_CASE("binary_cross_entropy_with_logits gradient is sigmoid(x) - t") {
  const Tensor x = tensor({0.5, -1}, {.dtype = kFloat64, .requires_grad = true});
  binary_cross_entropy_with_logits(x, tensor({1, 0}, {.dtype = kFloat64}),
                                   {.reduction = Reduction::Sum})
      .backward();
  testing::check_values(x.grad(), {1 / (1 + std::exp(-0.5)) - 1, 1 / (1 + std::exp(1.0))}, 1e-9);
}

TEST_CASE("binary_cross_entropy_with_logits with targets of another shape is an error") {
  CHECK_THROWS_WITH_AS(
      binary_cross_entropy_with_logits(zeros({2, 3}), zeros({3})),
      doctest::Contains("binary_cross_entropy_with_logits: targets (float32 of shape [3]) must "
                        "match the logits (float32 of shape [2, 3])"),
      tapegrad::Error);
}

TEST_CASE(
    "binary_cross_entropy_with_logits with a pos_weight that does not broadcast is an error") {
  CHECK_THROWS_WITH_AS(
      binary_cross_entropy_with_logits(zeros({2, 3}), zeros({2, 3}), {.pos_weight = ones({2})}),
      doctest::Contains(
          "binary_cross_entropy_with_logits: shapes [2] and [2, 3] cannot be broadcast"),
      tapegrad::Error);
  CHECK_THROWS_WITH_AS(
      binary_cross_entropy_with_logits(zeros({3}), zeros({3}), {.pos_weight = ones({2, 3})}),
      doctest::Contains("pos_weight (float32 of shape [2, 3]) must be float32 and broadcast to the "
                        "logits' shape [3]"),
      tapegrad::Error);
}

TEST_CASE("binary_cross_entropy_with_logits with a pos_weight that requires grad is an error") {
  CHECK_THROWS_WITH_AS(
      binary_cross_entropy_with_logits(zeros({3}), zeros({3}),
                                       {.pos_weight = ones({3}, {.requires_grad = true})}),
      doctest::Contains("binary_cross_entropy_with_logits: pos_weight of shape [3] requires grad"),
      tapegrad::Error);
}

// ---- mse_loss ----

TEST_CASE("gradcheck mse_loss") {
  for (Reduction reduction : kReductions) {
    INFO("reduction ", static_cast<int>(reduction));
    const auto fn = [reduction](Inputs in) { return mse_loss(in[0], in[1], reduction); };
    CHECK(gradcheck(fn, {testing::input({2, 3}, 1), testing::transposed_input({2, 3}, 2)}));
    CHECK(gradcheck(fn, {testing::input({2, 3}, 3), testing::input({3}, 4)}));
  }
}

TEST_CASE("mse_loss values") {
  const Tensor a = tensor({1, 2, 3}), b = tensor({1, 0, 0});
  testing::check_values(mse_loss(a, b), {13.0 / 3});
  testing::check_values(mse_loss(a, b, Reduction::Sum), {13});
  testing::check_values(mse_loss(a, b, Reduction::None), {0, 4, 9});
}

TEST_CASE("mse_loss of shapes that do not broadcast is an error") {
  CHECK_THROWS_WITH_AS(mse_loss(zeros({2}), zeros({3})),
                       doctest::Contains("sub: shapes [2] and [3] cannot be broadcast"),
                       tapegrad::Error);
}
