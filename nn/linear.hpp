// Linear: y = x Wᵀ + b over the last dim, with PyTorch's initialisation (Kaiming-uniform with
// a = sqrt(5), which makes both W and b uniform in ±1/sqrt(in_features)). After quantize()
// (nn::quantize_dynamic does it for a whole model) it runs in int8, for inference.
#pragma once

#include "nn/module.hpp"
#include "nn/quantize.hpp"

namespace tapegrad::nn {

struct LinearOptions {
  bool bias = true;
};

class Linear : public CallableModule<Linear> {
 public:
  Linear(int64_t in_features, int64_t out_features, LinearOptions options = {});

  // [..., in_features] -> [..., out_features]; a residual (the output's shape) is added by the
  // GEMM as it stores, as in linear().
  Tensor forward(const Tensor& x, const Tensor& residual = {}) const;

  // From now on the weight is int8 (a buffer, with weight_scale beside it: nn/quantize.hpp).
  void quantize();
  bool is_quantized() const { return int8_.active(); }
  // An Error for a dtype other than float32 once quantized; else Module::to.
  void to(DType dtype) override;

  Tensor weight;  // [out_features, in_features]; int8 once quantized
  Tensor bias;    // [out_features], undefined without bias

 protected:
  void loaded() override { int8_.repack(weight); }

 private:
  Int8Weight int8_;
};

}  // namespace tapegrad::nn
