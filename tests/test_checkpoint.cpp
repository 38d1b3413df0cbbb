// Exact resume: N steps, a checkpoint, a fresh model and optimizer restored from it, M more steps
// give bit-identical parameters to N + M uninterrupted steps (dropout, AdamW, warmup + cosine).
#include <doctest/doctest.h>

#include <filesystem>

#include "nn/nn.hpp"
#include "optim/optim.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

struct TinyClassifier : nn::Module {
  nn::Linear hidden{4, 8};
  nn::Dropout dropout{0.3};
  nn::Linear head{8, 2};
  TinyClassifier() { register_modules({{"hidden", hidden}, {"dropout", dropout}, {"head", head}}); }
  Tensor forward(const Tensor& x) { return head(dropout(tanh(hidden(x)))); }
};

// The whole training setup, built from the thread's default generator.
struct Run {
  TinyClassifier model;
  optim::AdamW optimizer{model.parameters(), {.lr = 1e-2}};
  optim::LinearWarmupCosine schedule{optimizer, {.warmup_steps = 3, .total_steps = 20}};

  void train(int steps) {
    for (int i = 0; i < steps; ++i) {
      const Tensor x = randn({16, 4});
      const Tensor y = gt(narrow(x, 1, 0, 1), 0.0).reshape({-1}).to(kInt64);
      const Tensor loss = cross_entropy(model.forward(x), y);
      optimizer.zero_grad();
      loss.backward();
      optim::clip_grad_norm(model.parameters(), 1.0);
      optimizer.step();
      schedule.step();
    }
  }
  std::vector<std::vector<double>> weights() const {
    std::vector<std::vector<double>> values;
    for (const Tensor& p : model.parameters()) values.push_back(p.to_vector());
    return values;
  }
};

}  // namespace

TEST_CASE("checkpoint: resuming gives bit-identical parameters") {
  const testing::ScratchDirectory directory;
  const std::filesystem::path path = directory / "resume.safetensors";
  manual_seed(5);
  Run straight;
  straight.train(10);

  manual_seed(5);
  {
    Run first;
    first.train(6);
    optim::save_checkpoint(path, {first.model.state_dict(),
                                  first.optimizer.state_dict(),
                                  first.schedule.state_dict(),
                                  default_generator().state(),
                                  {{"step", 6}}});
  }
  manual_seed(99);  // the resumed run must not depend on the generator's state before loading
  Run resumed;
  const optim::TrainingState state = optim::load_checkpoint(path);
  resumed.model.load_state_dict(state.model);
  resumed.optimizer.load_state_dict(state.optimizer);
  resumed.schedule.load_state_dict(state.scheduler);
  default_generator().set_state(state.rng);
  CHECK(state.progress["step"] == 6);
  resumed.train(4);
  CHECK(resumed.weights() == straight.weights());

  manual_seed(5);
  Run fresh;  // a control: training without the restored state gives other weights
  fresh.train(4);
  CHECK(fresh.weights() != straight.weights());
}

TEST_CASE("checkpoint: a file that is not a checkpoint is a clear error") {
  const testing::ScratchDirectory directory;
  const std::filesystem::path path = directory / "not_a_checkpoint.safetensors";
  save_safetensors(path, {{"w", ones({2})}});
  CHECK_THROWS_WITH_AS(optim::load_checkpoint(path), doctest::Contains("not a tapegrad checkpoint"),
                       Error);
  save_safetensors(path, {{"w", ones({2})}}, {{"tapegrad.checkpoint", "{not json"}});
  CHECK_THROWS_WITH_AS(optim::load_checkpoint(path), doctest::Contains("not a checkpoint header"),
                       Error);
}

TEST_CASE("checkpoint: a header nested too deep is a clear error, not a stack overflow") {
  // Found probing tests/fuzz/fuzz_checkpoint's target with inputs past its 4 KB: copying the
  // parsed header recursed once per level, and 200,000 levels overflowed the stack.
  const auto file_with_optimizer = [](int depth) {
    const std::string nested = std::string(depth, '[') + "1" + std::string(depth, ']');
    return encode_safetensors(
        {{"model.w", ones({2})}},
        {{"tapegrad.checkpoint", fmt::format(R"({{"optimizer": {}, "rng": ""}})", nested)}});
  };
  CHECK(optim::decode_checkpoint(file_with_optimizer(32), "shallow").optimizer.scalars.is_array());
  // The limit, 64 levels: the header's object and 63 arrays in it (a number in the innermost)
  // pass, one more array does not
  CHECK(
      optim::decode_checkpoint(file_with_optimizer(63), "64 levels").optimizer.scalars.is_array());
  CHECK_THROWS_WITH_AS(optim::decode_checkpoint(file_with_optimizer(64), "65 levels"),
                       doctest::Contains("nests JSON deeper than 64 levels"), Error);
  CHECK_THROWS_WITH_AS(optim::decode_checkpoint(file_with_optimizer(200'000), "deep"),
                       doctest::Contains("deep: the 'tapegrad.checkpoint' metadata nests JSON"),
                       Error);
}
