// Parity with PyTorch, in the spirit of llm.c's test_gpt2: a small Transformer classifier built
// from tapegrad's modules takes the weights PyTorch initialised, by PyTorch's names, and must
// give PyTorch's logits, loss, every parameter's gradient, and the parameters after three AdamW
// steps, in float64 and in float32.
//
// The figures come from tests/fixtures/parity_classifier.safetensors, written by
// tests/fixtures/make_parity_fixture.py (which says what the file holds; run it again with
// Debian's python3-torch after changing the model). tapegrad's modules carry PyTorch's parameter
// names, so the weights load strictly with no renaming; the sinusoidal table is a non-persistent
// buffer on both sides, absent from the file.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

constexpr int64_t kVocab = 13, kDModel = 8, kHeads = 2, kFfn = 16, kLayers = 2, kClasses = 3,
                  kMaxLen = 16;
constexpr int kAdamWSteps = 3;
constexpr optim::AdamWOptions kAdamW{.lr = 1e-2, .weight_decay = 1e-2};

struct Classifier : nn::Module {
  nn::Embedding tok{kVocab, kDModel};
  nn::SinusoidalPositionalEncoding pos{kDModel, kMaxLen};
  nn::TransformerEncoder encoder{{.d_model = kDModel,
                                  .nhead = kHeads,
                                  .dim_feedforward = kFfn,
                                  .dropout = 0.0,
                                  .activation = nn::Activation::GELU},
                                 kLayers};
  nn::Linear head{kDModel, kClasses};
  Classifier() {
    register_modules({{"tok", tok}, {"pos", pos}, {"encoder", encoder}, {"head", head}});
  }

  // ids int64 [B, T], mask bool [B, T] (true = a real token) -> logits [B, classes]
  Tensor forward(const Tensor& ids, const Tensor& mask) {
    const Tensor h = encoder(pos(tok(ids)), {.src_key_padding_mask = mask});  // [B, T, C]
    return head(nn::masked_mean(h, mask));
  }
};

const TensorFile& fixture() {
  static const TensorFile file = load_safetensors(TAPEGRAD_PARITY_FIXTURE);
  return file;
}

// The fixture's tensors whose names start with `prefix`, by the rest of their names.
std::map<std::string, Tensor> with_prefix(const std::string& prefix) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, tensor] : fixture().tensors)
    if (name.starts_with(prefix)) tensors.emplace(name.substr(prefix.size()), tensor);
  REQUIRE_MESSAGE(!tensors.empty(), "no tensor named ", prefix, "* in ", TAPEGRAD_PARITY_FIXTURE);
  return tensors;
}

// |actual - expected| <= tolerance · max(|expected|, 1e-2) for every element: relative, and
// absolute for values near 0 (such as the key part of in_proj_bias's gradient, which is 0
// mathematically: softmax ignores a shift of all its scores).
void check_close(const std::string& what, const Tensor& actual, const Tensor& expected,
                 double tolerance) {
  INFO(what);
  REQUIRE(actual.shape() == expected.shape());
  REQUIRE(actual.dtype() == expected.dtype());
  const std::vector<double> a = actual.to_vector(), e = expected.to_vector();
  double worst = 0;  // the largest error, relative to what is allowed
  std::size_t worst_index = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double ratio = std::abs(a[i] - e[i]) / (tolerance * std::max(std::abs(e[i]), 1e-2));
    if (!(ratio <= worst)) {  // NaN counts as the worst
      worst = ratio;
      worst_index = i;
    }
  }
  INFO("element ", worst_index, ": tapegrad ", a[worst_index], ", PyTorch ", e[worst_index]);
  CHECK(worst <= 1.0);
}

// Tolerances of one dtype's run (see check_close).
struct Tolerances {
  double forward;   // logits and loss
  double gradient;  // every parameter's gradient
  // The parameters after AdamW: its update divides by √v, so where a gradient is small its
  // rounding error weighs more than in the gradient itself.
  double adamw;
};

// The parity run for one dtype ("f64" or "f32" in the fixture's names).
void check_parity(DType dtype, const std::string& prefix, const Tolerances& tolerance) {
  Classifier model;
  model.to(dtype);
  const nn::LoadResult loaded =
      model.load_state_dict(with_prefix(prefix + ".weights."), /*strict=*/true, prefix);
  CHECK(loaded.missing_keys.empty());
  CHECK(loaded.unexpected_keys.empty());
  const Tensor ids = fixture().tensors.at("ids"), mask = fixture().tensors.at("mask"),
               labels = fixture().tensors.at("labels");

  const Tensor logits = model.forward(ids, mask);
  const Tensor loss = cross_entropy(logits, labels);
  check_close("logits", logits, fixture().tensors.at(prefix + ".logits"), tolerance.forward);
  check_close("loss", loss.reshape({1}), fixture().tensors.at(prefix + ".loss"), tolerance.forward);

  loss.backward();
  const std::map<std::string, Tensor> gradients = with_prefix(prefix + ".grad.");
  REQUIRE(gradients.size() == model.parameters().size());
  for (const auto& [name, parameter] : model.named_parameters())
    check_close("gradient of " + name, parameter.grad(), gradients.at(name), tolerance.gradient);

  optim::AdamW adamw(model.parameters(), kAdamW);
  for (int step = 0; step < kAdamWSteps; ++step) {
    if (step > 0) {  // the first step takes the gradients above
      adamw.zero_grad();
      cross_entropy(model.forward(ids, mask), labels).backward();
    }
    adamw.step();
  }
  const std::map<std::string, Tensor> trained = with_prefix(prefix + ".adamw.");
  for (const auto& [name, trained_parameter] : model.named_parameters()) {
    const Tensor parameter = trained_parameter.detach();
    const Tensor& expected = trained.at(name);
    if (dtype == kFloat32 && name.ends_with("in_proj_bias")) {
      // The key part's gradient is rounding noise (~1e-9 in float32), which Adam divides by its
      // own size: that part moves by up to lr per step, differently on each side. Only the
      // query and value parts can be compared; the key part is checked to stay within the bound.
      const Tensor query = narrow(parameter, 0, 0, kDModel),
                   key = narrow(parameter, 0, kDModel, kDModel),
                   value = narrow(parameter, 0, 2 * kDModel, kDModel);
      check_close("AdamW's " + name + " (query)", query, narrow(expected, 0, 0, kDModel),
                  tolerance.adamw);
      check_close("AdamW's " + name + " (value)", value, narrow(expected, 0, 2 * kDModel, kDModel),
                  tolerance.adamw);
      const double bound = 2 * kAdamW.lr * kAdamWSteps;
      CHECK(max(abs(key - narrow(expected, 0, kDModel, kDModel))).item() <= bound);
      continue;
    }
    check_close("AdamW's " + name, parameter, expected, tolerance.adamw);
  }
}

}  // namespace

TEST_CASE("parity with PyTorch: a Transformer classifier in float64") {
  check_parity(kFloat64, "f64", {.forward = 1e-10, .gradient = 1e-8, .adamw = 1e-8});
}

TEST_CASE("parity with PyTorch: a Transformer classifier in float32") {
  check_parity(kFloat32, "f32", {.forward = 1e-5, .gradient = 1e-5, .adamw = 1e-4});
}
