// Dynamic int8 quantization of whole models (nn/quantize.hpp): which weights it makes int8, each
// layer against the op, the model against its float self, cached decoding, save and load of the
// int8 state dict (and the refusals between float and int8 files), and the errors.
#include <doctest/doctest.h>

#include "autograd/autograd.hpp"
#include "autograd/io/safetensors.hpp"
#include "nn/nn.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;
using namespace tapegrad::nn;

namespace {

// An encoder of two post-LN layers and a Linear head, in eval mode: the classifier's shape.
struct Encoder : CallableModule<Encoder> {
  TransformerEncoder encoder{{.d_model = 16, .nhead = 2, .dim_feedforward = 32}, 2};
  Linear head{16, 3};
  explicit Encoder(uint64_t seed = 0) {
    manual_seed(seed);
    register_modules({{"encoder", encoder}, {"head", head}});
    for (auto& [name, parameter] : named_parameters())
      copy_into(parameter, randn(parameter.shape()) * 0.3);  // LayerNorms and biases too
    eval();
  }
  Tensor forward(const Tensor& x) { return head(encoder(x)); }
};

double largest_difference(const Tensor& a, const Tensor& b) { return max(abs(a - b)).item(); }

}  // namespace

TEST_CASE("quantize_dynamic: every Linear and packed in_proj_weight becomes int8, the rest stays") {
  Encoder model;
  const int64_t float_parameters = model.num_parameters();
  // Per layer: self_attn.in_proj_weight, self_attn.out_proj, linear1, linear2; and the head.
  CHECK(quantize_dynamic(model) == 9);
  const std::map<std::string, Tensor> state = model.state_dict();
  for (const std::string layer : {"encoder.layers.0.", "encoder.layers.1."}) {
    for (const std::string weight : {"self_attn.in_proj_weight", "self_attn.out_proj.weight",
                                     "linear1.weight", "linear2.weight"}) {
      CAPTURE(layer + weight);
      CHECK(state.at(layer + weight).dtype() == kInt8);
      CHECK(state.at(layer + weight + "_scale").dtype() == kFloat32);
      CHECK(state.at(layer + weight + "_scale").shape() == Shape{state.at(layer + weight).size(0)});
    }
    CHECK(state.at(layer + "norm1.weight").dtype() == kFloat32);
    CHECK(state.at(layer + "self_attn.in_proj_bias").dtype() == kFloat32);
  }
  CHECK(state.at("head.weight").dtype() == kInt8);
  // The int8 weights are buffers: what is left to train is biases and layer norms.
  for (const auto& [name, parameter] : model.named_parameters()) {
    CAPTURE(name);
    CHECK(parameter.dtype() == kFloat32);
    CHECK(name.find("weight_scale") == std::string::npos);
  }
  CHECK(model.num_parameters() ==
        float_parameters - 2 * (48 * 16 + 16 * 16 + 32 * 16 + 16 * 32) - 3 * 16);
}

TEST_CASE("int8_speed_warning: said exactly where the int8 products have no fast kernel") {
  const std::optional<std::string> warning = nn::int8_speed_warning();
  const bool fast_kernel = kernels::fastest_int8_kernel() != kernels::Int8Kernel::scalar;
  CHECK(warning.has_value() == !fast_kernel);
  if (warning) CHECK(warning->find("slower than float32") != std::string::npos);
}

TEST_CASE("quantize_dynamic: a layer computes what quantized_linear computes on its float weight") {
  manual_seed(3);
  Linear layer(24, 10);
  const Tensor float_weight = clone(layer.weight.detach());
  const Tensor x = randn({2, 5, 24}), residual = randn({2, 5, 10});
  layer.quantize();
  CHECK(layer.is_quantized());
  const QuantizedWeight expected = quantize_weight(float_weight);
  CHECK(largest_difference(layer(x), quantized_linear(x, expected, layer.bias)) == 0);
  CHECK(largest_difference(layer(x, residual),
                           quantized_linear(x, expected, layer.bias) + residual) <= 1e-6);
}

TEST_CASE("quantize_dynamic: the int8 model stays near the float one") {
  const NoGradGuard no_grad;  // the layer norms' and biases' parameters still require grad
  Encoder model;
  manual_seed(4);
  const Tensor x = randn({3, 7, 16});
  const Tensor float_output = model(x);
  quantize_dynamic(model);
  const Tensor int8_output = model(x);
  const double difference = largest_difference(int8_output, float_output);
  const double size = max(abs(float_output)).item();
  CAPTURE(difference);
  CAPTURE(size);
  CHECK(difference > 0);  // it did change the computation
  CHECK(difference <= 0.03 * size);
}

TEST_CASE("quantize_dynamic: cross-attention on a quantized packed projection") {
  const NoGradGuard no_grad;
  manual_seed(5);
  MultiHeadAttention attention(8, 2);
  attention.eval();
  const Tensor query = randn({2, 3, 8}), memory = randn({2, 5, 8});
  const Tensor float_output = attention(query, memory, memory).output;
  quantize_dynamic(attention);
  const Tensor int8_output = attention(query, memory, memory).output;
  // Self-attention through the packed [q | k | v] rows and cross-attention through each section
  // agree when query, key and value are one tensor passed as three copies.
  const Tensor copy = clone(query);
  CHECK(largest_difference(attention(query, query, query).output,
                           attention(query, copy, clone(query)).output) <= 1e-6);
  CHECK(largest_difference(int8_output, float_output) <= 0.05 * max(abs(float_output)).item());
}

TEST_CASE("quantize_dynamic: cached decoding of an int8 language model equals its full forward") {
  // Activations are quantized per row, so a token's row gets the same int8 values whether it
  // comes alone or with the others: only float summation order differs.
  const NoGradGuard no_grad;
  manual_seed(6);
  DecoderLM model({.vocab_size = 11,
                   .max_len = 12,
                   .d_model = 16,
                   .nhead = 2,
                   .num_layers = 2,
                   .tie_weights = false});
  model.eval();
  quantize_dynamic(model);
  CHECK(model.lm_head->is_quantized());
  const Tensor ids = from_vector(std::vector<int64_t>{1, 4, 2, 9, 7, 3, 3, 10}, {1, 8});
  const Tensor full = model(ids);
  std::vector<KVCache> cache = model.make_cache(1);
  std::vector<Tensor> pieces{model(narrow(ids, 1, 0, 5).contiguous(), cache)};
  for (int64_t t = 5; t < 8; ++t) pieces.push_back(model(narrow(ids, 1, t, 1).contiguous(), cache));
  CHECK(largest_difference(cat(pieces, 1), full) <= 1e-4 * max(abs(full)).item());
}

TEST_CASE("quantize_dynamic: int8 state dicts save and load, float and int8 refuse each other") {
  const testing::ScratchDirectory directory;
  Encoder model(7);
  model.save(directory / "float.safetensors");
  quantize_dynamic(model);
  model.save(directory / "int8.safetensors");
  const auto file = load_safetensors(directory / "int8.safetensors");
  CHECK(file.tensors.at("head.weight").dtype() == kInt8);
  CHECK(file.tensors.at("head.weight_scale").dtype() == kFloat32);
  // Weights of 16 x 48 and the like: the int8 file is under half the float one (biases, layer
  // norms and the scales stay 4 bytes).
  CHECK(std::filesystem::file_size(directory / "int8.safetensors") * 2 <
        std::filesystem::file_size(directory / "float.safetensors"));

  manual_seed(8);
  const Tensor x = randn({2, 6, 16});
  const NoGradGuard no_grad;
  Encoder other(9);  // other weights, quantized, then the file's
  quantize_dynamic(other);
  CHECK(largest_difference(other(x), model(x)) > 0);
  other.load(directory / "int8.safetensors");  // repacks every int8 weight
  CHECK(largest_difference(other(x), model(x)) == 0);

  Encoder float_model(9);
  CHECK_THROWS_WITH_AS(
      float_model.load(directory / "int8.safetensors"),
      doctest::Contains("encoder.layers.0.linear1.weight (file int8, model float32)"), Error);
  CHECK_THROWS_WITH_AS(float_model.load(directory / "int8.safetensors"),
                       doctest::Contains("int8 weights load into a model made int8 by "
                                         "nn::quantize_dynamic"),
                       Error);
  CHECK_THROWS_WITH_AS(
      other.load(directory / "float.safetensors"),
      doctest::Contains("encoder.layers.0.linear1.weight (file float32, model int8)"), Error);
}

TEST_CASE("quantize_dynamic: errors say what to do") {
  Encoder float64_model;
  float64_model.to(kFloat64);
  CHECK_THROWS_WITH_AS(quantize_dynamic(float64_model),
                       doctest::Contains("is float64; int8 layers compute in float32: call "
                                         "model.to(kFloat32) first"),
                       Error);
  LayerNorm norm(4);
  CHECK_THROWS_WITH_AS(quantize_dynamic(norm), doctest::Contains("no float Linear"), Error);

  Encoder model;
  quantize_dynamic(model);
  CHECK_THROWS_WITH_AS(quantize_dynamic(model), doctest::Contains("left to quantize"), Error);
  CHECK_THROWS_WITH_AS(model.to(kFloat64),
                       doctest::Contains("to(float64): an int8 projection computes in float32"),
                       Error);
  Linear int8_linear(4, 3);
  int8_linear.quantize();
  int8_linear.to(kFloat32);  // what it computes in already: allowed
  CHECK_THROWS_WITH_AS(
      int8_linear.to(kFloat64),
      doctest::Contains("nn.Linear: to(float64): an int8 layer computes in float32"), Error);
  CHECK_THROWS_WITH_AS(model.encoder.layers[0].self_attn.prune_heads({0}),
                       doctest::Contains("prune the float model, then quantize it"), Error);
  // either projection int8 alone is refused too
  MultiHeadAttention int8_in(8, 2), int8_out(8, 2);
  int8_in.quantize();
  int8_out.out_proj.quantize();
  for (MultiHeadAttention* attention : {&int8_in, &int8_out})
    CHECK_THROWS_WITH_AS(attention->prune_heads({0}),
                         doctest::Contains("prune the float model, then quantize it"), Error);
  CHECK_THROWS_WITH_AS(model(randn({1, 2, 16}, {.requires_grad = true})),
                       doctest::Contains("run it under NoGradGuard"), Error);
  MultiHeadAttention separate(8, 2, {.kdim = 4, .vdim = 4});
  CHECK_THROWS_WITH_AS(separate.quantize(), doctest::Contains("no packed in_proj_weight"), Error);
}
