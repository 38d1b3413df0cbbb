// head_importance (nn/head_importance.hpp): Σ over batches of |∂L/∂ξ| per head, against the
// gradients of an explicit head_mask; a head that cannot change the output gets 0; each layer's
// importance has norm 1 (or is the sums, not normalised); the gates come off again; the errors.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/nn.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;
using namespace tapegrad::nn;

namespace {

// Two attention layers over x [B, T, 6], 3 heads each, summed into a scalar by fixed weights.
struct TwoLayers : Module {
  TwoLayers() : first(6, 3), second(6, 3) {
    register_modules({{"first", first}, {"second", second}});
  }
  Tensor forward(const Tensor& x, const Tensor& first_mask = {}, const Tensor& second_mask = {}) {
    const Tensor h = first(x, x, x, {.need_weights = false, .head_mask = first_mask}).output;
    return second(h, h, h, {.is_causal = true, .need_weights = false, .head_mask = second_mask})
        .output;
  }
  MultiHeadAttention first, second;
};

Tensor loss_of(const Tensor& y, int64_t batch) {
  return sum(y * testing::input(y.shape(), 10 + static_cast<uint64_t>(batch)).detach());
}

}  // namespace

TEST_CASE("head_importance: the sum of |dL/d gate| over batches, normalised per layer or not") {
  manual_seed(2);
  TwoLayers model;
  model.to(kFloat64);
  // Head 2 of the second layer writes nothing: zero its columns 4, 5 of out_proj.
  double* out_proj = model.second.out_proj.weight.data<double>();
  for (int64_t row = 0; row < 6; ++row) out_proj[row * 6 + 4] = out_proj[row * 6 + 5] = 0;
  const std::vector<Tensor> inputs = {testing::input({2, 4, 6}, 1).detach(),
                                      testing::input({2, 4, 6}, 2).detach()};

  // Expected: the same sums from gates passed explicitly.
  Tensor expected[2] = {zeros({3}, {.dtype = kFloat64}), zeros({3}, {.dtype = kFloat64})};
  for (int64_t batch = 0; batch < 2; ++batch) {
    const Tensor a = ones({3}, {.dtype = kFloat64, .requires_grad = true});
    const Tensor b = ones({3}, {.dtype = kFloat64, .requires_grad = true});
    loss_of(model.forward(inputs[batch], a, b), batch).backward();
    expected[0] = expected[0] + abs(a.grad());
    expected[1] = expected[1] + abs(b.grad());
  }
  model.zero_grad();

  const std::vector<HeadImportance> importance = head_importance(
      model, 2, [&](int64_t batch) { return loss_of(model.forward(inputs[batch]), batch); });
  REQUIRE(importance.size() == 2);
  CHECK(importance[0].name == "first");
  CHECK(importance[1].name == "second");
  for (int layer = 0; layer < 2; ++layer) {
    CAPTURE(layer);
    const Tensor normalised =
        expected[layer] / std::sqrt(sum(expected[layer] * expected[layer]).item());
    testing::check_values(importance[layer].importance, normalised.to_vector(), 1e-12);
  }
  CHECK(importance[1].importance.to_vector()[2] == 0.0);  // the head that writes nothing
  CHECK(importance[0].importance.to_vector()[0] > 0.0);
  CHECK_FALSE(model.first.head_gate.defined());             // the gates are off again
  const Tensor& grad = model.second.in_proj_weight.grad();  // zeroed (or none)
  CHECK((!grad.defined() || max(abs(grad)).item() == 0));

  const std::vector<HeadImportance> sums = head_importance(
      model, 2, [&](int64_t batch) { return loss_of(model.forward(inputs[batch]), batch); },
      {.normalize_by_layer = false});
  for (int layer = 0; layer < 2; ++layer) {
    CAPTURE(layer);
    testing::check_values(sums[layer].importance, expected[layer].to_vector(), 1e-12);
  }
}

TEST_CASE("head_importance: errors name what is wrong, and the gates still come off") {
  TwoLayers model;
  CHECK_THROWS_WITH_AS(head_importance(model, 1, [&](int64_t) { return zeros({2}); }),
                       doctest::Contains("loss(0) has shape [2]; it must be a scalar"), Error);
  CHECK_FALSE(model.first.head_gate.defined());
  CHECK_THROWS_WITH_AS(head_importance(model, 0, [&](int64_t) { return zeros({}); }),
                       doctest::Contains("batches must be positive, got 0"), Error);
  Linear linear(2, 2);
  CHECK_THROWS_WITH_AS(head_importance(linear, 1, [&](int64_t) { return zeros({}); }),
                       doctest::Contains("the model has no MultiHeadAttention"), Error);
}
