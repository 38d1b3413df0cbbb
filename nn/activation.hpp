// Activation functions as modules, for Sequential and for models that name their layers:
// ReLU, GELU (the exact x·Φ(x), PyTorch's default approximate='none'), Tanh and Sigmoid.
#pragma once

#include "nn/module.hpp"

namespace tapegrad::nn {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
};

class GELU : public Module {
 public:
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace tapegrad::nn
