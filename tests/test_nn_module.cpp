// The Module base: dotted names in registration order, parameter counts, train/eval, zero_grad,
// dtype conversion (in place: an optimizer built before it keeps working), the summary table,
// load_state_dict and its errors, and name checks.
// (save/load through safetensors are tested with autograd/io.)
#include <doctest/doctest.h>

#include <type_traits>

#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

struct Block : nn::Module {
  nn::Linear fc{4, 4};
  nn::LayerNorm norm{4};
  Block() { register_modules({{"fc", fc}, {"norm", norm}}); }
};

// Two levels: a ModuleList of blocks between an embedding (with a positional buffer) and a head.
struct Model : nn::Module {
  nn::Embedding tok{10, 4};
  nn::SinusoidalPositionalEncoding pos{4, /*max_len=*/8, /*dropout=*/0.1};
  nn::ModuleList<Block> layers;
  nn::Linear head{4, 2};
  Model() {
    layers.emplace();
    layers.emplace();
    register_modules({{"tok", tok}, {"pos", pos}, {"layers", layers}, {"head", head}});
  }
  Tensor forward(const Tensor& ids) {
    Tensor h = pos(tok(ids));
    for (Block& block : layers) h = block.norm(block.fc(h));
    return head(h);
  }
};

// Models as a PyTorch user writes them, called as model(x).
struct TwoLayer : nn::CallableModule<TwoLayer> {
  nn::Linear fc1{3, 4};
  nn::Linear fc2{4, 2};
  TwoLayer() { register_modules({{"fc1", fc1}, {"fc2", fc2}}); }
  Tensor forward(const Tensor& x) { return fc2(relu(fc1(x))); }
};
struct MaskedScale : nn::CallableModule<MaskedScale> {
  Tensor scale = ones({3});
  MaskedScale() { register_parameter("scale", scale); }
  Tensor forward(const Tensor& x, const Tensor& mask) { return masked_fill(x * scale, !mask, 0.0); }
};

std::vector<std::string> names(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> out;
  for (const auto& entry : named) out.push_back(entry.first);
  return out;
}

const Tensor kIds = from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});

}  // namespace

TEST_CASE("Module named_parameters gives dotted names in registration order") {
  Model model;
  CHECK(names(model.named_parameters()) ==
        std::vector<std::string>{"tok.weight", "layers.0.fc.weight", "layers.0.fc.bias",
                                 "layers.0.norm.weight", "layers.0.norm.bias", "layers.1.fc.weight",
                                 "layers.1.fc.bias", "layers.1.norm.weight", "layers.1.norm.bias",
                                 "head.weight", "head.bias"});
  CHECK(names(model.named_buffers()) == std::vector<std::string>{"pos.pe"});
  CHECK(model.named_parameters()[9].second.impl() == model.head.weight.impl());
  CHECK(model.children().size() == 4);
}

TEST_CASE("Module parameters and num_parameters count every tensor and element") {
  Model model;
  CHECK(model.parameters().size() == 11);
  // tok 10·4, each block (4·4 + 4) + (4 + 4), head 4·2 + 2
  CHECK(model.num_parameters() == 40 + 2 * 28 + 10);
  for (const Tensor& p : model.parameters()) CHECK(p.requires_grad());
}

TEST_CASE("Module train and eval propagate to every submodule") {
  Model model;
  CHECK(model.layers[1].norm.is_training());
  model.eval();
  CHECK_FALSE(model.is_training());
  CHECK_FALSE(model.pos.dropout.is_training());
  CHECK_FALSE(model.layers[1].norm.is_training());
  const Tensor y = model.forward(kIds);
  // No dropout in eval: the same output twice.
  testing::check_values(model.forward(kIds), y.to_vector(), 0);
  model.train();
  CHECK(model.pos.dropout.is_training());
  CHECK(model.layers[0].fc.is_training());
}

TEST_CASE("Module zero_grad clears every gradient") {
  Model model;
  model.forward(kIds).sum().backward();
  for (const Tensor& p : model.parameters()) CHECK(p.grad().defined());
  model.zero_grad();
  for (const Tensor& p : model.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("Module to converts parameters and buffers and keeps requires_grad") {
  Model model;
  const std::vector<double> weight = model.head.weight.to_vector();
  model.to(kFloat64);
  for (const auto& [name, p] : model.named_parameters()) {
    const std::string& info_name = name;  // clang 14 cannot capture a structured binding
    INFO(info_name);
    CHECK(p.dtype() == kFloat64);
    CHECK(p.requires_grad());
    CHECK(p.is_leaf());
  }
  CHECK(model.pos.pe.dtype() == kFloat64);
  testing::check_values(model.head.weight, weight, 0);
  const Tensor y = model.forward(kIds);
  CHECK(y.dtype() == kFloat64);
  y.sum().backward();
  CHECK(model.tok.weight.grad().dtype() == kFloat64);
}

TEST_CASE("Module to converts in place: handles taken before see the new dtype, gradients too") {
  Model model;
  const Tensor weight = model.head.weight;  // a handle held, as an optimizer would
  const Tensor table = model.pos.pe;
  model.forward(kIds).sum().backward();
  const std::vector<double> grad = weight.grad().to_vector();
  model.to(kFloat64);
  CHECK(weight.impl() == model.head.weight.impl());
  CHECK(weight.dtype() == kFloat64);
  CHECK(table.dtype() == kFloat64);
  CHECK(weight.grad().dtype() == kFloat64);
  testing::check_values(weight.grad(), grad, 0);
  model.to(kFloat32);
  CHECK(weight.dtype() == kFloat32);
}

TEST_CASE("Module to: an optimizer built before the conversion trains the converted model") {
  Model model;
  model.eval();
  optim::Adam adam(model.parameters(), {.lr = 0.1});
  const auto train_step = [&] {
    adam.zero_grad();
    model.forward(kIds).sum().backward();
    adam.step();
  };
  train_step();  // float32 state
  model.to(kFloat64);
  const std::vector<double> before = model.head.weight.to_vector();
  train_step();  // the float32 state follows its parameters to float64
  CHECK(model.head.weight.to_vector() != before);
  for (const auto& [key, state] : adam.state_dict().tensors) {
    const std::string& info_key = key;  // clang 14 cannot capture a structured binding
    INFO(info_key);
    CHECK(state.dtype() == kFloat64);
  }
}

TEST_CASE("Module summary lists each parameter and the total") {
  Model model;
  const std::string summary = model.summary();
  for (const auto& [name, p] : model.named_parameters()) {
    const std::string& info_name = name;  // clang 14 cannot capture a structured binding
    INFO(info_name);
    CHECK(summary.find(name + " ") != std::string::npos);
  }
  CHECK(summary.find("[10, 4]") != std::string::npos);
  CHECK(summary.find("total") != std::string::npos);
  CHECK(summary.find(" 106\n") != std::string::npos);
}

TEST_CASE("Module convert_parameter_to_buffer makes that parameter, and only it, a buffer") {
  nn::Linear linear(3, 2);
  linear.convert_parameter_to_buffer("bias");  // the second parameter: not the first one found
  CHECK(names(linear.named_parameters()) == std::vector<std::string>{"weight"});
  CHECK(names(linear.named_buffers()) == std::vector<std::string>{"bias"});
  CHECK(linear.state_dict().size() == 2);
  CHECK_THROWS_WITH_AS(linear.convert_parameter_to_buffer("bias"),
                       doctest::Contains("there is no parameter 'bias' to make a buffer"), Error);
  CHECK_THROWS_WITH_AS(linear.convert_parameter_to_buffer("scale"),
                       doctest::Contains("there is no parameter 'scale' to make a buffer"), Error);
}

TEST_CASE("Module summary groups the digits of its counts in threes") {
  // 4 and 5 digits: counts of 6 or 3 digits would have their commas in the same places if the
  // groups were counted from the left.
  const std::string summary = nn::Linear(10, 1234).summary();
  CHECK(summary.find(" 12,340\n") != std::string::npos);
  CHECK(summary.find(" 1,234\n") != std::string::npos);
  CHECK(summary.find(" 13,574\n") != std::string::npos);
}

TEST_CASE("Module load_state_dict copies values into the existing tensors") {
  Model source, target;
  const Tensor head_weight = target.head.weight;  // a handle held, as an optimizer would
  REQUIRE(head_weight.to_vector() != source.head.weight.to_vector());
  target.load_state_dict(source.state_dict());
  CHECK(target.head.weight.impl() == head_weight.impl());
  for (const auto& [name, value] : source.state_dict()) {
    const std::string& info_name = name;  // clang 14 cannot capture a structured binding
    INFO(info_name);
    testing::check_values(target.state_dict().at(name), value.to_vector(), 0);
  }
  source.eval();  // no dropout, so the outputs can match
  target.eval();
  testing::check_values(target.forward(kIds), source.forward(kIds).to_vector(), 1e-6);
}

TEST_CASE("Module load_state_dict lists missing, unexpected and mismatched keys") {
  Model model;
  std::map<std::string, Tensor> state = model.state_dict();
  state.erase("head.bias");
  state["extra.weight"] = zeros({3});
  SUBCASE("strict") {
    const auto load = [&] { model.load_state_dict(state, true, "checkpoint.safetensors"); };
    CHECK_THROWS_WITH_AS(load(), doctest::Contains("checkpoint.safetensors does not match"), Error);
    CHECK_THROWS_WITH_AS(load(), doctest::Contains("missing keys (1): [head.bias [2]]"), Error);
    CHECK_THROWS_WITH_AS(load(), doctest::Contains("unexpected keys (1): [extra.weight [3]]"),
                         Error);
  }
  SUBCASE("non-strict loads what matches") {
    state["head.weight"] = ones({2, 4});
    const std::vector<double> bias = model.head.bias.to_vector();
    const nn::LoadResult skipped = model.load_state_dict(state, false);
    testing::check_values(model.head.weight, std::vector<double>(8, 1.0), 0);
    testing::check_values(model.head.bias, bias, 0);
    CHECK(skipped.missing_keys == std::vector<std::string>{"head.bias"});
    CHECK(skipped.unexpected_keys == std::vector<std::string>{"extra.weight"});
  }
  SUBCASE("mismatched shapes, strict or not") {
    state["tok.weight"] = zeros({9, 4});
    for (bool strict : {true, false}) {
      CHECK_THROWS_WITH_AS(
          model.load_state_dict(state, strict),
          doctest::Contains("shape mismatches (1): [tok.weight (file [9, 4], model [10, 4])]"),
          Error);
    }
    CHECK(model.tok.weight.to_vector() != std::vector<double>(40, 0.0));  // nothing loaded
  }
}

namespace {

// The message of the Error that loading `state` raises, or "" if it loads.
std::string load_error(nn::Module& model, const std::map<std::string, Tensor>& state, bool strict) {
  try {
    model.load_state_dict(state, strict);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("Module load_state_dict's Error lists the non-empty groups, the first few keys of each") {
  Model model;
  std::map<std::string, Tensor> state = model.state_dict();
  state.erase("head.bias");
  const std::string only_missing = load_error(model, state, /*strict=*/true);
  CHECK(only_missing.find("missing keys (1): [head.bias [2]]") != std::string::npos);
  CHECK(only_missing.find("unexpected") == std::string::npos);
  CHECK(only_missing.find("shape mismatches") == std::string::npos);
  CHECK(only_missing.find("strict = false") != std::string::npos);  // what to do

  for (auto& [name, value] : state) value = zeros({1});  // 10 mismatches: how many, the first 5
  for (bool strict : {true, false}) {
    INFO("strict ", strict);
    const std::string mismatched = load_error(model, state, strict);
    CHECK(mismatched.find("shape mismatches (10, the first 5): [head.weight (file [1], model [2, "
                          "4]), layers.0.fc.bias (file [1], model [4]), ") != std::string::npos);
    CHECK(mismatched.find("layers.0.norm.weight (file [1], model [4]), ...]") != std::string::npos);
    CHECK(mismatched.find("layers.1.") == std::string::npos);
    CHECK((mismatched.find("missing keys (1): [head.bias [2]]") != std::string::npos) == strict);
  }
}

TEST_CASE("Module register_buffer(persistent = false): out of state_dict and save") {
  struct Stats : nn::Module {
    Tensor count = zeros({1});
    Tensor table = ones({2});  // computed by the module
    Stats() {
      register_buffer("count", count);  // persistent, as PyTorch's default
      register_buffer("table", table, /*persistent=*/false);
    }
  };
  Stats stats;
  CHECK(names(stats.named_buffers()) == std::vector<std::string>{"count", "table"});
  CHECK(stats.state_dict().size() == 1);
  CHECK(stats.state_dict().contains("count"));

  // A file saved while the table was persistent still loads strictly; the table stays computed.
  const nn::LoadResult loaded =
      stats.load_state_dict({{"count", tensor({3.0})}, {"table", zeros({2})}});
  CHECK(loaded.unexpected_keys.empty());
  testing::check_values(stats.count, {3.0}, 0);
  testing::check_values(stats.table, {1.0, 1.0}, 0);
}

TEST_CASE("Module: a model with a sinusoidal table loads a state without it, and one with it") {
  Model source, target;
  std::map<std::string, Tensor> state = source.state_dict();
  CHECK_FALSE(state.contains("pos.pe"));
  target.load_state_dict(state);    // strict: PyTorch's checkpoints have no table either
  state["pos.pe"] = source.pos.pe;  // as the classifier's runs saved before the table was computed
  target.load_state_dict(state);
  testing::check_values(target.head.weight, source.head.weight.to_vector(), 0);
}

TEST_CASE("Module registration errors") {
  nn::Module module;
  Tensor t = zeros({2});
  nn::ReLU child;
  CHECK_THROWS_WITH_AS(
      module.register_parameter("a.b", t),
      doctest::Contains("parameter name 'a.b' must be non-empty and contain no '.'"), Error);
  CHECK_THROWS_WITH_AS(module.register_buffer("", t),
                       doctest::Contains("buffer name '' must be non-empty"), Error);
  CHECK_THROWS_WITH_AS(module.register_module("x.y", child),
                       doctest::Contains("module name 'x.y' must be non-empty"), Error);
  Tensor undefined;
  CHECK_THROWS_WITH_AS(module.register_parameter("w", undefined),
                       doctest::Contains("parameter 'w' is undefined"), Error);
  module.register_parameter("w", t);
  CHECK_THROWS_WITH_AS(module.register_buffer("w", t),
                       doctest::Contains("buffer name 'w' is already registered"), Error);
  CHECK_THROWS_WITH_AS(module.register_module("w", child),
                       doctest::Contains("module name 'w' is already registered"), Error);
}

TEST_CASE("Module save and load a safetensors file, and a bad file is a clear error") {
  const testing::ScratchDirectory directory;
  const std::filesystem::path path = directory / "linear.safetensors";
  nn::Linear saved(3, 2);
  saved.save(path);
  nn::Linear loaded(3, 2);
  const Tensor held = loaded.weight;  // a handle taken before loading sees the loaded values
  loaded.load(path);
  CHECK(held.to_vector() == saved.weight.to_vector());
  CHECK(loaded.bias.to_vector() == saved.bias.to_vector());

  nn::Linear wider(4, 2);
  CHECK_THROWS_WITH_AS(wider.load(path), doctest::Contains("weight (file [2, 3], model [2, 4])"),
                       Error);
  nn::Linear no_bias(3, 2, {.bias = false});
  CHECK_THROWS_WITH_AS(no_bias.load(path), doctest::Contains("unexpected keys (1): [bias [2]]"),
                       Error);
  CHECK(no_bias.load(path, /*strict=*/false).unexpected_keys == std::vector<std::string>{"bias"});
  CHECK(no_bias.weight.to_vector() == saved.weight.to_vector());

  std::string bytes = read_file(path);
  write_file_atomically(path, bytes.substr(0, bytes.size() - 5));
  CHECK_THROWS_WITH_AS(loaded.load(path), doctest::Contains(path.string().c_str()), Error);
}

TEST_CASE("a CallableModule is called as model(x), which runs its forward") {
  static_assert(std::is_invocable_r_v<Tensor, TwoLayer&, const Tensor&>);
  static_assert(!std::is_invocable_v<TwoLayer&, const Tensor&, const Tensor&>);  // no such forward
  static_assert(std::is_invocable_r_v<Tensor, MaskedScale&, const Tensor&, const Tensor&>);
  manual_seed(0);
  TwoLayer model;
  const Tensor x = randn({5, 3});
  const Tensor y = model(x);
  CHECK(y.shape() == Shape{5, 2});
  testing::check_values(y, model.forward(x).to_vector(), 0);
  y.sum().backward();
  CHECK(model.fc1.weight.grad().defined());
  CHECK(model.parameters().size() == 4);  // still a Module: registration, parameters, ...

  MaskedScale masked;
  const Tensor mask = tensor({1.0, 0.0, 1.0}).to(kBool);
  testing::check_values(masked(tensor({2.0, 3.0, 4.0}), mask), {2, 0, 4});
}
