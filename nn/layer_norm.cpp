#include "nn/layer_norm.hpp"

#include "autograd/factories.hpp"
#include "autograd/ops/layer_norm.hpp"

namespace tapegrad::nn {

LayerNorm::LayerNorm(Shape normalized_shape_, LayerNormOptions options_)
    : normalized_shape(std::move(normalized_shape_)), options(options_) {
  if (normalized_shape.empty() || numel(normalized_shape, "nn.LayerNorm") <= 0)
    fail("nn.LayerNorm: normalized_shape {} must be non-empty", normalized_shape);
  if (options.elementwise_affine) {
    weight = ones(normalized_shape);
    bias = zeros(normalized_shape);
    register_parameter("weight", weight);
    register_parameter("bias", bias);
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, normalized_shape, weight, bias, options.eps);
}

}  // namespace tapegrad::nn
