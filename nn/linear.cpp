#include "nn/linear.hpp"

#include <cmath>

#include "autograd/factories.hpp"
#include "autograd/ops/linear.hpp"

namespace tapegrad::nn {

Linear::Linear(int64_t in_features, int64_t out_features, LinearOptions options) {
  if (in_features <= 0 || out_features <= 0)
    fail("nn.Linear: in_features {} and out_features {} must be positive", in_features,
         out_features);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  weight = uniform({out_features, in_features}, -bound, bound);
  register_parameter("weight", weight);
  if (options.bias) {
    bias = uniform({out_features}, -bound, bound);
    register_parameter("bias", bias);
  }
}

Tensor Linear::forward(const Tensor& x, const Tensor& residual) const {
  if (x.dim() == 0 || x.size(-1) != weight.size(1))
    fail("nn.Linear: input of shape {} does not end in in_features {}", x.shape(), weight.size(1));
  return is_quantized() ? int8_.linear(x, bias, residual) : linear(x, weight, bias, residual);
}

void Linear::quantize() { int8_.quantize(*this, "weight", weight); }

void Linear::to(DType dtype) {
  if (is_quantized() && dtype != kFloat32)
    fail("nn.Linear: to({}): an int8 layer computes in float32", dtype);
  Module::to(dtype);
}

}  // namespace tapegrad::nn
