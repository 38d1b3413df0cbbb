// NN-level ops: comparisons and masks, masked_fill and where, softmax and log_softmax, dropout,
// layer_norm and embedding: gradient checks, values, and one test per error path.
//
// Adding an op: a `gradcheck <op>` case on small float64 inputs (testing::input, and a
// non-contiguous one from testing::transposed_input), a case for its forward values, and one
// CHECK_THROWS_WITH_AS per error it raises.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "autograd/ops/matmul.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

using Inputs = const std::vector<Tensor>&;
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor bools(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape).to(kBool);
}

Tensor ids(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape);
}

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

// ---- compare ----

TEST_CASE("comparisons broadcast and give bool tensors") {
  const Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  const Tensor b = tensor({2, 5, 3});
  const Tensor lt_ab = lt(a, b);
  CHECK(lt_ab.dtype() == kBool);
  CHECK(lt_ab.shape() == Shape{2, 3});
  testing::check_values(lt_ab, {1, 1, 0, 0, 0, 0});
  testing::check_values(le(a, b), {1, 1, 1, 0, 1, 0});
  testing::check_values(gt(a, b), {0, 0, 0, 1, 0, 1});
  testing::check_values(ge(a, b), {0, 0, 1, 1, 1, 1});
  testing::check_values(eq(a, b), {0, 0, 1, 0, 1, 0});
  testing::check_values(ne(a, b), {1, 1, 0, 1, 0, 1});
  testing::check_values(eq(a, tensor({{1}, {5}})), {1, 0, 0, 0, 1, 0});
}

TEST_CASE("comparisons with a number") {
  const Tensor a = tensor({1, 2, 3});
  testing::check_values(lt(a, 2.0), {1, 0, 0});
  testing::check_values(le(a, 2.0), {1, 1, 0});
  testing::check_values(gt(a, 2.0), {0, 0, 1});
  testing::check_values(ge(a, 2.0), {0, 1, 1});
  testing::check_values(eq(a, 2.0), {0, 1, 0});
  testing::check_values(ne(a, 2.0), {1, 0, 1});
  // int64 values are compared as doubles, not against the number truncated to 2
  testing::check_values(lt(ids({1, 2, 3}, {3}), 2.5), {1, 1, 0});
}

TEST_CASE("comparisons never require grad") {
  const Tensor x = testing::input({2, 3});
  CHECK_FALSE(gt(x, 0.0).requires_grad());
  CHECK_FALSE(eq(x, x).requires_grad());
}

TEST_CASE("masks combine with &&, || and !") {
  const Tensor causal = bools({1, 0, 0, 1, 1, 0, 1, 1, 1}, {3, 3});
  const Tensor keys_present = bools({1, 1, 0}, {3});  // the third key is padding
  testing::check_values(causal && keys_present, {1, 0, 0, 1, 1, 0, 1, 1, 0});
  testing::check_values(causal || keys_present, {1, 1, 0, 1, 1, 0, 1, 1, 1});
  testing::check_values(!keys_present, {0, 0, 1});
}

TEST_CASE("logical ops on a tensor that is not bool are an error") {
  CHECK_THROWS_WITH_AS(
      logical_and(tensor({1, 0}), bools({1, 0}, {2})),
      doctest::Contains("logical_and: expected a bool tensor, got float32 of shape [2]"),
      tapegrad::Error);
  CHECK_THROWS_WITH_AS(!tensor({1, 0}), doctest::Contains("logical_not: expected a bool tensor"),
                       tapegrad::Error);
}

TEST_CASE("comparing tensors of different dtypes is an error") {
  CHECK_THROWS_WITH_AS(eq(tensor({1, 2}), ids({1, 2}, {2})),
                       doctest::Contains("eq: dtypes differ (float32 and int64)"), tapegrad::Error);
}

TEST_CASE("comparing shapes that do not broadcast is an error") {
  CHECK_THROWS_WITH_AS(lt(zeros({2, 3}), zeros({4})),
                       doctest::Contains("lt: shapes [2, 3] and [4] cannot be broadcast"),
                       tapegrad::Error);
}

// ---- masked_fill, where ----

TEST_CASE("gradcheck masked_fill") {
  const Tensor mask = bools({1, 0, 1}, {3});
  CHECK(gradcheck([&](Inputs in) { return masked_fill(in[0], mask, -2.5); },
                  {testing::input({2, 3})}));
  CHECK(gradcheck(
      [&](Inputs in) {
        return masked_fill(in[0], bools({0, 1, 1, 0}, {2, 2}), 7.0);
      },
      {testing::transposed_input({2, 2})}));
  // the mask may broadcast the input: x [3] filled by a [2, 3] mask gives [2, 3]
  CHECK(gradcheck(
      [&](Inputs in) {
        return masked_fill(in[0], bools({1, 0, 0, 0, 1, 0}, {2, 3}), 0.0);
      },
      {testing::input({3})}));
}

TEST_CASE("masked_fill fills where the mask is true and passes no gradient there") {
  const Tensor x = tensor({{1, 2}, {3, 4}}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor y = masked_fill(x, bools({0, 1}, {2}), -1.5);
  testing::check_values(y, {1, -1.5, 3, -1.5});
  (y * tensor({{10, 20}, {30, 40}}, {.dtype = kFloat64})).sum().backward();
  testing::check_values(x.grad(), {10, 0, 30, 0});
  CHECK(masked_fill(x, bools({0, 1}, {2}), -kInf).at({1, 1}) == -kInf);
}

TEST_CASE("masked_fill with a mask that is not bool is an error") {
  CHECK_THROWS_WITH_AS(
      masked_fill(zeros({2, 2}), zeros({2}), 0.0),
      doctest::Contains(
          "masked_fill: the mask must be bool, got float32 (mask shape [2], input shape [2, 2])"),
      tapegrad::Error);
}

TEST_CASE("masked_fill with a mask that does not broadcast is an error") {
  CHECK_THROWS_WITH_AS(masked_fill(zeros({2, 2}), bools({1, 0, 1}, {3}), 0.0),
                       doctest::Contains("masked_fill: shapes [2, 2] and [3] cannot be broadcast"),
                       tapegrad::Error);
}

TEST_CASE("gradcheck where") {
  const Tensor condition = bools({1, 0, 0, 1, 1, 0}, {2, 3});
  const auto fn = [&](Inputs in) { return where(condition, in[0], in[1]); };
  CHECK(gradcheck(fn, {testing::input({2, 3}, 1), testing::input({2, 3}, 2)}));
  CHECK(gradcheck(fn, {testing::input({3}, 3), testing::input({2, 1}, 4)}));
  CHECK(gradcheck(fn, {testing::transposed_input({2, 3}, 5), testing::input({}, 6)}));
}

TEST_CASE("where picks from a where the condition holds, and from b elsewhere") {
  const Tensor a = tensor({1, 2, 3}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor b = tensor({{10}, {20}}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor y = where(bools({1, 0, 1, 0, 0, 1}, {2, 3}), a, b);
  testing::check_values(y, {1, 10, 3, 20, 20, 3});
  y.sum().backward();
  testing::check_values(a.grad(), {1, 0, 2});
  testing::check_values(b.grad(), {1, 2});
}

TEST_CASE("where with a and b of different dtypes is an error") {
  CHECK_THROWS_WITH_AS(
      where(bools({1, 0}, {2}), zeros({2}), zeros({2}, {.dtype = kFloat64})),
      doctest::Contains("where: dtypes differ (float32 and float64) for shapes [2] and [2]"),
      tapegrad::Error);
}

TEST_CASE("where with a condition that is not bool is an error") {
  CHECK_THROWS_WITH_AS(where(zeros({2}), zeros({2}), zeros({2})),
                       doctest::Contains("where: the mask must be bool, got float32"),
                       tapegrad::Error);
}

// ---- softmax, log_softmax ----

TEST_CASE("gradcheck softmax") {
  for (int64_t dim : {0, 1, 2, -1}) {
    INFO("dim ", dim);
    CHECK(gradcheck([dim](Inputs in) { return softmax(in[0], dim); }, {testing::input({2, 3, 4})}));
  }
  for (int64_t dim : {0, 1}) {
    INFO("transposed input, dim ", dim);
    CHECK(gradcheck([dim](Inputs in) { return softmax(in[0], dim); },
                    {testing::transposed_input({3, 5})}));
  }
  CHECK(gradcheck([](Inputs in) { return softmax(in[0], 0); }, {testing::input({1})}));
}

TEST_CASE("gradcheck log_softmax") {
  for (int64_t dim : {0, 1, 2, -1}) {
    INFO("dim ", dim);
    CHECK(gradcheck([dim](Inputs in) { return log_softmax(in[0], dim); },
                    {testing::input({2, 3, 4})}));
  }
  for (int64_t dim : {0, 1}) {
    INFO("transposed input, dim ", dim);
    CHECK(gradcheck([dim](Inputs in) { return log_softmax(in[0], dim); },
                    {testing::transposed_input({3, 5})}));
  }
}

TEST_CASE("softmax and log_softmax values") {
  // torch.softmax(torch.tensor([0.5, 1.0, 0.2]), 0) = [0.2950, 0.4864, 0.2186]
  testing::check_values(softmax(tensor({0.5, 1.0, 0.2}), 0), {0.2950, 0.4864, 0.2186});
  testing::check_values(log_softmax(tensor({0.5, 1.0, 0.2}), 0),
                        {std::log(0.2950253), std::log(0.4864145), std::log(0.2185601)});
  // along dim 0 of a [2, 2]: each column sums to 1
  testing::check_values(softmax(tensor({{0, 1}, {0, 3}}), 0), {0.5, 0.1192, 0.5, 0.8808});
  // large logits: the max is subtracted first
  testing::check_values(softmax(tensor({1000, 1000}), 0), {0.5, 0.5});
  testing::check_values(log_softmax(tensor({1000, 0}), 0), {0, -1000});
}

TEST_CASE("attention seed: softmax(Q Kᵀ / sqrt(d_k)) V") {
  const Tensor q = tensor({{1, 0}});
  const Tensor k = tensor({{1, 0}, {-10, 1}});
  const Tensor v = tensor({{10, 20}, {30, 40}});
  const Tensor weights = softmax(matmul(q, k.transpose(0, 1)) / std::sqrt(2.0), -1);
  testing::check_values(weights, {0.99958, 0.00042}, 1e-5);
  testing::check_values(matmul(weights, v), {10.008, 20.008}, 1e-3);
}

TEST_CASE("a fully masked softmax row gives zeros and a zero gradient, never NaN") {
  const Tensor scores = testing::input({2, 3});
  const Tensor mask = bools({0, 0, 0, 1, 1, 0}, {2, 3});  // row 0: every key masked
  const Tensor y = softmax(masked_fill(scores, !mask, -kInf), -1);
  const std::vector<double> values = y.to_vector();
  CHECK(values[0] == 0.0);
  CHECK(values[1] == 0.0);
  CHECK(values[2] == 0.0);
  CHECK(values[3] + values[4] == doctest::Approx(1.0));
  CHECK(values[5] == 0.0);
  (y * testing::input({2, 3}, 7).detach()).sum().backward();
  const std::vector<double> grad = scores.grad().to_vector();
  CHECK(all_finite(scores.grad()));
  CHECK(grad[0] == 0.0);
  CHECK(grad[1] == 0.0);
  CHECK(grad[2] == 0.0);
  CHECK(grad[3] != 0.0);
  CHECK(grad[5] == 0.0);
}

TEST_CASE("a fully masked log_softmax row gives -inf and a zero gradient, never NaN") {
  const Tensor x = tensor({{-kInf, -kInf}, {0, 0}}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor y = log_softmax(x, 1);
  CHECK(y.at({0, 0}) == -kInf);
  CHECK(y.at({1, 0}) == doctest::Approx(std::log(0.5)));
  log_softmax(x, 1).backward(tensor({{1, 2}, {1, 2}}, {.dtype = kFloat64}));
  testing::check_values(x.grad(), {0, 0, -0.5, 0.5});
}

TEST_CASE("softmax over a dim out of range is an error") {
  CHECK_THROWS_WITH_AS(softmax(zeros({2, 3}), 2),
                       doctest::Contains("softmax: dim 2 is out of range for a tensor of 2 dims"),
                       tapegrad::Error);
}

TEST_CASE("log_softmax of an int64 tensor is an error") {
  CHECK_THROWS_WITH_AS(
      log_softmax(ids({1, 2}, {2}), 0),
      doctest::Contains("log_softmax: expected a floating tensor (float32 or float64), got int64"),
      tapegrad::Error);
}

// ---- dropout ----

TEST_CASE("gradcheck dropout") {
  const auto fn = [](Inputs in) {
    Generator generator(7);  // the same mask at every evaluation
    return dropout(in[0], 0.4, /*training=*/true, generator);
  };
  CHECK(gradcheck(fn, {testing::input({4, 5})}));
  CHECK(gradcheck(fn, {testing::transposed_input({3, 4})}));
}

TEST_CASE("dropout keeps about 1-p of the values, scaled by 1/(1-p)") {
  Generator generator(3);
  const Tensor y = dropout(ones({20000}), 0.3, true, generator);
  int64_t kept = 0;
  for (double v : y.to_vector()) {
    if (v == 0.0) continue;
    ++kept;
    CHECK(v == doctest::Approx(1 / 0.7));
  }
  CHECK(static_cast<double>(kept) / 20000 == doctest::Approx(0.7).epsilon(0.02));
}

TEST_CASE("dropout with a seeded generator is reproducible") {
  Generator first(11), second(11);
  const Tensor x = testing::input({50});
  testing::check_values(dropout(x, 0.5, true, first), dropout(x, 0.5, true, second).to_vector(), 0);
}

TEST_CASE("dropout is the identity when not training or when p is 0, and zeros when p is 1") {
  const Tensor x = testing::input({2, 3});
  CHECK(dropout(x, 0.5, /*training=*/false).impl() == x.impl());
  CHECK(dropout(x, 0.0, /*training=*/true).impl() == x.impl());
  const Tensor y = dropout(x, 1.0, true);
  testing::check_values(y, {0, 0, 0, 0, 0, 0}, 0);
  y.sum().backward();
  testing::check_values(x.grad(), {0, 0, 0, 0, 0, 0}, 0);
}

TEST_CASE("dropout with p outside [0, 1] is an error") {
  CHECK_THROWS_WITH_AS(
      dropout(zeros({2}), 1.5, true),
      doctest::Contains("dropout: probability p = 1.5 is outside [0, 1] (input shape [2])"),
      tapegrad::Error);
  CHECK_THROWS_WITH_AS(dropout(zeros({2}), -0.1, false),
                       doctest::Contains("dropout: probability p = -0.1"), tapegrad::Error);
}

// ---- layer_norm ----

TEST_CASE("gradcheck layer_norm") {
  const auto affine = [](Inputs in) { return layer_norm(in[0], {4}, in[1], in[2]); };
  CHECK(gradcheck(affine,
                  {testing::input({3, 4}, 1), testing::input({4}, 2), testing::input({4}, 3)}));
  CHECK(gradcheck(affine, {testing::transposed_input({3, 4}, 4), testing::input({4}, 5),
                           testing::input({4}, 6)}));
  CHECK(gradcheck(
      [](Inputs in) {
        return layer_norm(in[0], {2, 3}, in[1], in[2]);
      },
      {testing::input({2, 2, 3}, 7), testing::input({2, 3}, 8), testing::input({2, 3}, 9)}));
  CHECK(gradcheck([](Inputs in) { return layer_norm(in[0], {5}); }, {testing::input({2, 5}, 10)}));
  CHECK(gradcheck([](Inputs in) { return layer_norm(in[0], {5}, in[1]); },
                  {testing::input({2, 5}, 11), testing::input({5}, 12)}));
  CHECK(gradcheck([](Inputs in) { return layer_norm(in[0], {5}, {}, in[1]); },
                  {testing::input({2, 5}, 13), testing::input({5}, 14)}));
}

TEST_CASE("layer_norm rows have mean 0 and variance 1, then weight and bias apply") {
  const Tensor x = tensor({{1, 2, 3, 4}, {-3, 0, 9, 10}}, {.dtype = kFloat64});
  const Tensor y = layer_norm(x, {4}, {}, {}, 0.0);
  const std::vector<double> v = y.to_vector();
  for (int row = 0; row < 2; ++row) {
    double mean = 0, var = 0;
    for (int i = 0; i < 4; ++i) mean += v[row * 4 + i] / 4;
    for (int i = 0; i < 4; ++i) var += (v[row * 4 + i] - mean) * (v[row * 4 + i] - mean) / 4;
    CHECK(mean == doctest::Approx(0).epsilon(1e-12));
    CHECK(var == doctest::Approx(1));
  }
  // [1, 2, 3, 4]: mean 2.5, biased variance 1.25
  const double r = 1 / std::sqrt(1.25 + 1e-5);
  testing::check_values(
      layer_norm(tensor({{1, 2, 3, 4}}), {4}, tensor({1, 2, 1, 1}), tensor({0, 0, 0, 10})),
      {-1.5 * r, -1.0 * r, 0.5 * r, 10 + 1.5 * r});
  // normalized_shape may be the whole input shape
  testing::check_values(layer_norm(tensor({1, 2, 3, 4}), {4}),
                        {-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r});
}

TEST_CASE("layer_norm of a constant row gives the bias and a finite gradient") {
  const Tensor x = full({2, 3}, 4.0, {.dtype = kFloat64, .requires_grad = true});
  const Tensor weight = tensor({1, 2, 3}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor bias = tensor({0.5, -1, 2}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor y = layer_norm(x, {3}, weight, bias);
  testing::check_values(y, {0.5, -1, 2, 0.5, -1, 2}, 1e-12);
  (y * tensor({{1, 2, 3}, {4, 5, 6}}, {.dtype = kFloat64})).sum().backward();
  CHECK(all_finite(x.grad()));
  // dx = rstd·(g·w - mean(g·w)) with rstd = 1/sqrt(eps): row 0 has g·w = [1, 4, 9], mean 14/3
  const double rstd = 1 / std::sqrt(1e-5);
  CHECK(x.grad().at({0, 0}) == doctest::Approx(rstd * (1 - 14.0 / 3)));
  testing::check_values(weight.grad(), {0, 0, 0}, 1e-12);
  testing::check_values(bias.grad(), {5, 7, 9});
}

TEST_CASE("layer_norm with a normalized_shape that does not end the input shape is an error") {
  CHECK_THROWS_WITH_AS(
      layer_norm(zeros({2, 3}), {2}),
      doctest::Contains(
          "layer_norm: normalized_shape [2] is not a non-empty suffix of the input shape [2, 3]"),
      tapegrad::Error);
  CHECK_THROWS_WITH_AS(layer_norm(zeros({2, 3}), {}),
                       doctest::Contains("normalized_shape [] is not a non-empty suffix"),
                       tapegrad::Error);
  CHECK_THROWS_WITH_AS(layer_norm(zeros({3}), {2, 3}),
                       doctest::Contains("normalized_shape [2, 3] is not a non-empty suffix"),
                       tapegrad::Error);
}

TEST_CASE("layer_norm with a weight of the wrong shape is an error") {
  CHECK_THROWS_WITH_AS(
      layer_norm(zeros({2, 3}), {3}, zeros({2})),
      doctest::Contains(
          "layer_norm: weight and bias must have shape [3] and dtype float32, got shape [2]"),
      tapegrad::Error);
}

// ---- embedding ----

TEST_CASE("gradcheck embedding") {
  const Tensor indices = ids({0, 2, 2, 4, 1, 0}, {2, 3});
  CHECK(gradcheck([&](Inputs in) { return embedding(in[0], indices); }, {testing::input({5, 3})}));
  // (padding_idx is left out: its row's zero gradient is by definition, not the derivative)
  CHECK(gradcheck([&](Inputs in) { return embedding(in[0], indices); },
                  {testing::transposed_input({5, 3})}));
}

TEST_CASE("embedding picks rows and repeated indices accumulate their gradients") {
  const Tensor weight =
      tensor({{1, 2}, {3, 4}, {5, 6}, {7, 8}}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor y = embedding(weight, ids({0, 2, 0, 0}, {2, 2}));
  CHECK(y.shape() == Shape{2, 2, 2});
  testing::check_values(y, {1, 2, 5, 6, 1, 2, 1, 2});
  (y * tensor({{{1, 1}, {1, 1}}, {{2, 2}, {3, 3}}}, {.dtype = kFloat64})).sum().backward();
  testing::check_values(weight.grad(), {6, 6, 0, 0, 1, 1, 0, 0});
}

TEST_CASE("embedding gives the padding_idx row no gradient") {
  const Tensor weight = testing::input({3, 2});
  const Tensor y = embedding(weight, ids({0, 1, 1, 2}, {4}), {.padding_idx = -2});  // row 1
  CHECK(y.at({1, 0}) == weight.at({1, 0}));
  y.sum().backward();
  testing::check_values(weight.grad(), {1, 1, 0, 0, 1, 1}, 0);
  const Tensor table = testing::input({3, 2});
  embedding(table, ids({0, 2}, {2}), {.padding_idx = 0}).sum().backward();  // the usual choice
  testing::check_values(table.grad(), {0, 0, 0, 0, 1, 1}, 0);
}

TEST_CASE(
    "embedding with an index out of range is an error naming it, its position and the table") {
  CHECK_THROWS_WITH_AS(embedding(zeros({4, 2}), ids({0, 1, 7, 2}, {2, 2})),
                       doctest::Contains("embedding: index 7 at position [1, 0] of indices [2, 2] "
                                         "is out of range for a table of 4 rows"),
                       tapegrad::Error);
  CHECK_THROWS_WITH_AS(embedding(zeros({4, 2}), ids({-1}, {1})),
                       doctest::Contains("embedding: index -1 at position [0]"), tapegrad::Error);
  CHECK_THROWS_WITH_AS(embedding(zeros({4, 2}), ids({3, 4}, {2})),
                       doctest::Contains("embedding: index 4 at position [1]"), tapegrad::Error);
}

TEST_CASE("embedding with indices that are not int64 is an error") {
  CHECK_THROWS_WITH_AS(
      embedding(zeros({4, 2}), zeros({3})),
      doctest::Contains("embedding: indices must be int64, got float32 of shape [3]"),
      tapegrad::Error);
}

TEST_CASE("embedding with a weight that is not 2-D is an error") {
  CHECK_THROWS_WITH_AS(embedding(zeros({4}), ids({0}, {1})),
                       doctest::Contains("embedding: weight must be 2-D [num, dim], got shape [4]"),
                       tapegrad::Error);
}

TEST_CASE("embedding with padding_idx out of range is an error, and -rows is the first row") {
  CHECK_THROWS_WITH_AS(
      embedding(zeros({4, 2}), ids({0}, {1}), {.padding_idx = 4}),
      doctest::Contains("embedding: padding_idx 4 is out of range for a table of 4 rows"),
      tapegrad::Error);
  CHECK_THROWS_WITH_AS(
      embedding(zeros({4, 2}), ids({0}, {1}), {.padding_idx = -5}),
      doctest::Contains("embedding: padding_idx -5 is out of range for a table of 4 rows"),
      tapegrad::Error);
  const Tensor weight = testing::input({4, 2});
  embedding(weight, ids({0, 1}, {2}), {.padding_idx = -4}).sum().backward();
  testing::check_values(weight.grad(), {0, 0, 1, 1, 0, 0, 0, 0}, 0);
}
