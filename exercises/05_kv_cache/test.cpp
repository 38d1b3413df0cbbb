// Exercise 5: the cache's rows, and decoding with it against full causal attention.
#include "exercises/05_kv_cache/kv_cache.hpp"
#include "exercises/testing.hpp"

namespace tapegrad::exercises {

TEST_CASE("exercise 5: the cache grows by one row per token") {
  Generator generator(8);
  const Tensor keys = randn({3, 4}, {}, generator);
  const Tensor values = randn({3, 4}, {}, generator);
  KVCache cache;
  CHECK(cache.length() == 0);
  for (int64_t t = 0; t < 3; ++t) {
    cache.append(select(keys, 0, t), select(values, 0, t));
    CHECK(cache.length() == t + 1);
  }
  REQUIRE(cache.keys().shape() == Shape{3, 4});
  REQUIRE(cache.values().shape() == Shape{3, 4});
  CHECK(equal(cache.keys(), keys));
  CHECK(equal(cache.values(), values));
}

TEST_CASE("exercise 5: decoding token by token equals full causal attention at every position") {
  // The whole sequence at once, with a causal mask: row t of `full` is what token t computes.
  Generator generator(9);
  const Tensor q = randn({6, 8}, {}, generator);
  const Tensor k = randn({6, 8}, {}, generator);
  const Tensor v = randn({6, 8}, {}, generator);
  const Tensor full = nn::scaled_dot_product_attention(q, k, v, {.is_causal = true}).output;
  KVCache cache;
  for (int64_t t = 0; t < 6; ++t) {
    INFO("token ", t);
    const Tensor output = decode_step(select(q, 0, t), select(k, 0, t), select(v, 0, t), cache);
    REQUIRE(output.shape() == Shape{8});
    CHECK(cache.length() == t + 1);
    testing::check_allclose(output, select(full, 0, t), 1e-5, 1e-6);
  }
  // Token 0 has one key to attend to: its weight is 1 and its output is its own value.
  KVCache fresh;
  testing::check_allclose(decode_step(select(q, 0, 0), select(k, 0, 0), select(v, 0, 0), fresh),
                          select(v, 0, 0), 1e-6, 1e-7);
}

}  // namespace tapegrad::exercises
