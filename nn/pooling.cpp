#include "nn/pooling.hpp"

#include <limits>

#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/ops/unary.hpp"

namespace tapegrad::nn {

Tensor masked_mean(const Tensor& h, const Tensor& mask) {
  if (h.dim() != 3 || mask.dtype() != kBool || mask.shape() != Shape{h.size(0), h.size(1)})
    fail("nn.masked_mean: h {} must be [B, T, C] and mask ({} {}) bool [B, T]", h.shape(),
         mask.dtype(), mask.shape());
  const Tensor real = mask.to(h.dtype()).unsqueeze(-1);  // [B, T, 1], 1 for a real token
  const Tensor total = sum(h * real, {1});               // [B, C]
  const Tensor count = clamp(sum(real, {1}), 1.0,
                             std::numeric_limits<double>::infinity());  // [B, 1], at least 1
  return total / count;                                                 // [B, C]
}

}  // namespace tapegrad::nn
