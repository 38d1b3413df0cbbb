// Linear: y = x Wᵀ + b over the last dim, with PyTorch's initialisation (Kaiming-uniform with
// a = sqrt(5), which makes both W and b uniform in ±1/sqrt(in_features)).
#pragma once

#include "nn/module.hpp"

namespace tapegrad::nn {

struct LinearOptions {
  bool bias = true;
};

class Linear : public CallableModule<Linear> {
 public:
  Linear(int64_t in_features, int64_t out_features, LinearOptions options = {});

  Tensor forward(const Tensor& x);  // [..., in_features] -> [..., out_features]

  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features], undefined without bias
};

}  // namespace tapegrad::nn
