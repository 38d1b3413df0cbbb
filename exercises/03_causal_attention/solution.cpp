// Exercise 3, the reference solution.
#include "exercises/03_causal_attention/causal_attention.hpp"

#include <cmath>

namespace tapegrad::exercises {

Tensor causal_mask(int64_t length) {
  const Tensor positions = arange(static_cast<double>(length), {.dtype = kInt64});  // [T]
  // Keys along dim 1 ([1, T]), queries along dim 0 ([T, 1]); broadcasting gives [T, T].
  return le(positions.unsqueeze(0), positions.unsqueeze(1));
}

nn::AttentionOutput causal_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const Tensor scores = matmul(q, k.transpose(-1, -2)) * scale;  // [..., T, T]
  const Tensor masked = masked_fill(scores, !causal_mask(q.size(-2)), -INFINITY);
  const Tensor weights = softmax(masked, -1);
  return {.output = matmul(weights, v), .weights = weights};
}

}  // namespace tapegrad::exercises
