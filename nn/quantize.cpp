#include "nn/quantize.hpp"

#include "autograd/kernels/gemm_int8.hpp"
#include "nn/linear.hpp"
#include "nn/multi_head_attention.hpp"

namespace tapegrad::nn {
namespace {

int64_t quantize_tree(Module& module) {
  int64_t quantized = 0;
  if (auto* linear = dynamic_cast<Linear*>(&module); linear && !linear->is_quantized()) {
    linear->quantize();
    ++quantized;
  }
  if (auto* attention = dynamic_cast<MultiHeadAttention*>(&module);
      attention && attention->in_proj_weight.defined() && !attention->is_quantized()) {
    attention->quantize();
    ++quantized;
  }
  for (Module* child : module.children()) quantized += quantize_tree(*child);
  return quantized;
}

}  // namespace

std::optional<std::string> int8_speed_warning() {
  if (kernels::fastest_int8_kernel() != kernels::Int8Kernel::scalar) return std::nullopt;
  return "this CPU has neither AVX512-VNNI nor AVX2, so the int8 products run on the scalar "
         "reference kernel: the same results, but slower than float32; quantizing saves memory "
         "here, not time";
}

int64_t quantize_dynamic(Module& model) {
  for (const auto& [name, parameter] : model.named_parameters())
    if (parameter.dtype() != kFloat32)
      fail(
          "quantize_dynamic: parameter {} is {}; int8 layers compute in float32: call "
          "model.to(kFloat32) first",
          name, parameter.dtype());
  const int64_t quantized = quantize_tree(model);
  if (quantized == 0)
    fail(
        "quantize_dynamic: the model has no float Linear or packed MultiHeadAttention projection "
        "left to quantize");
  return quantized;
}

void Int8Weight::quantize(Module& owner, const std::string& name, Tensor& weight) {
  if (active()) fail("Int8Weight: {} is int8 already", name);
  if (weight.dtype() != kFloat32)
    fail("quantize_dynamic: {} is {}; int8 layers compute in float32", name, weight.dtype());
  QuantizedWeight quantized = quantize_weight(weight.detach());
  weight = quantized.weight;
  scale = quantized.scale;
  owner.convert_parameter_to_buffer(name);
  owner.register_buffer(name + "_scale", scale);
  packed_ = std::move(quantized);
}

void Int8Weight::repack(const Tensor& weight) {
  if (active()) packed_ = quantized_weight(weight, scale);
}

Tensor Int8Weight::linear(const Tensor& x, const Tensor& bias, const Tensor& residual) const {
  return quantized_linear(x, *packed_, bias, residual);
}

}  // namespace tapegrad::nn
