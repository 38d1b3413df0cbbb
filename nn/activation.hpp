// Activation functions as modules, for Sequential and for models that name their layers:
// ReLU, GELU (the exact x·Φ(x), PyTorch's default approximate='none'), Tanh and Sigmoid.
#pragma once

#include "nn/module.hpp"

namespace tapegrad::nn {

class ReLU : public CallableModule<ReLU> {
 public:
  Tensor forward(const Tensor& x);
};

class GELU : public CallableModule<GELU> {
 public:
  Tensor forward(const Tensor& x);
};

class Tanh : public CallableModule<Tanh> {
 public:
  Tensor forward(const Tensor& x);
};

class Sigmoid : public CallableModule<Sigmoid> {
 public:
  Tensor forward(const Tensor& x);
};

}  // namespace tapegrad::nn
