#include "nn/sequential.hpp"

namespace tapegrad::nn {

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const Layer& layer : layers_) y = layer.forward(y);
  return y;
}

Module& Sequential::operator[](int64_t index) {
  if (index < 0 || index >= size())
    fail("nn.Sequential: index {} is out of range for {} layers", index, size());
  return *layers_[static_cast<std::size_t>(index)].module;
}

}  // namespace tapegrad::nn
