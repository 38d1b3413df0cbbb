// Exercise 5: write KVCache::append and decode_step here (statement: exercises/README.md).
#include "exercises/05_kv_cache/kv_cache.hpp"

namespace tapegrad::exercises {

void KVCache::append([[maybe_unused]] const Tensor& key, [[maybe_unused]] const Tensor& value) {
  // Make key and value rows [1, d], then join them under keys_ and values_.
  throw Error("exercise 5: not done yet");
}

Tensor decode_step([[maybe_unused]] const Tensor& query, [[maybe_unused]] const Tensor& key,
                   [[maybe_unused]] const Tensor& value, [[maybe_unused]] KVCache& cache) {
  // Append, then attend: two matmuls and a softmax.
  throw Error("exercise 5: not done yet");
}

}  // namespace tapegrad::exercises
