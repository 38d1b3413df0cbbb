// Binary arithmetic with broadcasting, copies, and matmul: gradient checks, values, errors.
#include <doctest/doctest.h>

#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

using Inputs = const std::vector<Tensor>&;

// Gradient checks of `op` on pairs of shapes that broadcast, and on non-contiguous inputs.
template <class Op>
void check_binary(Op op) {
  const auto fn = [op](Inputs in) { return op(in[0], in[1]); };
  CHECK(
      gradcheck(fn, {testing::input_in({2, 3}, 0.5, 2, 1), testing::input_in({2, 3}, 0.5, 2, 2)}));
  CHECK(gradcheck(fn,
                  {testing::input_in({2, 1, 3}, 0.5, 2, 3), testing::input_in({4, 1}, 0.5, 2, 4)}));
  CHECK(gradcheck(fn, {testing::input_in({3}, 0.5, 2, 5), testing::input_in({2, 3}, 0.5, 2, 6)}));
  CHECK(gradcheck(fn, {testing::input_in({}, 0.5, 2, 7), testing::input_in({2, 2}, 0.5, 2, 8)}));
  CHECK(gradcheck(fn, {testing::transposed_input({3, 4}, 9), testing::strided_input({3, 4}, 10)}));
}

}  // namespace

TEST_CASE("gradcheck add") {
  check_binary([](const Tensor& a, const Tensor& b) { return a + b; });
}
TEST_CASE("gradcheck sub") {
  check_binary([](const Tensor& a, const Tensor& b) { return a - b; });
}
TEST_CASE("gradcheck mul") {
  check_binary([](const Tensor& a, const Tensor& b) { return a * b; });
}
TEST_CASE("gradcheck div") {
  check_binary([](const Tensor& a, const Tensor& b) { return a / (b * b + 0.5); });
}

TEST_CASE("gradcheck neg") {
  CHECK(gradcheck([](Inputs in) { return -in[0]; }, {testing::transposed_input({2, 3})}));
}

TEST_CASE("gradcheck add_scalar") {
  CHECK(gradcheck([](Inputs in) { return 2.0 - in[0] + 1.5; }, {testing::input({2, 3})}));
}

TEST_CASE("gradcheck mul_scalar") {
  CHECK(gradcheck([](Inputs in) { return 3.0 * in[0] / 4.0; }, {testing::strided_input({2, 3})}));
}

TEST_CASE("gradcheck clone") {
  CHECK(gradcheck([](Inputs in) { return in[0].clone() * in[0]; },
                  {testing::transposed_input({2, 3})}));
}

TEST_CASE("gradcheck contiguous") {
  CHECK(gradcheck([](Inputs in) { return in[0].transpose(0, 1).contiguous(); },
                  {testing::input({2, 3})}));
}

TEST_CASE("contiguous_values: a contiguous tensor itself, else a copy off the tape") {
  Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  x.requires_grad_();
  CHECK(contiguous_values(x).impl() == x.impl());
  const Tensor values = contiguous_values(x.transpose(0, 1));
  CHECK(values.is_contiguous());
  CHECK(values.is_leaf());
  CHECK_FALSE(values.requires_grad());
  CHECK(values.to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("gradcheck to") {
  CHECK(gradcheck([](Inputs in) { return (in[0].to(kFloat32) * 2.0).to(kFloat64); },
                  {testing::input({3})}, {.eps = 1e-3, .atol = 1e-4}));
}

TEST_CASE("elementwise values broadcast by NumPy's rules") {
  const Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  testing::check_values(a + tensor({10, 20, 30}), {11, 22, 33, 14, 25, 36});
  testing::check_values(a * tensor({{2}, {3}}), {2, 4, 6, 12, 15, 18});
  testing::check_values(a - 1.0, {0, 1, 2, 3, 4, 5});
  testing::check_values(a / tensor({2}), {0.5, 1, 1.5, 2, 2.5, 3});
  testing::check_values(1.0 - a, {0, -1, -2, -3, -4, -5});
  const Tensor wide = arange(17 * 33).reshape({17, 33});  // rows longer than a SIMD batch, odd
  const std::vector<double> doubled = (wide + wide.transpose(0, 1).transpose(0, 1)).to_vector();
  for (int i = 0; i < 17 * 33; ++i) CHECK(doubled[i] == 2 * i);
}

TEST_CASE("elementwise errors name the op and the shapes") {
  CHECK_THROWS_WITH_AS(ones({2, 3}) + ones({4}),
                       doctest::Contains("add: shapes [2, 3] and [4] cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(ones({2}) * ones({2}, {.dtype = kFloat64}),
                       doctest::Contains("mul: dtypes differ (float32 and float64)"), Error);
  CHECK_THROWS_WITH_AS(ones({2}, {.dtype = kInt64}) - ones({2}, {.dtype = kInt64}),
                       doctest::Contains("sub: expected a floating tensor"), Error);
}

TEST_CASE("gradcheck matmul") {
  const auto fn = [](Inputs in) { return matmul(in[0], in[1]); };
  CHECK(gradcheck(fn, {testing::input({3, 4}, 1), testing::input({4, 2}, 2)}));
  CHECK(
      gradcheck(fn, {testing::transposed_input({3, 4}, 3), testing::transposed_input({4, 5}, 4)}));
  CHECK(gradcheck(fn, {testing::input({2, 3, 4}, 5), testing::input({4, 2}, 6)}));
  CHECK(gradcheck(fn, {testing::input({2, 1, 3, 4}, 7), testing::input({3, 4, 2}, 8)}));
  CHECK(gradcheck(fn, {testing::input({4}, 9), testing::input({4, 3}, 10)}));
  CHECK(gradcheck(fn, {testing::input({2, 3, 4}, 11), testing::input({4}, 12)}));
  CHECK(gradcheck(fn, {testing::input({4}, 13), testing::input({4}, 14)}));
  CHECK(gradcheck(fn, {testing::strided_input({3, 4}, 15), testing::input({4, 2}, 16)}));
}

TEST_CASE("matmul values and shapes") {
  const Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  const Tensor b = tensor({{7, 8}, {9, 10}, {11, 12}});
  testing::check_values(matmul(a, b), {58, 64, 139, 154});
  testing::check_values(matmul(b.transpose(0, 1), a.transpose(0, 1)), {58, 139, 64, 154});
  testing::check_values(matmul(tensor({1, 1}), a), {5, 7, 9});
  CHECK(matmul(tensor({1, 1, 1}), tensor({1, 2, 3})).dim() == 0);
  CHECK(matmul(ones({5, 1, 2, 3}), ones({4, 3, 6})).shape() == Shape{5, 4, 2, 6});
  // empty operands, as torch: a sum over K = 0 terms is 0
  const Tensor over_nothing = matmul(ones({2, 3, 0}), ones({0, 4}));
  CHECK(over_nothing.shape() == Shape{2, 3, 4});
  testing::check_values(over_nothing, std::vector<double>(24, 0.0), 0);
  CHECK(matmul(ones({0, 3, 2}), ones({2, 4})).shape() == Shape{0, 3, 4});
  const Tensor q = randn({2, 3, 5, 4}), k = randn({2, 3, 5, 4});
  const Tensor scores = matmul(q, k.transpose(-1, -2));
  CHECK(scores.shape() == Shape{2, 3, 5, 5});
  CHECK(scores.at({1, 2, 3, 4}) ==
        doctest::Approx(matmul(q.contiguous(), k.transpose(-1, -2).contiguous()).at({1, 2, 3, 4})));
}

// Gradient checks of op(x, weight, bias), bias maybe undefined: 2-D, batched and 1-D inputs,
// transposed ones without a bias, strided ones.
template <class Op>
void check_linear_gradients(const Op& op) {
  const auto with_bias = [&](Inputs in) { return op(in[0], in[1], in[2]); };
  const auto without_bias = [&](Inputs in) { return op(in[0], in[1], Tensor()); };
  CHECK(gradcheck(with_bias,
                  {testing::input({3, 4}, 1), testing::input({2, 4}, 2), testing::input({2}, 3)}));
  CHECK(gradcheck(with_bias, {testing::input({2, 3, 4}, 4), testing::input({5, 4}, 5),
                              testing::input({5}, 6)}));
  CHECK(gradcheck(with_bias,
                  {testing::input({4}, 7), testing::input({3, 4}, 8), testing::input({3}, 9)}));
  CHECK(gradcheck(without_bias,
                  {testing::transposed_input({3, 4}, 10), testing::transposed_input({2, 4}, 11)}));
  CHECK(gradcheck(with_bias, {testing::strided_input({3, 4}, 12),
                              testing::strided_input({2, 4}, 13), testing::input({2}, 14)}));
}

TEST_CASE("gradcheck linear") {
  check_linear_gradients([](const Tensor& x, const Tensor& weight, const Tensor& bias) {
    return linear(x, weight, bias);
  });
}

TEST_CASE("linear values: x Wᵀ + b, the same as matmul and add") {
  const Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  const Tensor w = tensor({{1, 0, -1}, {2, 1, 0}});
  testing::check_values(linear(x, w, tensor({10, 20})), {8, 24, 8, 33});
  testing::check_values(linear(x, w), {-2, 4, -2, 13});
  const Tensor x3 = randn({2, 5, 7}), w3 = randn({3, 7}), b3 = randn({3});
  CHECK(allclose(linear(x3, w3, b3), matmul(x3, w3.transpose(0, 1)) + b3, 1e-5, 1e-6));
  CHECK(linear(ones({0, 3}), w).shape() == Shape{0, 2});
}

TEST_CASE("linear with in_features 0: the bias alone, or zeros, and gradients of the same shapes") {
  // An empty sum is 0: y = b for each of the 3 rows; ∂L/∂b sums g over them.
  const Tensor x = ones({3, 0}, {.requires_grad = true}), w = ones({2, 0}, {.requires_grad = true});
  const Tensor b = tensor({1.5, -2.0}, {.requires_grad = true});
  const Tensor y = linear(x, w, b);
  testing::check_values(y, {1.5, -2, 1.5, -2, 1.5, -2});
  testing::check_values(linear(x, w), {0, 0, 0, 0, 0, 0});
  sum(y).backward();
  CHECK(x.grad().shape() == Shape{3, 0});
  CHECK(w.grad().shape() == Shape{2, 0});
  testing::check_values(b.grad(), {3, 3});
}

TEST_CASE("gradcheck linear with a residual") {
  const auto with_residual = [](Inputs in) { return linear(in[0], in[1], in[2], in[3]); };
  CHECK(gradcheck(with_residual, {testing::input({3, 4}, 1), testing::input({2, 4}, 2),
                                  testing::input({2}, 3), testing::input({3, 2}, 4)}));
  CHECK(gradcheck(with_residual, {testing::input({2, 3, 4}, 5), testing::input({5, 4}, 6),
                                  testing::input({5}, 7), testing::strided_input({2, 3, 5}, 8)}));
  CHECK(gradcheck([](Inputs in) { return linear(in[0], in[1], Tensor(), in[2]); },
                  {testing::input({4}, 9), testing::input({3, 4}, 10), testing::input({3}, 11)}));
}

TEST_CASE("linear with a residual: residual + x Wᵀ + b, the same as adding it afterwards") {
  const Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  const Tensor w = tensor({{1, 0, -1}, {2, 1, 0}});
  testing::check_values(linear(x, w, tensor({10, 20}), tensor({{1, 2}, {3, 4}})), {9, 26, 11, 37});
  testing::check_values(linear(x, w, Tensor(), tensor({{1, 2}, {3, 4}})), {-1, 6, 1, 17});
  // Several K slices and column blocks, and a residual that is a transposed view.
  const Tensor x3 = randn({2, 40, 1100}), w3 = randn({1100, 1100}), b3 = randn({1100});
  const Tensor r3 = randn({1100, 40, 2}).permute({2, 1, 0});
  CHECK(allclose(linear(x3, w3, b3, r3), linear(x3, w3, b3) + r3, 1e-4, 1e-4));
}

TEST_CASE("linear errors name the shapes") {
  CHECK_THROWS_WITH_AS(
      linear(ones({2, 3}), ones({4, 5})),
      doctest::Contains("linear: input of shape [2, 3] does not end in in_features 5"), Error);
  CHECK_THROWS_WITH_AS(linear(ones({2, 3}), ones({4, 3}), ones({3})),
                       doctest::Contains("linear: bias of shape [3] does not match out_features 4"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(ones({2, 3}), ones({3})), doctest::Contains("linear: weight must be"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(ones({2, 3}), ones({4, 3}, {.dtype = kFloat64})),
                       doctest::Contains("one floating dtype, got float32, float64"), Error);
  CHECK_THROWS_WITH_AS(
      linear(ones({2, 3}), ones({4, 3}), Tensor(), ones({4, 2})),
      doctest::Contains("linear: residual of shape [4, 2] and dtype float32 is not the output's, "
                        "[2, 4] float32 (input shape [2, 3])"),
      Error);
  CHECK_THROWS_WITH_AS(
      linear(ones({2, 3}), ones({4, 3}), Tensor(), ones({2, 4}, {.dtype = kFloat64})),
      doctest::Contains("residual of shape [2, 4] and dtype float64"), Error);
}

TEST_CASE("gradcheck linear_relu") {
  // With these seeds no pre-activation lies within eps of 0, where relu has no derivative.
  check_linear_gradients([](const Tensor& x, const Tensor& weight, const Tensor& bias) {
    return linear_relu(x, weight, bias);
  });
}

TEST_CASE("linear_relu values: relu(x Wᵀ + b), negatives clamped, the gradient 0 there") {
  const Tensor x = tensor({{1, 2, 3}, {4, 5, 6}}, {.requires_grad = true});
  const Tensor w = tensor({{1, 0, -1}, {2, 1, 0}}, {.requires_grad = true});
  const Tensor b = tensor({1, -10}, {.requires_grad = true});
  const Tensor y = linear_relu(x, w, b);  // pre-activations {-1, -6, -1, 3}
  testing::check_values(y, {0, 0, 0, 3});
  sum(y).backward();
  testing::check_values(b.grad(), {0, 1});              // only the last element passes
  testing::check_values(w.grad(), {0, 0, 0, 4, 5, 6});  // its row of x, in W's second row
  testing::check_values(x.grad(), {0, 0, 0, 2, 1, 0});
  const Tensor x3 = randn({2, 5, 7}), w3 = randn({3, 7}), b3 = randn({3});
  CHECK(equal(linear_relu(x3, w3, b3), relu(linear(x3, w3, b3))));
}

TEST_CASE("linear_relu errors name the op") {
  CHECK_THROWS_WITH_AS(
      linear_relu(ones({2, 3}), ones({4, 5})),
      doctest::Contains("linear_relu: input of shape [2, 3] does not end in in_features 5"), Error);
}

TEST_CASE("matmul errors name the shapes") {
  CHECK_THROWS_WITH_AS(matmul(ones({2, 3}), ones({4, 5})),
                       doctest::Contains("matmul: shapes [2, 3] and [4, 5] do not match (3 != 4)"),
                       Error);
  CHECK_THROWS_WITH_AS(matmul(ones({2, 2, 3}), ones({3, 3, 1})),
                       doctest::Contains("cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(matmul(scalar_tensor(1), ones({2})), doctest::Contains("at least 1 dim"),
                       Error);
}
