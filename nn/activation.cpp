#include "nn/activation.hpp"

#include "autograd/ops/unary.hpp"

namespace tapegrad::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor GELU::forward(const Tensor& x) { return gelu(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

}  // namespace tapegrad::nn
