// Exercise 6: the checker passes right backwards and finds the two planted bugs.
#include "exercises/06_gradient_check/gradient_check.hpp"
#include "exercises/06_gradient_check/suspect_ops.hpp"
#include "exercises/testing.hpp"

namespace tapegrad::exercises {

namespace {

Tensor input(const Shape& shape, uint64_t seed) {
  Generator generator(seed);
  return randn(shape, {.dtype = kFloat64, .requires_grad = true}, generator);
}

// What the checker found, for the test's message.
std::string describe(const std::optional<GradientMismatch>& mismatch) {
  if (!mismatch) return "no mismatch";
  return fmt::format("input {}, element {}: analytic {}, numeric {}", mismatch->input,
                     mismatch->element, mismatch->analytic, mismatch->numeric);
}

}  // namespace

TEST_CASE("exercise 6: the checker passes right backwards") {
  const Tensor x = input({3, 4}, 10);
  const Tensor a = input({5}, 11);
  const Tensor b = input({5}, 12);
  const Tensor m = input({2, 3}, 13);
  const auto check_passes = [](const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
    const std::optional<GradientMismatch> mismatch = find_gradient_mismatch(fn, inputs);
    CHECK_MESSAGE(!mismatch, describe(mismatch));
  };
  check_passes([](const std::vector<Tensor>& in) { return softsign(in[0]); }, {x});
  check_passes([](const std::vector<Tensor>& in) { return hypot(in[0], in[1]); }, {a, b});
  // The library's own ops, with outputs of other shapes than their inputs.
  check_passes([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {m, x});
  check_passes([](const std::vector<Tensor>& in) { return softmax(in[0], 1) * in[0]; }, {x});
}

TEST_CASE("exercise 6: the checker finds softsign's planted bug, as gradcheck does") {
  const Tensor x = input({3, 4}, 14);
  const GradcheckFn fn = [](const std::vector<Tensor>& in) {
    return softsign_with_planted_bug(in[0]);
  };
  const std::optional<GradientMismatch> mismatch = find_gradient_mismatch(fn, {x});
  REQUIRE_MESSAGE(mismatch, "the wrong backward went unnoticed");
  CHECK(mismatch->input == 0);
  CHECK_FALSE(gradcheck(fn, {x}, {.raise = false}));
}

TEST_CASE("exercise 6: the checker finds hypot's planted bug in its second input only") {
  const Tensor a = input({5}, 15);
  const Tensor b = input({5}, 16);
  const GradcheckFn fn = [](const std::vector<Tensor>& in) {
    return hypot_with_planted_bug(in[0], in[1]);
  };
  const std::optional<GradientMismatch> mismatch = find_gradient_mismatch(fn, {a, b});
  REQUIRE_MESSAGE(mismatch, "the wrong backward went unnoticed");
  CHECK_MESSAGE(mismatch->input == 1, describe(mismatch));  // a's gradient is right
  CHECK_FALSE(gradcheck(fn, {a, b}, {.raise = false}));
}

}  // namespace tapegrad::exercises
