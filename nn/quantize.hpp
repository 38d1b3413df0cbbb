// Post-training dynamic quantization, as PyTorch's torch.ao.quantization.quantize_dynamic:
// quantize_dynamic(model) makes, in place, every Linear of the model and the packed input
// projection of every MultiHeadAttention run in int8 (autograd/ops/quantized_linear.hpp):
// weights int8 with one scale per output channel, activations quantized per row at run time.
// Attention products, softmax, layer norm, embeddings (and a head tied to them) stay float32.
// The model is for inference from then on: its int8 weights are buffers, not parameters.
//
// The state dict of a quantized layer (safetensors dtypes), and what it replaces:
//   <linear>.weight                I8   [out_features, in_features]   was F32, same shape
//   <linear>.weight_scale          F32  [out_features]                new
//   <linear>.bias                  F32  [out_features]                unchanged
//   <attention>.in_proj_weight     I8   [3E, E]
//   <attention>.in_proj_weight_scale F32 [3E]
// A float model refuses such a file, and a quantized model a float one (Module::load names
// the dtype mismatches): to load int8 weights, build the float model, quantize it, then load.
#pragma once

#include <optional>
#include <string>

#include "autograd/ops/quantized_linear.hpp"
#include "nn/module.hpp"

namespace tapegrad::nn {

// Makes every Linear and packed attention input projection of `model` int8, as above; returns
// how many weights it quantized. An Error if the model is not float32 (int8 layers compute in
// float32: model.to(kFloat32) first) or has nothing to quantize.
int64_t quantize_dynamic(Module& model);

// The int8 products run on the fastest kernel the CPU has (checked at run time:
// kernels::fastest_int8_kernel()): AVX512-VNNI, else AVX2 (config B's forward 1.11-1.13x faster
// than float32 on an AMD EPYC Zen 3), else the scalar reference, with the same results but several
// times slower than float32 (5x on config B): quantizing there saves memory, not time. None on
// a CPU with a vector kernel; else a sentence saying so, for a program to print when it
// quantizes.
std::optional<std::string> int8_speed_warning();

// A module's weight W [N, K], used as x Wᵀ, once it is int8: its scales (registered as
// `<name>_scale`) and the packed copy the kernel reads, made again after every load.
class Int8Weight {
 public:
  bool active() const { return scale.defined(); }
  // Replaces `owner`'s float32 parameter `name` (the tensor `weight`, [N, K]) by its int8 form:
  // an int8 buffer under the same name, and its scales as a float32 buffer `<name>_scale` [N].
  void quantize(Module& owner, const std::string& name, Tensor& weight);
  // After the owner's load: packs the (new) int8 weight again.
  void repack(const Tensor& weight);
  // x Wᵀ + bias (+ residual), in int8.
  Tensor linear(const Tensor& x, const Tensor& bias, const Tensor& residual = {}) const;

  Tensor scale;  // float32 [N]; undefined while the weight is float

 private:
  std::optional<QuantizedWeight> packed_;
};

}  // namespace tapegrad::nn
