#include "nn/dropout.hpp"

#include "autograd/ops/dropout.hpp"

namespace tapegrad::nn {

Dropout::Dropout(double p_) : p(p_) {
  if (!(p >= 0 && p <= 1)) fail("nn.Dropout: p {} is not a probability in [0, 1]", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }

}  // namespace tapegrad::nn
