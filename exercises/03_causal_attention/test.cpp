// Exercise 3: the causal mask, and attention that gives the future zero weight.
#include "exercises/03_causal_attention/causal_attention.hpp"
#include "exercises/testing.hpp"

namespace tapegrad::exercises {

TEST_CASE("exercise 3: causal_mask is true where key <= query") {
  const Tensor mask = causal_mask(4);
  CHECK(mask.dtype() == kBool);
  REQUIRE(mask.shape() == Shape{4, 4});
  // Row i is query i: it sees keys 0..i.
  testing::check_close(mask,
                       {1, 0, 0, 0,  //
                        1, 1, 0, 0,  //
                        1, 1, 1, 0,  //
                        1, 1, 1, 1},
                       0);
  CHECK(equal(mask, nn::causal_mask(4)));  // the library's helper, nn/mask.hpp
}

TEST_CASE("exercise 3: future positions get zero weight and each row of weights sums to 1") {
  Generator generator(4);
  const Tensor q = randn({2, 5, 8}, {}, generator);
  const Tensor k = randn({2, 5, 8}, {}, generator);
  const Tensor v = randn({2, 5, 8}, {}, generator);
  const nn::AttentionOutput attended = causal_attention(q, k, v);
  REQUIRE(attended.output.shape() == Shape{2, 5, 8});
  REQUIRE(attended.weights.shape() == Shape{2, 5, 5});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = i + 1; j < 5; ++j) CHECK(attended.weights.at({b, i, j}) == 0.0);
  testing::check_close(sum(attended.weights, {-1}), std::vector<double>(10, 1.0));
}

TEST_CASE("exercise 3: causal_attention equals nn::scaled_dot_product_attention with is_causal") {
  Generator generator(5);
  const Tensor q = randn({2, 3, 6, 4}, {}, generator);
  const Tensor k = randn({2, 3, 6, 4}, {}, generator);
  const Tensor v = randn({2, 3, 6, 4}, {}, generator);
  const nn::AttentionOutput mine = causal_attention(q, k, v);
  const nn::AttentionOutput library =
      nn::scaled_dot_product_attention(q, k, v, {.is_causal = true, .need_weights = true});
  testing::check_allclose(mine.weights, library.weights, 1e-5, 1e-6);
  testing::check_allclose(mine.output, library.output, 1e-5, 1e-6);
}

TEST_CASE("exercise 3: a change to the last token changes no earlier output") {
  Generator generator(6);
  const Tensor q = randn({1, 5, 8}, {}, generator);
  const Tensor k = randn({1, 5, 8}, {}, generator);
  const Tensor v = randn({1, 5, 8}, {}, generator);
  // Another key and value for token 4: tokens 0..3 must not see them.
  const Tensor other_k = cat({narrow(k, 1, 0, 4), randn({1, 1, 8}, {}, generator)}, 1);
  const Tensor other_v = cat({narrow(v, 1, 0, 4), randn({1, 1, 8}, {}, generator)}, 1);
  const Tensor before = causal_attention(q, k, v).output;
  const Tensor after = causal_attention(q, other_k, other_v).output;
  testing::check_allclose(narrow(after, 1, 0, 4), narrow(before, 1, 0, 4), 1e-5, 1e-6);
  CHECK_FALSE(allclose(narrow(after, 1, 4, 1), narrow(before, 1, 4, 1), 1e-5, 1e-6));
}

}  // namespace tapegrad::exercises
