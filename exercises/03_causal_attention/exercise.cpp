// Exercise 3: write causal_mask and causal_attention here (statement: exercises/README.md).
#include "exercises/03_causal_attention/causal_attention.hpp"

namespace tapegrad::exercises {

Tensor causal_mask([[maybe_unused]] int64_t length) {
  // Compare a row of key positions with a column of query positions.
  throw Error("exercise 3: not done yet");
}

nn::AttentionOutput causal_attention([[maybe_unused]] const Tensor& q,
                                     [[maybe_unused]] const Tensor& k,
                                     [[maybe_unused]] const Tensor& v) {
  // Scores, masked_fill with -INFINITY where the mask is false, softmax, then the weights times v.
  throw Error("exercise 3: not done yet");
}

}  // namespace tapegrad::exercises
