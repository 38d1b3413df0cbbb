// LayerNorm over the trailing normalized_shape dims, with PyTorch's defaults (eps 1e-5, a
// learned weight initialised to 1 and bias to 0).
#pragma once

#include "nn/module.hpp"

namespace tapegrad::nn {

struct LayerNormOptions {
  double eps = 1e-5;
  bool elementwise_affine = true;
};

class LayerNorm : public CallableModule<LayerNorm> {
 public:
  LayerNorm(Shape normalized_shape, LayerNormOptions options = {});
  LayerNorm(int64_t features, LayerNormOptions options = {})
      : LayerNorm(Shape{features}, options) {}

  Tensor forward(const Tensor& x);

  Shape normalized_shape;
  LayerNormOptions options;
  Tensor weight;  // normalized_shape, undefined without elementwise_affine
  Tensor bias;
};

}  // namespace tapegrad::nn
