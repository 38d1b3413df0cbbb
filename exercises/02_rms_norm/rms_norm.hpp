// Exercise 2: RMSNorm as a Module (statement: exercises/README.md). Write its constructor and
// forward in exercise.cpp; test.cpp grades them.
#pragma once

#include <tapegrad/tapegrad.hpp>

namespace tapegrad::exercises {

// Root-mean-square normalisation over the last dim (Zhang and Sennrich 2019; LLaMA's norm):
//   y = x / √(mean(x²) + ε) · weight
// the mean over the last dim, of size `dim`; weight [dim] is learned, initialised to ones.
class RMSNorm : public nn::CallableModule<RMSNorm> {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-6);

  Tensor forward(const Tensor& x);  // [..., dim] -> [..., dim]

  Tensor weight;  // [dim], the parameter "weight"
  double eps;
};

}  // namespace tapegrad::exercises
