// Exercise 7: quantization worked by hand, then beside the library's quantize_weight and
// quantized_linear, and against the float layer within the rounding bound.
#include "exercises/07_int8_linear/int8_linear.hpp"
#include "exercises/testing.hpp"

#include <cmath>

namespace tapegrad::exercises {

TEST_CASE("exercise 7: quantize_rows takes max |x| / 127 per row and rounds ties to even") {
  // Row 0: a = 127, so values = round(x): 62.5 -> 62 (to even, not 63), 0.2 -> 0.
  // Row 1: a = 1, values = round(127 x): 63.5 -> 64 (even), 31.75 -> 32, 0.508 -> 1.
  // Row 2: zeros: scale 0, values 0.
  const Tensor x =
      tensor({{62.5, -127.0, 0.2, 0.0}, {0.5, -1.0, 0.25, 0.004}, {0.0, 0.0, 0.0, 0.0}});
  const QuantizedRows q = quantize_rows(x);
  REQUIRE(q.values.dtype() == kInt8);
  REQUIRE(q.scales.dtype() == kFloat32);
  CHECK(q.values.to_vector() == std::vector<double>{62, -127, 0, 0, 64, -127, 32, 1, 0, 0, 0, 0});
  testing::check_close(q.scales, {1.0, 1.0 / 127, 0.0}, 1e-9);
}

TEST_CASE("exercise 7: quantize_rows gives quantize_weight's values and scales") {
  Generator generator(7);
  const Tensor w = randn({19, 37}, {}, generator);
  const QuantizedRows mine = quantize_rows(w);
  const QuantizedWeight library = quantize_weight(w);
  CHECK(mine.values.to_vector() == library.weight.to_vector());
  CHECK(mine.scales.to_vector() == library.scale.to_vector());
}

TEST_CASE("exercise 7: int8_linear of a product worked by hand") {
  // x = [1, -0.5]: s_x = 1/127, xq = [127, -64] (-63.5 to even).
  // W = [0.5 1; -1 0]: s_w = [1/127, 1/127], Wq = [64 127; -127 0].
  // C = [127·64 - 64·127, -127·127] = [0, -16129]; y = C / 127² + b = [0, -1] + [0.25, 2].
  const QuantizedRows weight = quantize_rows(tensor({{0.5, 1.0}, {-1.0, 0.0}}));
  const Tensor y = int8_linear(tensor({{1.0, -0.5}}), weight, tensor({0.25, 2.0}));
  CHECK(y.shape() == Shape{1, 2});
  testing::check_close(y, {0.25, 1.0}, 1e-6);
  testing::check_close(int8_linear(tensor({{1.0, -0.5}}), weight, {}), {0.0, -1.0}, 1e-6);
}

TEST_CASE("exercise 7: int8_linear gives quantized_linear's output, near the float layer's") {
  Generator generator(8);
  const Tensor x = randn({6, 37}, {}, generator), w = randn({19, 37}, {}, generator);
  const Tensor bias = randn({19}, {}, generator);
  std::fill_n(x.data<float>() + 2 * 37, 37, 0.0f);  // a row of zeros gives the bias exactly
  const QuantizedRows weight = quantize_rows(w);
  const Tensor y = int8_linear(x, weight, bias);
  testing::check_allclose(
      y, quantized_linear(x, quantized_weight(weight.values, weight.scales), bias), 1e-6, 1e-6);
  testing::check_close(narrow(y, 0, 2, 1), bias.to_vector(), 0);
  // Each rounding moves an element by at most half a step, s/2: the error of y[m, n] is at most
  //   Σ_k (|x[m, k]| s_w[n] + |W[n, k]| s_x[m] + s_x[m] s_w[n] / 2) / 2
  const Tensor exact = linear(x, w, bias);
  const QuantizedRows input = quantize_rows(x);
  for (int64_t m = 0; m < 6; ++m) {
    for (int64_t n = 0; n < 19; ++n) {
      const double s_x = input.scales.data<float>()[m], s_w = weight.scales.data<float>()[n];
      double bound = 1e-5;
      for (int64_t k = 0; k < 37; ++k)
        bound += (std::abs(x.data<float>()[m * 37 + k]) * s_w +
                  std::abs(w.data<float>()[n * 37 + k]) * s_x + s_x * s_w / 2) /
                 2;
      CHECK(std::abs(y.data<float>()[m * 19 + n] - exact.data<float>()[m * 19 + n]) <= bound);
    }
  }
}

TEST_CASE("exercise 7: a weight that does not fit x, or x not float32, is an Error naming them") {
  const QuantizedRows weight = quantize_rows(ones({3, 4}));
  CHECK_THROWS_WITH_AS(int8_linear(ones({2, 5}), weight, {}),
                       doctest::Contains("int8_linear: x of shape [2, 5]"), Error);
  CHECK_THROWS_WITH_AS(quantize_rows(ones({2, 5}, {.dtype = kFloat64})),
                       doctest::Contains("quantize_rows"), Error);
}

}  // namespace tapegrad::exercises
