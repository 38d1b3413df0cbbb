// fused_attention and fused_attention_packed: float64 gradient checks over q, k, v (masks of every
// shape, causal, fully masked rows, Tq != Tk, sizes off the SIMD width, strided inputs, several
// tiles, dropout), forward values equal to the plain path (matmul, masked_fill, softmax, matmul),
// the memory layout of the output and gradients, and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "autograd/autograd.hpp"
#include "autograd/kernels/flash_attention.hpp"
#include "nn/mask.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

using Inputs = const std::vector<Tensor>&;

Tensor bools(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape).to(kBool);
}

// The plain path on [B, H, T, *] inputs: every weight, times `factors` (dropout) if given.
Tensor plain_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                       const FusedAttentionOptions& options, const Tensor& factors = {}) {
  const double scale = options.scale.value_or(1 / std::sqrt(static_cast<double>(q.size(-1))));
  Tensor scores = matmul(q, k.transpose(-2, -1)) * scale;
  Tensor allowed = options.mask;
  if (options.is_causal) {
    const Tensor causal = nn::causal_mask(q.size(-2), k.size(-2));
    allowed = allowed.defined() ? allowed && causal : causal;
  }
  if (allowed.defined())
    scores = masked_fill(scores, !allowed, -std::numeric_limits<double>::infinity());
  Tensor weights = softmax(scores, -1);
  if (factors.defined()) weights = weights * factors;
  return matmul(weights, v);
}

// The kernel's dropout factors [B, H, Tq, Tk] for these options, as a tensor.
Tensor dropout_factors(const Shape& scores, const FusedAttentionOptions& options) {
  const kernels::AttentionProblem problem{.batch = scores[0],
                                          .heads = scores[1],
                                          .queries = scores[2],
                                          .keys = scores[3],
                                          .dropout = options.dropout_p,
                                          .dropout_seed = options.dropout_seed};
  std::vector<double> values;
  for (int64_t b = 0; b < scores[0]; ++b)
    for (int64_t h = 0; h < scores[1]; ++h)
      for (int64_t i = 0; i < scores[2]; ++i)
        for (int64_t j = 0; j < scores[3]; ++j)
          values.push_back(kernels::attention_dropout_factor(problem, b, h, i, j));
  return from_vector(values, scores, {.dtype = kFloat64});
}

double largest_gap(const Tensor& a, const Tensor& b) {
  return max(abs(a.to(kFloat64) - b.to(kFloat64))).item();
}

// Random [B, H, T, n] inputs of a dtype, one seed each.
Tensor random_heads(const Shape& shape, DType dtype, uint64_t seed) {
  Generator generator(seed);
  return randn(shape, {.dtype = dtype}, generator);
}

}  // namespace

TEST_CASE("gradcheck fused_attention") {
  const Tensor q = testing::input({2, 2, 3, 5}, 1), k = testing::input({2, 2, 4, 5}, 2);
  const Tensor v = testing::input({2, 2, 4, 3}, 3);
  const auto check = [](const Tensor& q_, const Tensor& k_, const Tensor& v_,
                        const FusedAttentionOptions& options) {
    CHECK(gradcheck([&](Inputs in) { return fused_attention(in[0], in[1], in[2], options); },
                    {q_, k_, v_}));
  };

  SUBCASE("no mask, Tq != Tk, d and dv off the SIMD width") { check(q, k, v, {}); }
  SUBCASE("a [Tq, Tk] mask with a fully masked row, and a scale") {
    check(q, k, v, {.mask = bools({1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0}, {3, 4}), .scale = 0.3});
  }
  SUBCASE("causal, with key padding [B, 1, 1, Tk] where one example has no key") {
    check(q, k, v, {.mask = bools({1, 1, 1, 0, 0, 0, 0, 0}, {2, 1, 1, 4}), .is_causal = true});
  }
  SUBCASE("a mask per head [B, H, Tq, Tk]") {
    Generator generator(5);
    check(q, k, v, {.mask = gt(rand({2, 2, 3, 4}, {}, generator), 0.3)});
  }
  SUBCASE("strided inputs: a transposed and a sliced leaf") {
    check(testing::transposed_input({2, 2, 3, 5}, 4), testing::strided_input({2, 2, 4, 5}, 5), v,
          {.is_causal = true});
  }
  SUBCASE("dropout with a fixed seed") { check(q, k, v, {.dropout_p = 0.3, .dropout_seed = 42}); }
  SUBCASE("70 queries and keys span two tiles, with a mask and causal") {
    const Tensor q_long = testing::input({1, 1, 70, 5}, 6),
                 k_long = testing::input({1, 1, 70, 5}, 7);
    const Tensor v_long = testing::input({1, 1, 70, 3}, 8);
    Generator generator(9);
    check(q_long, k_long, v_long,
          {.mask = gt(rand({70, 70}, {}, generator), 0.2), .is_causal = true});
  }
}

TEST_CASE("gradcheck fused_attention_packed") {
  const Tensor qkv = testing::input({2, 3, 3, 2, 4}, 1);  // [B, T, 3, H, d]
  CHECK(gradcheck(
      [](Inputs in) {
        return fused_attention_packed(
            in[0], {.mask = nn::padding_mask({3, 2}, 3).view({2, 1, 1, 3}), .is_causal = true});
      },
      {qkv}));
  CHECK(gradcheck([](Inputs in) { return fused_attention_packed(in[0], {.dropout_p = 0.5}); },
                  {qkv}));
}

TEST_CASE("fused_attention equals the plain path, in float32 and float64") {
  Generator generator(11);
  const Tensor mask = gt(rand({2, 1, 70, 90}, {}, generator), 0.25);
  for (const DType dtype : {kFloat32, kFloat64}) {
    CAPTURE(dtype);
    const double tolerance = dtype == kFloat32 ? 1e-5 : 1e-12;
    const Tensor q = random_heads({2, 3, 70, 24}, dtype, 1),
                 k = random_heads({2, 3, 90, 24}, dtype, 2);
    const Tensor v = random_heads({2, 3, 90, 40}, dtype, 3);
    for (const FusedAttentionOptions& options :
         {FusedAttentionOptions{}, FusedAttentionOptions{.mask = mask, .is_causal = true},
          FusedAttentionOptions{.mask = mask, .scale = 0.5}}) {
      CHECK(largest_gap(fused_attention(q, k, v, options), plain_attention(q, k, v, options)) <
            tolerance);
    }
    const FusedAttentionOptions dropped{.mask = mask, .dropout_p = 0.2, .dropout_seed = 7};
    const Tensor factors = dropout_factors({2, 3, 70, 90}, dropped).to(dtype);
    CHECK(largest_gap(fused_attention(q, k, v, dropped),
                      plain_attention(q, k, v, dropped, factors)) < tolerance);
  }
}

TEST_CASE("fused_attention: the output and the gradients are laid out [B, T, H, d]") {
  const Tensor q = testing::input({2, 3, 4, 5}, 1), k = testing::input({2, 3, 6, 5}, 2);
  const Tensor v = testing::input({2, 3, 6, 7}, 3);
  const Tensor out = fused_attention(q, k, v);
  CHECK(out.shape() == Shape{2, 3, 4, 7});
  CHECK(out.transpose(1, 2).is_contiguous());
  const Tensor merged = out.transpose(1, 2).view({2, 4, 21});  // the head merge, no copy
  CHECK(merged.storage() == out.storage());
  // Through the packed form, the gradient of qkv [B, T, 3, H, d] is one tensor.
  const Tensor qkv = testing::input({2, 4, 3, 3, 5}, 4);
  fused_attention_packed(qkv).sum().backward();
  CHECK(qkv.grad().shape() == Shape{2, 4, 3, 3, 5});
}

TEST_CASE("fused_attention: same seed, same dropout, and p = 1 drops everything") {
  const Tensor q = testing::input({1, 2, 5, 4}, 1), k = testing::input({1, 2, 6, 4}, 2);
  const Tensor v = testing::input({1, 2, 6, 3}, 3);
  const Tensor first = fused_attention(q, k, v, {.dropout_p = 0.5, .dropout_seed = 3});
  CHECK(largest_gap(first, fused_attention(q, k, v, {.dropout_p = 0.5, .dropout_seed = 3})) == 0);
  CHECK(largest_gap(first, fused_attention(q, k, v, {.dropout_p = 0.5, .dropout_seed = 4})) > 0.01);
  CHECK(largest_gap(first, fused_attention(q, k, v)) > 0.01);
  testing::check_values(fused_attention(q, k, v, {.dropout_p = 1.0}), std::vector<double>(30, 0.0),
                        0);
}

TEST_CASE("fused_attention: a fully masked query row gives zeros and zero gradients") {
  const Tensor q = testing::input({1, 1, 2, 3}, 1), k = testing::input({1, 1, 3, 3}, 2);
  const Tensor v = testing::input({1, 1, 3, 2}, 3);
  const Tensor mask = bools({1, 0, 1, 0, 0, 0}, {2, 3});  // query 1 may attend to nothing
  const Tensor out = fused_attention(q, k, v, {.mask = mask});
  testing::check_values(narrow(out, 2, 1, 1), {0, 0}, 0);
  out.sum().backward();
  for (const Tensor& grad : {q.grad(), k.grad(), v.grad()})
    for (const double value : grad.to_vector()) CHECK(std::isfinite(value));
  testing::check_values(narrow(q.grad(), 2, 1, 1), {0, 0, 0}, 0);
  CHECK(std::abs(narrow(q.grad(), 2, 0, 1).sum().item()) > 0);
  testing::check_values(narrow(v.grad(), 2, 1, 1), {0, 0}, 0);  // key 1 was seen by no one
}

TEST_CASE("fused_attention: errors name the op and the shapes") {
  const Tensor q = zeros({2, 1, 3, 4}), k = zeros({2, 1, 5, 4}), v = zeros({2, 1, 5, 6});
  CHECK_THROWS_WITH_AS(
      fused_attention(zeros({3, 4}), k, v),
      doctest::Contains("fused_attention: q [3, 4], k [2, 1, 5, 4] and v [2, 1, 5, "
                        "6] must be [B, H, T, d]"),
      Error);
  CHECK_THROWS_WITH_AS(fused_attention(q, zeros({2, 1, 5, 3}), v),
                       doctest::Contains("fused_attention: q [2, 1, 3, 4] and k [2, 1, 5, 3] last "
                                         "dims differ (4 != 3)"),
                       Error);
  CHECK_THROWS_WITH_AS(fused_attention(q, k, zeros({2, 1, 4, 6})),
                       doctest::Contains("k [2, 1, 5, 4] and v [2, 1, 4, 6] have different numbers "
                                         "of keys"),
                       Error);
  CHECK_THROWS_WITH_AS(fused_attention(q, zeros({1, 1, 5, 4}), v),
                       doctest::Contains("disagree on [B, H]"), Error);
  CHECK_THROWS_WITH_AS(fused_attention(q, k, zeros({2, 1, 5, 6}, {.dtype = kFloat64})),
                       doctest::Contains("must share one floating dtype"), Error);
  CHECK_THROWS_WITH_AS(fused_attention(q, k, v, {.mask = ones({3, 5})}),
                       doctest::Contains("fused_attention: the mask must be bool"), Error);
  CHECK_THROWS_WITH_AS(fused_attention(q, k, v, {.mask = nn::causal_mask(3)}),
                       doctest::Contains("fused_attention: mask of shape [3, 3] does not broadcast "
                                         "to the scores' shape [2, 1, 3, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(fused_attention(q, k, v, {.dropout_p = 1.5}),
                       doctest::Contains("dropout_p 1.5 is not a probability"), Error);
  CHECK_THROWS_WITH_AS(
      fused_attention_packed(zeros({2, 3, 2, 1, 4})),
      doctest::Contains("fused_attention_packed: qkv [2, 3, 2, 1, 4] is not [B, T, "
                        "3, H, d]"),
      Error);
}
