// Bad input at the edges gives a clear Error naming what is wrong, never a crash, a huge
// allocation or a silent NaN: sizes that overflow, empty or zero dims, empty batches, sequences
// longer than the model reads, a vocabulary that does not match its model, settings out of range.
// (Zero-sized Linear and Embedding layers, make_batch without indices and positional tables that
// are too short are checked in test_nn_layers.cpp and test_text.cpp.)
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "autograd/io/atomic_file.hpp"
#include "examples/common/spam_model.hpp"
#include "examples/common/training_progress.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

constexpr int64_t kHuge = int64_t{1} << 40;  // kHuge * kHuge overflows int64

text::SpamModelConfig small_config(int64_t vocab_size) {
  return {.vocab_size = vocab_size,
          .d_model = 8,
          .heads = 2,
          .layers = 1,
          .ffn = 16,
          .max_len = 6,
          .body_words = 6,
          .dropout = 0.0,
          .ngram_buckets = 0};
}

}  // namespace

TEST_CASE("edges: shapes whose element count overflows are an Error, not an allocation") {
  const Tensor one = ones({1, 1});
  CHECK_THROWS_WITH_AS(one.reshape({kHuge, kHuge}),
                       doctest::Contains("[1099511627776, 1099511627776]"), Error);
  CHECK_THROWS_WITH_AS(one.expand({kHuge, kHuge}),
                       doctest::Contains("more elements than fit in int64"), Error);
  const Tensor tall = one.expand({kHuge, 1});
  const Tensor wide = one.expand({1, kHuge});
  CHECK_THROWS_WITH_AS(matmul(tall, wide), doctest::Contains("more elements than fit in int64"),
                       Error);
  CHECK_THROWS_WITH_AS(zeros({kHuge, kHuge}), doctest::Contains("more elements than fit in int64"),
                       Error);
}

TEST_CASE("edges: zero or negative sizes of layers are an Error naming the value") {
  CHECK_THROWS_WITH_AS(nn::Linear(3, 0), doctest::Contains("out_features 0"), Error);
  CHECK_THROWS_WITH_AS(nn::Linear(-1, 3), doctest::Contains("in_features -1"), Error);
  CHECK_THROWS_WITH_AS(nn::MultiHeadAttention(8, 0), doctest::Contains("0"), Error);
  CHECK_THROWS_WITH_AS(nn::MultiHeadAttention(8, 3), doctest::Contains("3"), Error);
  CHECK_THROWS_WITH_AS(nn::Embedding(4, 0), doctest::Contains("embedding_dim 0"), Error);
}

TEST_CASE("edges: cross_entropy on an empty batch is an Error, not a NaN") {
  const Tensor logits = zeros({0, 2});
  const Tensor labels = zeros({0}, {.dtype = kInt64});
  CHECK_THROWS_WITH_AS(cross_entropy(logits, labels), doctest::Contains("empty"), Error);
  CHECK(cross_entropy(logits, labels, {.reduction = Reduction::Sum}).item() == 0);
}

TEST_CASE("edges: the spam model rejects a message longer than max_len, naming both") {
  text::SpamClassifier model(small_config(10));
  const Tensor ids = ones({1, 7}, {.dtype = kInt64});
  const Tensor mask = ones({1, 7}, {.dtype = kBool});
  CHECK_THROWS_WITH_AS(model.forward(ids, mask, {}), doctest::Contains("exceeds max_len 6"), Error);
}

TEST_CASE("edges: a message of unknown tokens only is classified, with finite logits") {
  const text::Vocabulary vocabulary = text::Vocabulary::build({{"meeting", "agenda"}});
  const text::SpamModelConfig config = small_config(vocabulary.size());
  text::SpamClassifier model(config);
  model.eval();
  const std::vector<int64_t> ids =
      text::encode_message(vocabulary, config, "zzz qqq", "xyzzy plugh frobnicate").ids;
  REQUIRE(!ids.empty());
  for (const int64_t id : ids) CHECK(id == text::Vocabulary::kUnk);
  const auto length = static_cast<int64_t>(ids.size());
  Tensor batch = Tensor::empty({1, length}, kInt64);
  std::copy(ids.begin(), ids.end(), batch.data<int64_t>());
  const Tensor logits = model.forward(batch, ones({1, length}, {.dtype = kBool}), {});
  CHECK(logits.shape() == Shape{1, 2});
  for (const double v : logits.to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("edges: a vocabulary that does not match the model's config is an Error") {
  const testing::ScratchDirectory dir;
  const text::Vocabulary vocabulary = text::Vocabulary::build({{"win", "cash", "now"}});
  const text::SpamModelConfig config = small_config(vocabulary.size() + 3);
  text::SpamClassifier(config).save(dir / "model.safetensors");
  vocabulary.save(dir / "vocabulary.json");
  write_file_atomically(dir / "config.json", text::to_json(config).dump());
  const std::string mismatch = fmt::format("vocabulary.json has {} tokens but config.json says {}",
                                           vocabulary.size(), config.vocab_size);
  CHECK_THROWS_WITH_AS(text::load_trained_spam_model(dir.path()),
                       doctest::Contains(mismatch.c_str()), Error);
}

TEST_CASE("edges: spam model settings out of range are an Error naming the field") {
  const std::string source = "from the command line";
  CHECK_NOTHROW(text::check_spam_model_config(small_config(10), source));
  const auto check_rejected = [&](text::SpamModelConfig config, const std::string& part) {
    CHECK_THROWS_WITH_AS(text::check_spam_model_config(config, source),
                         doctest::Contains(part.c_str()), Error);
  };
  text::SpamModelConfig config = small_config(10);
  config.heads = 0;
  check_rejected(config, "heads must be >= 1, got 0");
  config = small_config(10);
  config.heads = 3;
  check_rejected(config, "heads 3 does not divide d_model 8");
  config = small_config(1);
  check_rejected(config, "vocab_size must be >= 2, got 1");
  config = small_config(10);
  config.max_len = 0;
  check_rejected(config, "max_len must be >= 1, got 0");
  config = small_config(10);
  config.dropout = 1.0;
  check_rejected(config, "dropout must be in [0, 1), got 1");
}

TEST_CASE("spam model: a pruned model saves and loads, its config listing the pruned heads") {
  text::SpamModelConfig config = small_config(10);
  config.heads = 4;
  manual_seed(3);
  text::SpamClassifier model(config);
  model.encoder.layers[0].self_attn.prune_heads({0, 2});
  config.pruned_heads = {{0, {0, 2}}};
  nlohmann::json json = nlohmann::json::parse(text::to_json(config).dump());
  CHECK(json["pruned_heads"] == nlohmann::json::parse(R"({"0": [0, 2]})"));
  const text::SpamModelConfig read = text::spam_model_config_from_json(json, "config.json");
  CHECK(read.pruned_heads == config.pruned_heads);
  text::SpamClassifier loaded(read);  // built whole, then pruned as the config says
  CHECK(loaded.encoder.layers[0].self_attn.num_heads == 2);
  loaded.load_state_dict(model.state_dict());
  model.eval(), loaded.eval();
  const Tensor ids = from_vector(std::vector<int64_t>{2, 3, 4, 0}, {1, 4});
  const Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 0}, {1, 4}).to(kBool);
  CHECK(equal(loaded.forward(ids, mask, {}), model.forward(ids, mask, {})));

  nlohmann::json bad = json;
  bad["pruned_heads"] = nlohmann::json::parse(R"({"0": [0, 1, 2, 3]})");
  CHECK_THROWS_WITH_AS(text::spam_model_config_from_json(bad, "config.json"),
                       doctest::Contains("a layer keeps one at least"), Error);
  bad["pruned_heads"] = nlohmann::json::parse(R"({"1": [0]})");
  CHECK_THROWS_WITH_AS(text::spam_model_config_from_json(bad, "config.json"),
                       doctest::Contains("pruned_heads of layer 1"), Error);
  bad["pruned_heads"] = nlohmann::json::parse(R"({"x": [0]})");
  CHECK_THROWS_WITH_AS(text::spam_model_config_from_json(bad, "config.json"),
                       doctest::Contains("is not a layer number"), Error);
  json.erase("pruned_heads");  // runs from before pruning load as they are
  CHECK(text::spam_model_config_from_json(json, "config.json").pruned_heads.empty());
}

TEST_CASE("edges: training progress round-trips through JSON, and a missing key is an Error") {
  text::TrainingProgress progress{
      .step = 7,
      .position = {1, 3},
      .epoch = {0.1 + 0.2, 5, 9},
      .curves = {{0.7, 1.0 / 3}, {0.6, 0.5}, {0.5, 0.25}, {0.4, 2.0 / 7}, {0.9, 0.1 + 0.7}},
      .best_dev_score = 0.8125,
      .epochs_without_gain = 1,
      .skipped_steps = 2,
      .train_seconds = 3.5,
      .settings = {{"seed", 4}}};
  const nlohmann::json json = nlohmann::json::parse(text::to_json(progress).dump());
  const text::TrainingProgress back = text::training_progress_from_json(json, "test");
  CHECK(back.step == 7);
  CHECK(back.position == text::BatchPosition{1, 3});
  CHECK(back.epoch.loss_sum == 0.1 + 0.2);
  CHECK(back.curves.train_accuracy == progress.curves.train_accuracy);
  CHECK(back.curves.dev_accuracy == progress.curves.dev_accuracy);
  CHECK(back.curves.dev_subject_f1 == progress.curves.dev_subject_f1);
  CHECK(back.best_dev_score == 0.8125);
  CHECK(back.skipped_steps == 2);
  CHECK(back.settings == progress.settings);
  nlohmann::json broken = json;
  broken.erase("curves");
  CHECK_THROWS_WITH_AS(text::training_progress_from_json(broken, "ckpt.safetensors"),
                       doctest::Contains("ckpt.safetensors"), Error);
}
