// Dropout(p): zeroes each element with probability p while training (scaling the rest by
// 1/(1-p)); the identity in eval mode. Masks come from the thread's default generator.
#pragma once

#include "nn/module.hpp"

namespace tapegrad::nn {

class Dropout : public CallableModule<Dropout> {
 public:
  explicit Dropout(double p = 0.5);

  Tensor forward(const Tensor& x);
  bool is_identity() const { return !is_training() || p == 0; }  // forward(x) is x

  double p;
};

}  // namespace tapegrad::nn
