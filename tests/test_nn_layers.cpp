// nn layers: a `gradcheck nn.<Module>` case per module, checking the inputs and every parameter
// in float64, then forward values and one CHECK_THROWS_WITH_AS per error the module raises.
//
// Adding a module: a `gradcheck nn.<Module>` case through gradcheck_module (it converts the
// module to float64 and checks its parameters with the inputs), a case for its forward values,
// and one CHECK_THROWS_WITH_AS per error it raises.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "nn/nn.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

using Inputs = const std::vector<Tensor>&;

// gradcheck of forward(inputs) with respect to the inputs and every parameter of `module`, in
// float64. gradcheck perturbs the parameters in place, where the module reads them.
bool gradcheck_module(nn::Module& module, const std::vector<Tensor>& inputs,
                      const std::function<Tensor(Inputs)>& forward) {
  module.to(kFloat64);
  std::vector<Tensor> checked = module.parameters();
  for (const Tensor& p : checked) REQUIRE(p.requires_grad());  // else gradcheck would skip it
  checked.insert(checked.end(), inputs.begin(), inputs.end());
  return gradcheck([&](Inputs) { return forward(inputs); }, checked);
}

Tensor ids(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape);
}

}  // namespace

// ---- Linear ----

TEST_CASE("gradcheck nn.Linear") {
  nn::Linear linear(3, 4);
  REQUIRE(linear.parameters().size() == 2);
  CHECK(gradcheck_module(linear, {testing::input({2, 5, 3})},
                         [&](Inputs in) { return linear(in[0]); }));
}

TEST_CASE("nn.Linear computes x Wᵀ + b") {
  nn::Linear linear(3, 2);
  copy_into(linear.weight, tensor({{1, 0, -1}, {2, 1, 0.5}}));
  copy_into(linear.bias, tensor({0.5, -1}));
  // [1, 2, 3]·[1, 0, -1] + 0.5 = -1.5;  [1, 2, 3]·[2, 1, 0.5] - 1 = 4.5
  testing::check_values(linear(tensor({{1, 2, 3}})), {-1.5, 4.5});
}

TEST_CASE("nn.Linear without bias has one parameter") {
  nn::Linear linear(3, 2, {.bias = false});
  CHECK_FALSE(linear.bias.defined());
  REQUIRE(linear.named_parameters().size() == 1);
  CHECK(linear.named_parameters()[0].first == "weight");
}

TEST_CASE("nn.Linear initialises weight and bias in ±1/sqrt(in_features)") {
  manual_seed(0);
  nn::Linear linear(16, 32);
  const double bound = 1.0 / std::sqrt(16.0);
  for (const Tensor& p : {linear.weight, linear.bias}) {
    double largest = 0;
    for (double v : p.to_vector()) largest = std::max(largest, std::abs(v));
    CHECK(largest <= bound);
    CHECK(largest > 0.8 * bound);  // spread over the whole range, not a narrower one
  }
}

TEST_CASE("nn.Linear errors") {
  CHECK_THROWS_WITH_AS(nn::Linear(0, 2), doctest::Contains("in_features 0 and out_features 2"),
                       Error);
  nn::Linear linear(3, 2);
  CHECK_THROWS_WITH_AS(linear(zeros({4, 5})),
                       doctest::Contains("input of shape [4, 5] does not end in in_features 3"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(zeros({})),
                       doctest::Contains("input of shape [] does not end in in_features 3"), Error);
}

// ---- LayerNorm ----

TEST_CASE("gradcheck nn.LayerNorm") {
  nn::LayerNorm norm(5);
  copy_into(norm.weight, randn({5}));  // away from the initial 1 and 0, to check both gradients
  copy_into(norm.bias, randn({5}));
  REQUIRE(norm.parameters().size() == 2);
  CHECK(
      gradcheck_module(norm, {testing::input({2, 3, 5})}, [&](Inputs in) { return norm(in[0]); }));
}

TEST_CASE("nn.LayerNorm output has mean 0 and variance 1 per row") {
  nn::LayerNorm norm(8);
  const Tensor x = randn({3, 8}) * 3.0 + 5.0;
  const Tensor y = norm(x);
  testing::check_values(mean(y, {-1}), {0, 0, 0}, 1e-5);
  testing::check_values(var(y, {-1}, /*correction=*/0), {1, 1, 1}, 1e-4);
}

TEST_CASE("nn.LayerNorm errors") {
  CHECK_THROWS_WITH_AS(nn::LayerNorm(Shape{}), doctest::Contains("normalized_shape [] must be"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::LayerNorm(Shape{4, 0}),
                       doctest::Contains("normalized_shape [4, 0] must be"), Error);
}

// ---- Dropout ----

TEST_CASE("gradcheck nn.Dropout") {
  nn::Dropout drop(0.5);
  const Tensor x = testing::input({4, 5});
  const auto forward = [&](Inputs in) {
    manual_seed(3);  // the same mask for every evaluation
    return drop(in[0]);
  };
  // The mask is not trivial: some elements dropped, the others scaled by 1/(1-p) = 2.
  const std::vector<double> in = x.to_vector(), out = forward({x}).to_vector();
  int dropped = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (out[i] == 0)
      ++dropped;
    else
      CHECK(out[i] == doctest::Approx(2 * in[i]));
  }
  CHECK(dropped > 0);
  CHECK(dropped < 20);
  CHECK(gradcheck_module(drop, {x}, forward));
}

TEST_CASE("nn.Dropout is the identity in eval mode") {
  nn::Dropout drop(0.5);
  drop.eval();
  const Tensor x = randn({3, 4});
  testing::check_values(drop(x), x.to_vector(), 0);
}

TEST_CASE("nn.Dropout errors") {
  CHECK_THROWS_WITH_AS(nn::Dropout(1.5), doctest::Contains("p 1.5 is not a probability"), Error);
}

// ---- Embedding ----

TEST_CASE("gradcheck nn.Embedding") {
  SUBCASE("without padding_idx") {
    nn::Embedding embed(5, 3);
    const Tensor index = ids({0, 2, 4, 2, 1, 0}, {2, 3});
    CHECK(gradcheck_module(embed, {}, [&](Inputs) { return embed(index); }));
  }
  SUBCASE("with padding_idx: the other rows") {
    // The padding row's gradient is zero by rule (checked by value below), while its numeric
    // derivative is not; masking its positions out of the output checks every other row with
    // padding ids present.
    nn::Embedding embed(5, 3, {.padding_idx = 1});
    const Tensor index = ids({0, 1, 4, 1, 2, 0}, {2, 3});
    const Tensor keep = tensor({{{1}, {0}, {1}}, {{0}, {1}, {1}}}, {.dtype = kFloat64});
    CHECK(gradcheck_module(embed, {}, [&](Inputs) { return embed(index) * keep; }));
  }
}

TEST_CASE("nn.Embedding padding row: zero at init and zero gradient") {
  nn::Embedding embed(5, 2, {.padding_idx = -4});  // counts from the end: row 1
  REQUIRE(embed.options.padding_idx == 1);
  testing::check_values(narrow(embed.weight, 0, 1, 1), {0, 0}, 0);
  embed(ids({0, 1, 4, 1, 1, 0}, {2, 3})).sum().backward();
  // Each row's gradient counts its uses: row 0 twice, row 4 once, the padding row never.
  testing::check_values(embed.weight.grad(), {2, 2, 0, 0, 0, 0, 0, 0, 1, 1}, 0);
}

TEST_CASE("nn.Embedding looks up rows") {
  nn::Embedding embed(4, 3);
  const Tensor out = embed(ids({3, 0, 3}, {1, 3}));
  CHECK(out.shape() == Shape{1, 3, 3});
  for (int64_t t = 0; t < 3; ++t) {
    const int64_t row = t == 1 ? 0 : 3;
    for (int64_t j = 0; j < 3; ++j) CHECK(out.at({0, t, j}) == embed.weight.at({row, j}));
  }
}

TEST_CASE("nn.Embedding weight is N(0, 1)") {
  manual_seed(0);
  nn::Embedding embed(1000, 16);
  CHECK(std::abs(embed.weight.mean().item()) < 0.03);
  CHECK(std::sqrt(var(embed.weight, {}).item()) == doctest::Approx(1).epsilon(0.02));
}

TEST_CASE("nn.Embedding errors") {
  CHECK_THROWS_WITH_AS(nn::Embedding(0, 3),
                       doctest::Contains("num_embeddings 0 and embedding_dim 3"), Error);
  CHECK_THROWS_WITH_AS(nn::Embedding(5, 3, {.padding_idx = 5}),
                       doctest::Contains("padding_idx 5 is out of range for 5 embeddings"), Error);
  CHECK_THROWS_WITH_AS(nn::Embedding(5, 3, {.padding_idx = -6}),
                       doctest::Contains("padding_idx -6 is out of range for 5 embeddings"), Error);
  // the ends of the range, as in PyTorch: -5 is row 0, 4 the last row
  CHECK(nn::Embedding(5, 3, {.padding_idx = -5}).options.padding_idx == 0);
  CHECK(nn::Embedding(5, 3, {.padding_idx = 4}).options.padding_idx == 4);
}

// ---- positional encodings ----

TEST_CASE("gradcheck nn.SinusoidalPositionalEncoding") {
  nn::SinusoidalPositionalEncoding position(6, /*max_len=*/10, /*dropout=*/0.2);
  CHECK(gradcheck_module(position, {testing::input({2, 4, 6})}, [&](Inputs in) {
    manual_seed(5);  // the same dropout mask for every evaluation
    return position(in[0]);
  }));
}

TEST_CASE("nn.SinusoidalPositionalEncoding table") {
  nn::SinusoidalPositionalEncoding position(4, /*max_len=*/8);
  CHECK(position.named_buffers().size() == 1);
  CHECK(position.parameters().empty());
  // pe[pos, 2i] = sin(pos / 10000^(2i/4)), pe[pos, 2i+1] = cos(...): 10000^(2/4) = 100.
  testing::check_values(narrow(position.pe, 0, 0, 2),
                        {0, 1, 0, 1, std::sin(1.0), std::cos(1.0), std::sin(0.01), std::cos(0.01)},
                        1e-6);
  CHECK(position.pe.at({3, 2}) == doctest::Approx(0.0299955).epsilon(1e-5));
  CHECK(position.pe.at({7, 1}) == doctest::Approx(0.7539023).epsilon(1e-5));  // cos(7)

  // x + pe[:T], broadcast over the batch.
  const Tensor out = position(zeros({2, 3, 4}));
  testing::check_values(narrow(out, 0, 1, 1), narrow(position.pe, 0, 0, 3).to_vector(), 0);
  testing::check_values(position(zeros({3, 4})), narrow(position.pe, 0, 0, 3).to_vector(), 0);

  nn::SinusoidalPositionalEncoding odd(5, /*max_len=*/4);  // an odd d_model ends with a sin
  CHECK(odd.pe.at({2, 4}) == doctest::Approx(std::sin(2 / std::pow(10000.0, 0.8))).epsilon(1e-5));
}

TEST_CASE("nn.SinusoidalPositionalEncoding computes its table in float64, whatever its dtype") {
  constexpr int64_t kMaxLen = 50, kDModel = 6;
  // The closed form in float64: sin(pos / 10000^(2i/d)) at 2i, cos at 2i + 1.
  std::vector<double> closed_form;
  for (int64_t pos = 0; pos < kMaxLen; ++pos)
    for (int64_t j = 0; j < kDModel; ++j) {
      const double angle =
          static_cast<double>(pos) / std::pow(10000.0, static_cast<double>(j - j % 2) / kDModel);
      closed_form.push_back(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  std::vector<double> rounded_to_float;
  for (double value : closed_form) rounded_to_float.push_back(static_cast<float>(value));

  nn::SinusoidalPositionalEncoding position(kDModel, kMaxLen);
  CHECK(position.pe.dtype() == kFloat32);
  testing::check_values(position.pe, rounded_to_float, 0);
  const Tensor held = position.pe;
  for (int round = 0; round < 2; ++round) {  // float64 -> float32 -> float64 loses nothing
    position.to(kFloat64);
    CHECK(held.dtype() == kFloat64);
    testing::check_values(held, closed_form, 1e-15);
    position.to(kFloat32);
    testing::check_values(held, rounded_to_float, 0);
  }
  CHECK(position.state_dict().empty());  // a computed table: a non-persistent buffer
}

TEST_CASE("nn.SinusoidalPositionalEncoding errors") {
  nn::SinusoidalPositionalEncoding position(4, /*max_len=*/3);
  CHECK_THROWS_WITH_AS(position(zeros({1, 5, 4})),
                       doctest::Contains("T = 5 (input shape [1, 5, 4]) exceeds max_len 3"), Error);
  CHECK_THROWS_WITH_AS(position(zeros({1, 2, 6})),
                       doctest::Contains("input of shape [1, 2, 6] is not [..., T, d_model = 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(position(zeros({4})),
                       doctest::Contains("input of shape [4] is not [..., T, d_model = 4]"), Error);
  CHECK_THROWS_WITH_AS(nn::SinusoidalPositionalEncoding(0),
                       doctest::Contains("max_len 5000 and d_model 0 must be positive"), Error);
}

TEST_CASE("gradcheck nn.LearnedPositionalEmbedding") {
  nn::LearnedPositionalEmbedding position(/*max_len=*/6, /*d_model=*/4);
  REQUIRE(position.parameters().size() == 1);
  CHECK(gradcheck_module(position, {testing::input({2, 3, 4})},
                         [&](Inputs in) { return position(in[0]); }));
}

TEST_CASE(
    "nn.LearnedPositionalEmbedding adds the first T rows, initialised "
    "N(0, 0.02²)") {
  manual_seed(0);
  nn::LearnedPositionalEmbedding position(/*max_len=*/1000, /*d_model=*/16);
  CHECK(std::sqrt(var(position.weight, {}).item()) == doctest::Approx(0.02).epsilon(0.05));
  const Tensor out = position(ones({2, 3, 16}));
  testing::check_values(narrow(out, 0, 1, 1), (narrow(position.weight, 0, 0, 3) + 1.0).to_vector(),
                        1e-6);
}

TEST_CASE("nn.LearnedPositionalEmbedding errors") {
  nn::LearnedPositionalEmbedding position(/*max_len=*/2, /*d_model=*/4);
  CHECK_THROWS_WITH_AS(position(zeros({1, 3, 4})),
                       doctest::Contains("T = 3 (input shape [1, 3, 4]) exceeds max_len 2"), Error);
}

// ---- Sequential ----

TEST_CASE("gradcheck nn.Sequential") {
  nn::Sequential mlp;
  mlp.emplace<nn::Linear>(3, 4);
  mlp.emplace<nn::Tanh>();
  mlp.emplace<nn::Linear>(4, 2);
  REQUIRE(mlp.parameters().size() == 4);
  CHECK(gradcheck_module(mlp, {testing::input({5, 3})}, [&](Inputs in) { return mlp(in[0]); }));
}

TEST_CASE("nn.Sequential runs its layers in order") {
  nn::Sequential mlp;
  nn::Linear& first = mlp.emplace<nn::Linear>(3, 4);
  mlp.emplace<nn::ReLU>();
  nn::Linear& last = mlp.emplace<nn::Linear>(4, 2);
  CHECK(mlp.size() == 3);
  CHECK(&mlp[0] == &first);
  CHECK(&mlp[2] == &last);
  const Tensor x = randn({5, 3});
  testing::check_values(mlp(x), last(relu(first(x))).to_vector(), 0);

  nn::Sequential empty;
  testing::check_values(empty(x), x.to_vector(), 0);
}

TEST_CASE("nn.Sequential errors") {
  nn::Sequential mlp;
  mlp.emplace<nn::ReLU>();
  CHECK_THROWS_WITH_AS(mlp[1], doctest::Contains("index 1 is out of range for 1 layers"), Error);
  CHECK_THROWS_WITH_AS(mlp[-1], doctest::Contains("index -1 is out of range for 1 layers"), Error);
}

TEST_CASE("nn.ModuleList holds modules of one type or of any") {
  nn::ModuleList<nn::Linear> linears;
  linears.emplace(2, 3);
  linears.emplace(3, 4, nn::LinearOptions{.bias = false});
  CHECK(linears.size() == 2);
  CHECK(linears[1].weight.shape() == Shape{4, 3});
  int64_t count = 0;
  for (nn::Linear& linear : linears) count += linear.weight.size(0);
  CHECK(count == 7);

  nn::ModuleList<> any;
  any.emplace<nn::ReLU>();
  nn::LayerNorm& norm = any.emplace<nn::LayerNorm>(4);
  CHECK(&any[1] == &norm);
  CHECK_THROWS_WITH_AS(any[2], doctest::Contains("index 2 is out of range for 2 modules"), Error);
}

// ---- activations ----

// An activation has no parameters: its gradcheck is the one of its function.
template <class Activation>
void gradcheck_activation() {
  Activation activation;
  CHECK(gradcheck_module(activation, {testing::input({3, 4})},
                         [&](Inputs in) { return activation(in[0]); }));
}

TEST_CASE("gradcheck nn.ReLU") { gradcheck_activation<nn::ReLU>(); }
TEST_CASE("gradcheck nn.GELU") { gradcheck_activation<nn::GELU>(); }
TEST_CASE("gradcheck nn.Tanh") { gradcheck_activation<nn::Tanh>(); }
TEST_CASE("gradcheck nn.Sigmoid") { gradcheck_activation<nn::Sigmoid>(); }

TEST_CASE("activation modules compute their functions") {
  const Tensor x = tensor({-1, 0, 1});
  testing::check_values(nn::ReLU()(x), {0, 0, 1}, 0);
  testing::check_values(nn::GELU()(x), {-0.158655, 0, 0.841345}, 1e-6);  // x·Φ(x)
  testing::check_values(nn::Tanh()(x), {-0.761594, 0, 0.761594}, 1e-6);
  testing::check_values(nn::Sigmoid()(x), {0.268941, 0.5, 0.731059}, 1e-6);
}

// ---- losses ----

TEST_CASE("gradcheck nn.CrossEntropyLoss") {
  nn::CrossEntropyLoss criterion({.weight = tensor({1, 2, 0.5}), .label_smoothing = 0.1});
  const Tensor target = ids({0, 2, 1, 2}, {4});
  CHECK(gradcheck_module(criterion, {testing::input({4, 3})},
                         [&](Inputs in) { return criterion(in[0], target); }));
}

TEST_CASE("gradcheck nn.BCEWithLogitsLoss") {
  nn::BCEWithLogitsLoss criterion({.pos_weight = tensor({0.5, 1, 3})});
  const Tensor targets = testing::input_in({4, 3}, 0, 1, 2).detach();
  CHECK(gradcheck_module(criterion, {testing::input({4, 3})},
                         [&](Inputs in) { return criterion(in[0], targets); }));
}

TEST_CASE("gradcheck nn.MSELoss") {
  nn::MSELoss criterion({.reduction = Reduction::Sum});
  CHECK(gradcheck_module(criterion, {testing::input({4, 3}), testing::input({4, 3}, 2)},
                         [&](Inputs in) { return criterion(in[0], in[1]); }));
}

TEST_CASE("loss modules pass their options through") {
  const Tensor logits = randn({4, 3}), target = ids({0, 2, 1, 2}, {4});
  const CrossEntropyOptions smoothed{.weight = tensor({1, 2, 0.5}), .label_smoothing = 0.1};
  CHECK(nn::CrossEntropyLoss(smoothed)(logits, target).item() ==
        cross_entropy(logits, target, smoothed).item());
  CHECK(nn::CrossEntropyLoss()(logits, target).item() !=
        cross_entropy(logits, target, smoothed).item());

  nn::CrossEntropyLoss weighted(smoothed);
  REQUIRE(weighted.named_buffers().size() == 1);
  weighted.to(kFloat64);
  CHECK(weighted.options.weight.dtype() == kFloat64);

  const Tensor probabilities = rand({4, 3});
  const BCEWithLogitsOptions positive{.pos_weight = tensor({0.5, 1, 3}),
                                      .reduction = Reduction::Sum};
  CHECK(nn::BCEWithLogitsLoss(positive)(logits, probabilities).item() ==
        binary_cross_entropy_with_logits(logits, probabilities, positive).item());

  // mean((1 - 0)², (3 - 1)²) = 2.5, and their sum 5.
  const Tensor a = tensor({1, 3}), b = tensor({0, 1});
  CHECK(nn::MSELoss()(a, b).item() == doctest::Approx(2.5));
  CHECK(nn::MSELoss({.reduction = Reduction::Sum})(a, b).item() == doctest::Approx(5));
  CHECK(nn::MSELoss({.reduction = Reduction::None})(a, b).shape() == Shape{2});
}
