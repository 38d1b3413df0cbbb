// Exercise 2, the reference solution.
#include "exercises/02_rms_norm/rms_norm.hpp"

namespace tapegrad::exercises {

RMSNorm::RMSNorm(int64_t dim, double eps_) : weight(ones({dim})), eps(eps_) {
  register_parameter("weight", weight);
}

Tensor RMSNorm::forward(const Tensor& x) {
  // The mean of squares over the last dim, kept as a dim of size 1 so that it broadcasts
  // against x: [..., dim] -> [..., 1]. The ops' own backwards give the gradient.
  const Tensor mean_square = mean(x * x, {-1}, /*keepdim=*/true);
  return x / sqrt(mean_square + eps) * weight;
}

}  // namespace tapegrad::exercises
