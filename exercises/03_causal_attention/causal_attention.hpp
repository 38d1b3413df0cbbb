// Exercise 3: a causal mask and the attention that uses it (statement: exercises/README.md).
// Write both functions in exercise.cpp; test.cpp grades them.
#pragma once

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::exercises {

// [length, length], bool, true where query i may attend to key j (tapegrad's one polarity:
// true = may attend), that is where the key is not in the query's future:
//   mask[i][j] = (j ≤ i)
Tensor causal_mask(int64_t length);

// Causal scaled dot-product attention of T tokens: q, k, v [..., T, d] (leading dims broadcast
// as matmul's do):
//   scores  = Q Kᵀ / √d                          [..., T, T]
//   weights = softmax over the last dim of scores, with -∞ where the mask is false
//   output  = weights V                          [..., T, d]
// A future key's score is -∞, so its weight e^-∞ / Σ is exactly 0.
nn::AttentionOutput causal_attention(const Tensor& q, const Tensor& k, const Tensor& v);

}  // namespace tapegrad::exercises
