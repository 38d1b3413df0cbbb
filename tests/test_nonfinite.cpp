// optim/nonfinite: naming the first tensor, or the first parameter's gradient, that holds a NaN or
// an Inf, in the order given.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "autograd/autograd.hpp"
#include "optim/nonfinite.hpp"

using namespace tapegrad;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// A float32 leaf of three elements whose gradient is `grad` (undefined: none).
Tensor parameter_with_gradient(const Tensor& grad) {
  Tensor parameter = zeros({3}).requires_grad_();
  if (grad.defined()) parameter.set_grad(grad);
  return parameter;
}

}  // namespace

TEST_CASE("nonfinite: all_finite finds NaN and Inf in float32, float64 and strided views") {
  CHECK(optim::all_finite(ones({2, 3})));
  CHECK(optim::all_finite(arange(6).to(kInt64)));
  CHECK_FALSE(optim::all_finite(full({4}, kNaN)));
  CHECK_FALSE(optim::all_finite(full({4}, -kInf, {.dtype = kFloat64})));
  const Tensor mixed = cat({ones({2, 1}), full({2, 1}, kInf)}, 1);  // [[1, inf], [1, inf]]
  CHECK(optim::all_finite(narrow(mixed, 1, 0, 1)));
  CHECK_FALSE(optim::all_finite(mixed.transpose(0, 1)));
}

TEST_CASE("nonfinite: first_nonfinite_value names the first bad tensor in the order given") {
  CHECK(optim::first_nonfinite_value({{"a", ones({2})}, {"b", zeros({3})}}) == std::nullopt);
  CHECK(optim::first_nonfinite_value(
            {{"a", ones({2})}, {"b", full({1}, kInf)}, {"c", full({1}, kNaN)}}) == "b");
  CHECK(optim::first_nonfinite_value({}) == std::nullopt);
}

TEST_CASE("nonfinite: first_nonfinite_gradient skips parameters without a gradient") {
  const Tensor finite = ones({3});
  const Tensor nan = full({3}, kNaN);
  const Tensor inf = full({3}, kInf);
  CHECK(optim::first_nonfinite_gradient(
            {{"w", parameter_with_gradient(finite)}, {"b", parameter_with_gradient(Tensor())}}) ==
        std::nullopt);
  CHECK(optim::first_nonfinite_gradient({{"unused", parameter_with_gradient(Tensor())},
                                         {"w", parameter_with_gradient(finite)},
                                         {"b", parameter_with_gradient(inf)},
                                         {"c", parameter_with_gradient(nan)}}) == "b");
}

TEST_CASE("nonfinite: a NaN loss reaches every gradient, and the first parameter is named") {
  Tensor w = ones({2, 2}).requires_grad_();
  Tensor b = zeros({2}).requires_grad_();
  const Tensor loss = sum(matmul(ones({1, 2}), w) + b) * kNaN;
  loss.backward();
  CHECK(std::isnan(loss.item()));
  CHECK(optim::first_nonfinite_gradient({{"weight", w}, {"bias", b}}) == "weight");
  CHECK(optim::first_nonfinite_value({{"weight", w}, {"bias", b}}) == std::nullopt);
}
