// Unary ops: a gradient check per op (float64; contiguous, transposed and strided inputs), forward
// values against hand-computed numbers, and the error paths.
//
// Quick start: adding an op to the library takes one file and one test (an op outside the
// library: README.md's "Add an op in four steps" and examples/custom_op.cpp).
//   1. Kernel: a functor in autograd/kernels/functors.hpp for the forward (`Softplus`) and one for
//      the backward (`SoftplusGrad`: g and the saved input or output in, g·dy/dx out).
//   2. Op: declare it in autograd/ops/unary.hpp, define it in unary.cpp with map_unary for the
//      forward and record(...) whose backward calls map_grad (autograd/ops/map_unary.hpp):
//        Tensor softplus(const Tensor& x) {
//          const Tensor y = map_unary("softplus", x, kernels::Softplus{});
//          // y = ln(1 + eˣ): dy/dx = eˣ/(1 + eˣ) = σ(x), so ∂L/∂x = g·σ(x)
//          return record("softplus", y, {x}, [x = saved_input(x)](const Tensor& g) -> Grads {
//            return {map_grad("softplus", g, x, kernels::SoftplusGrad{})};
//          });
//        }
//   3. Test: one TEST_CASE("gradcheck softplus") below: CHECK(gradcheck_unary(op, input)) on a
//      contiguous, a transposed and a strided input, and a value check against known numbers.
//   4. Done: CTest picks it up (ctest -R '^gradcheck softplus').
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <tapegrad/custom_op.hpp>

#include "autograd/kernels/functors.hpp"

#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

// A float64 leaf of [rows, cols] whose values keep at least 0.1 away from 0 and ±1 (the kinks of
// abs, relu and clamp(x, -1, 1)), with both signs.
Tensor kink_free(int64_t rows, int64_t cols) {
  const std::vector<double> pattern = {-1.7, 0.35, -0.6, 1.2, -0.3, 0.7, -1.1, 1.9, 0.5, -0.85};
  std::vector<double> values(static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = pattern[i % pattern.size()];
  return from_vector(values, {rows, cols}, {.dtype = kFloat64, .requires_grad = true});
}

// A leaf holding the values of the 2-dim x, stored transposed in memory (not contiguous).
Tensor stored_transposed(const Tensor& x) {
  return x.transpose(0, 1).contiguous().transpose(0, 1).detach().requires_grad_();
}

// Runs op over every float32 value in `values` (19 of them: SIMD batches and a tail) and compares
// with the scalar reference.
template <class Op, class Reference>
void check_float32(Op op, Reference reference, const std::vector<double>& values) {
  const Tensor y = op(from_vector(values, {static_cast<int64_t>(values.size())}));
  std::vector<double> expected;
  for (double v : values) expected.push_back(reference(v));
  testing::check_values(y, expected, 1e-5, 1e-5);
}

std::vector<double> spread(double low, double high) {
  std::vector<double> values;
  for (int i = 0; i < 19; ++i) values.push_back(low + (high - low) * i / 18.0);
  return values;
}

}  // namespace

TEST_CASE("gradcheck exp") {
  CHECK(gradcheck_unary([](const Tensor& x) { return exp(x); }, testing::input({3, 4})));
  CHECK(gradcheck_unary([](const Tensor& x) { return exp(x); }, testing::transposed_input({3, 4})));
  CHECK(gradcheck_unary([](const Tensor& x) { return exp(x); }, testing::strided_input({2, 5})));
  testing::check_values(exp(tensor({0.0, 1.0, -1.0}, {.dtype = kFloat64})),
                        {1.0, 2.718282, 0.367879});
  check_float32([](const Tensor& x) { return exp(x); }, [](double v) { return std::exp(v); },
                spread(-5, 5));
}

TEST_CASE("gradcheck log") {
  CHECK(
      gradcheck_unary([](const Tensor& x) { return log(x); }, testing::input_in({3, 4}, 0.2, 3.0)));
  CHECK(gradcheck_unary([](const Tensor& x) { return log(x); },
                        stored_transposed(testing::input_in({3, 4}, 0.2, 3.0))));
  testing::check_values(log(tensor({1.0, std::exp(2.0), 0.5}, {.dtype = kFloat64})),
                        {0.0, 2.0, -0.693147});
  check_float32([](const Tensor& x) { return log(x); }, [](double v) { return std::log(v); },
                spread(0.01, 50));
}

TEST_CASE("gradcheck sqrt") {
  CHECK(gradcheck_unary([](const Tensor& x) { return sqrt(x); },
                        testing::input_in({3, 4}, 0.2, 3.0)));
  CHECK(gradcheck_unary([](const Tensor& x) { return sqrt(x); },
                        stored_transposed(testing::input_in({3, 4}, 0.2, 3.0))));
  testing::check_values(sqrt(tensor({4.0, 2.0, 0.0}, {.dtype = kFloat64})), {2.0, 1.414214, 0.0});
  check_float32([](const Tensor& x) { return sqrt(x); }, [](double v) { return std::sqrt(v); },
                spread(0, 9));
}

TEST_CASE("gradcheck abs") {
  CHECK(gradcheck_unary([](const Tensor& x) { return abs(x); }, kink_free(3, 4)));
  CHECK(
      gradcheck_unary([](const Tensor& x) { return abs(x); }, stored_transposed(kink_free(3, 4))));
  testing::check_values(abs(tensor({-3.0, 0.0, 2.5}, {.dtype = kFloat64})), {3.0, 0.0, 2.5});
  check_float32([](const Tensor& x) { return abs(x); }, [](double v) { return std::abs(v); },
                spread(-2, 2));
}

TEST_CASE("gradcheck tanh") {
  CHECK(gradcheck_unary([](const Tensor& x) { return tanh(x); }, testing::input({3, 4})));
  CHECK(
      gradcheck_unary([](const Tensor& x) { return tanh(x); }, testing::transposed_input({3, 4})));
  CHECK(gradcheck_unary([](const Tensor& x) { return tanh(x); }, testing::strided_input({2, 5})));
  testing::check_values(tanh(tensor({0.0, 1.0, -2.0}, {.dtype = kFloat64})),
                        {0.0, 0.761594, -0.964028});
  check_float32([](const Tensor& x) { return tanh(x); }, [](double v) { return std::tanh(v); },
                spread(-4, 4));
}

TEST_CASE("gradcheck sigmoid") {
  CHECK(gradcheck_unary([](const Tensor& x) { return sigmoid(x); }, testing::input({3, 4})));
  CHECK(gradcheck_unary([](const Tensor& x) { return sigmoid(x); },
                        testing::transposed_input({3, 4})));
  testing::check_values(sigmoid(tensor({0.0, 2.0, -2.0}, {.dtype = kFloat64})),
                        {0.5, 0.880797, 0.119203});
  check_float32([](const Tensor& x) { return sigmoid(x); },
                [](double v) { return 1 / (1 + std::exp(-v)); }, spread(-8, 8));
}

TEST_CASE("gradcheck relu") {
  CHECK(gradcheck_unary([](const Tensor& x) { return relu(x); }, kink_free(3, 4)));
  CHECK(
      gradcheck_unary([](const Tensor& x) { return relu(x); }, stored_transposed(kink_free(3, 4))));
  testing::check_values(relu(tensor({-1.0, 0.0, 2.0}, {.dtype = kFloat64})), {0.0, 0.0, 2.0});
  check_float32([](const Tensor& x) { return relu(x); }, [](double v) { return std::max(v, 0.0); },
                spread(-2, 2));
}

TEST_CASE("relu_backward passes g where x > 0, from relu's input or its output alike") {
  const Tensor x = tensor({-1.0, 0.0, 2.0, 0.5}, {.dtype = kFloat64});
  const Tensor g = tensor({10.0, 20.0, 30.0, 40.0}, {.dtype = kFloat64});
  testing::check_values(relu_backward(g, x), {0.0, 0.0, 30.0, 40.0});
  testing::check_values(relu_backward(g, relu(x)), {0.0, 0.0, 30.0, 40.0});
}

TEST_CASE("gradcheck gelu") {
  CHECK(gradcheck_unary([](const Tensor& x) { return gelu(x); }, testing::input({3, 4})));
  CHECK(
      gradcheck_unary([](const Tensor& x) { return gelu(x); }, testing::transposed_input({3, 4})));
  CHECK(gradcheck_unary([](const Tensor& x) { return gelu(x); }, testing::strided_input({2, 5})));
  testing::check_values(gelu(tensor({1.0, -1.0, 0.0}, {.dtype = kFloat64})),
                        {0.841345, -0.158655, 0.0}, 1e-6);
  check_float32([](const Tensor& x) { return gelu(x); },
                [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); },
                spread(-4, 4));
}

TEST_CASE("gradcheck clamp") {
  const auto clamp_unit = [](const Tensor& x) { return clamp(x, -1.0, 1.0); };
  CHECK(gradcheck_unary(clamp_unit, kink_free(3, 4)));
  CHECK(gradcheck_unary(clamp_unit, stored_transposed(kink_free(3, 4))));
  const Tensor x = kink_free(2, 5);
  clamp(x, -1.0, 1.0).sum().backward();
  testing::check_values(x.grad(), {0, 1, 1, 0, 1, 1, 0, 0, 1, 1});
  testing::check_values(clamp(tensor({-3.0, 0.5, 7.0}, {.dtype = kFloat64}), -1.0, 2.0),
                        {-1.0, 0.5, 2.0});
  check_float32(
      clamp_unit, [](double v) { return std::clamp(v, -1.0, 1.0); }, spread(-2, 2));
}

TEST_CASE("gradcheck pow") {
  CHECK(gradcheck_unary([](const Tensor& x) { return pow(x, 3.0); }, testing::input({3, 4})));
  CHECK(gradcheck_unary([](const Tensor& x) { return pow(x, 2.0); },
                        testing::transposed_input({3, 4})));
  CHECK(gradcheck_unary([](const Tensor& x) { return pow(x, 0.5); },
                        testing::input_in({3, 4}, 0.2, 3.0)));
  CHECK(gradcheck_unary([](const Tensor& x) { return pow(x, -1.5); },
                        testing::input_in({2, 3}, 0.5, 2.0)));
  testing::check_values(pow(tensor({2.0, -2.0, 9.0}, {.dtype = kFloat64}), 3.0),
                        {8.0, -8.0, 729.0});
  testing::check_values(pow(tensor({-2.0, 0.0, 4.0}, {.dtype = kFloat64}), 2.0), {4.0, 0.0, 16.0});
  testing::check_values(pow(tensor({0.0, -3.0}, {.dtype = kFloat64}), 0.0), {1.0, 1.0});
  const Tensor zero = zeros({2}, {.dtype = kFloat64, .requires_grad = true});
  pow(zero, 0.0).sum().backward();
  testing::check_values(zero.grad(), {0.0, 0.0});  // constant: zero gradient, not 0 · 0⁻¹ = NaN
  check_float32([](const Tensor& x) { return pow(x, 3.0); }, [](double v) { return v * v * v; },
                spread(-3, 3));
}

TEST_CASE("unary ops of an int64 tensor are errors naming the op and shape") {
  const Tensor ids = from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK_THROWS_WITH_AS(
      log(ids),
      doctest::Contains("log: expected a float32 or float64 tensor, got int64 of shape [2, 3]"),
      Error);
  CHECK_THROWS_WITH_AS(
      exp(ids),
      doctest::Contains("exp: expected a float32 or float64 tensor, got int64 of shape [2, 3]"),
      Error);
  CHECK_THROWS_WITH_AS(
      pow(ids, 2.0),
      doctest::Contains("pow: expected a float32 or float64 tensor, got int64 of shape [2, 3]"),
      Error);
}

TEST_CASE("clamp: min above max is an error naming the bounds and shape, min equal to max is not") {
  CHECK_THROWS_WITH_AS(
      clamp(ones({2, 3}), 1.0, -1.0),
      doctest::Contains("clamp: min 1 is above max -1 for the tensor of shape [2, 3]"), Error);
  // min equal to max is allowed (as in torch.clamp): every element becomes that value.
  testing::check_values(clamp(tensor({-3.0, 0.5, 7.0}), 0.25, 0.25), {0.25, 0.25, 0.25}, 0);
}

TEST_CASE(
    "map_grad refuses a saved tensor of another shape or dtype than the gradient, naming the op") {
  const Tensor g = ones({2, 3});
  CHECK_THROWS_WITH_AS(map_grad("my_op", g, ones({3, 2}), kernels::ExpGrad{}),
                       doctest::Contains("my_op: the saved tensor is float32 of shape [3, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(map_grad("my_op", g, ones({2, 3}, {.dtype = kFloat64}), kernels::ExpGrad{}),
                       doctest::Contains("the gradient float32 of shape [2, 3]"), Error);
  const Tensor transposed = ones({3, 2}).transpose(0, 1);  // read through a contiguous copy
  CHECK(map_grad("my_op", g, transposed, kernels::ExpGrad{}).to_vector() ==
        std::vector<double>(6, 1.0));
}
