// Dynamic int8 quantization of a linear layer (autograd/ops/quantized_linear.hpp): the weight's
// scales and values worked by hand, the output against the same formula computed here from the
// reference int8 product, against the float linear within the rounding bound, a saved weight
// loaded back, and the errors.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/autograd.hpp"
#include "autograd/ops/quantized_linear.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

TEST_CASE("quantize_weight: a scale per output channel, max |W| / 127, values rounded") {
  // Row 0: max 1.27 -> scale 0.01: 0.5 -> 50, -1.27 -> -127, 0.004 -> 0; row 1 all zero.
  const QuantizedWeight q = quantize_weight(tensor({{0.5, -1.27, 0.004}, {0, 0, 0}}));
  CHECK(q.weight.dtype() == kInt8);
  CHECK(q.weight.to_vector() == std::vector<double>{50, -127, 0, 0, 0, 0});
  testing::check_values(q.scale, {0.01, 0}, 1e-9);
}

TEST_CASE("quantized_linear: s_x s_w (xq Wqᵀ) + b, against the reference int8 product") {
  manual_seed(1);
  const Tensor x = randn({3, 5, 37}), w = randn({19, 37}), bias = randn({19});
  x.data<float>()[37] = 0;                          // part of a row: scales still per row
  std::fill_n(x.data<float>() + 2 * 37, 37, 0.0f);  // a row of zeros gives the bias exactly
  const QuantizedWeight q = quantize_weight(w);
  const Tensor y = quantized_linear(x, q, bias);
  CHECK(y.shape() == Shape{3, 5, 19});

  // The same steps by hand for each row: quantize it, int8 product, scale, bias.
  const int64_t M = 15, K = 37, N = 19;
  std::vector<int8_t> xq(K);
  std::vector<int32_t> products(N);
  for (int64_t m = 0; m < M; ++m) {
    const float* row = x.data<float>() + m * K;
    float largest = 0;
    for (int64_t k = 0; k < K; ++k) largest = std::max(largest, std::abs(row[k]));
    for (int64_t k = 0; k < K; ++k)
      xq[k] = largest > 0 ? static_cast<int8_t>(std::nearbyint(row[k] * (127 / largest))) : 0;
    kernels::gemm_int8_reference(1, N, K, xq.data(), K, q.weight.data<int8_t>(), K, products.data(),
                                 N);
    for (int64_t n = 0; n < N; ++n) {
      CAPTURE(m);
      CAPTURE(n);
      const float expected =
          largest / 127 * q.scale.data<float>()[n] * static_cast<float>(products[n]) +
          bias.data<float>()[n];
      CHECK(y.data<float>()[m * N + n] == doctest::Approx(expected).epsilon(1e-6));
    }
  }
  for (int64_t n = 0; n < N; ++n) CHECK(y.data<float>()[2 * N + n] == bias.data<float>()[n]);

  // Against the float layer: within the two roundings, half a step s each:
  //   |y - x Wᵀ| <= Σ_k (|x[m, k]| s_w[n] + |W[n, k]| s_x[m] + s_x[m] s_w[n] / 2) / 2
  const Tensor exact = linear(x, w, bias);
  int64_t outside = 0;
  for (int64_t m = 0; m < M; ++m) {
    const float* row = x.data<float>() + m * K;
    float largest = 0;
    for (int64_t k = 0; k < K; ++k) largest = std::max(largest, std::abs(row[k]));
    const double s_x = largest / 127.0;
    for (int64_t n = 0; n < N; ++n) {
      const double s_w = q.scale.data<float>()[n];
      double bound = 1e-5;
      for (int64_t k = 0; k < K; ++k)
        bound +=
            (std::abs(row[k]) * s_w + std::abs(w.data<float>()[n * K + k]) * s_x + s_x * s_w / 2) /
            2;
      if (std::abs(y.data<float>()[m * N + n] - exact.data<float>()[m * N + n]) > bound) ++outside;
    }
  }
  CHECK(outside == 0);
}

TEST_CASE("quantized_weight: a saved int8 weight and scale load back to the same outputs") {
  manual_seed(2);
  const Tensor x = randn({4, 16}), w = randn({8, 16});
  const QuantizedWeight q = quantize_weight(w);
  const QuantizedWeight loaded = quantized_weight(clone(q.weight), clone(q.scale));
  CHECK(equal(quantized_linear(x, loaded), quantized_linear(x, q)));
}

TEST_CASE("quantized_linear: rows in several bands give what each row gives alone") {
  // 4096 outputs make bands of 8 rows (about 32 K products each): 19 rows are 8 + 8 + 3
  manual_seed(4);
  const Tensor x = randn({19, 16});
  const QuantizedWeight q = quantize_weight(randn({4096, 16}));
  const Tensor y = quantized_linear(x, q);
  for (int64_t m = 0; m < 19; ++m) {
    CAPTURE(m);
    CHECK(equal(narrow(y, 0, m, 1), quantized_linear(narrow(x, 0, m, 1), q)));
  }
}

TEST_CASE("quantized_linear: a 1-D x is one row, as for nn.Linear") {
  manual_seed(5);
  const Tensor x = randn({16});
  const QuantizedWeight q = quantize_weight(randn({8, 16}));
  const Tensor y = quantized_linear(x, q);
  CHECK(y.shape() == Shape{8});
  CHECK(equal(y, quantized_linear(x.view({1, 16}), q).view({8})));
}

TEST_CASE("quantized_linear: in_features 0 gives the bias alone, as linear does") {
  const QuantizedWeight q = quantize_weight(ones({2, 0}));
  testing::check_values(quantized_linear(ones({3, 0}), q, tensor({1.5, -2.0})),
                        {1.5, -2, 1.5, -2, 1.5, -2});
  testing::check_values(quantized_linear(ones({3, 0}), q), {0, 0, 0, 0, 0, 0});
}

TEST_CASE("quantized_linear: a strided residual is added as a contiguous one") {
  manual_seed(3);
  const Tensor x = randn({4, 16}), bias = randn({8}), residual = randn({8, 4}).transpose(0, 1);
  const QuantizedWeight q = quantize_weight(randn({8, 16}));
  CHECK(allclose(quantized_linear(x, q, bias, residual), quantized_linear(x, q, bias) + residual,
                 1e-6, 1e-6));
}

TEST_CASE("quantized_linear: errors name the op, the shapes and what to do") {
  const QuantizedWeight q = quantize_weight(zeros({4, 3}));
  CHECK_THROWS_WITH_AS(quantized_linear(zeros({2, 5}), q),
                       doctest::Contains("x float32 of shape [2, 5] must be float32 [..., 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(quantized_linear(zeros({}), q),
                       doctest::Contains("x float32 of shape [] must be float32 [..., 3]"), Error);
  CHECK_THROWS_WITH_AS(quantized_linear(zeros({2, 3}), q, zeros({3})),
                       doctest::Contains("bias float32 of shape [3] must be float32 [4]"), Error);
  CHECK_THROWS_WITH_AS(quantized_linear(zeros({2, 3}), q, {}, zeros({2, 3})),
                       doctest::Contains("residual float32 of shape [2, 3] must be float32 of the "
                                         "output's shape [2, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(quantized_linear(zeros({2, 3}), q, {}, zeros({2, 4}, {.dtype = kFloat64})),
                       doctest::Contains("residual float64 of shape [2, 4] must be float32"),
                       Error);
  CHECK_THROWS_WITH_AS(quantized_linear(zeros({2, 3}, {.requires_grad = true}), q),
                       doctest::Contains("run it under NoGradGuard"), Error);
  CHECK_THROWS_WITH_AS(quantized_weight(zeros({4, 3}), zeros({4})),
                       doctest::Contains("weight float32 of shape [4, 3] and scale float32"),
                       Error);
  const Tensor int8_weight = zeros({4, 3}, {.dtype = kInt8});
  CHECK_THROWS_WITH_AS(quantized_weight(int8_weight.reshape({12}), zeros({12})),
                       doctest::Contains("weight int8 of shape [12]"), Error);
  CHECK_THROWS_WITH_AS(quantized_weight(int8_weight, zeros({4}, {.dtype = kFloat64})),
                       doctest::Contains("scale float64 of shape [4]"), Error);
  CHECK_THROWS_WITH_AS(quantized_weight(int8_weight, zeros({3})),
                       doctest::Contains("scale float32 of shape [3]"), Error);
  CHECK_THROWS_WITH_AS(quantize_weight(zeros({4})), doctest::Contains("is not [out_features"),
                       Error);
}
