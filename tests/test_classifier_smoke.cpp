// A smoke test of the main example's pieces working together, in seconds: the spam classifier,
// trained on a synthetic set of separable sentences, classifies held-out ones.
#include <doctest/doctest.h>

#include <numeric>

#include "examples/common/batching.hpp"
#include "examples/common/metrics.hpp"
#include "examples/common/spam_model.hpp"
#include "examples/common/tokenizer.hpp"
#include "tests/spam_testing.hpp"
#include "tests/testing.hpp"

using namespace tapegrad;

namespace {

// Sentences of 6 words: two or more from their class's words, the rest shared filler.
struct Sentences {
  std::vector<std::vector<std::string>> tokens;
  std::vector<int> labels;
};

Sentences make_sentences(int count, Generator& generator) {
  const std::vector<std::string> spam = {"win", "free", "prize", "cash", "offer", "click"};
  const std::vector<std::string> ham = {"meeting", "agenda", "project",
                                        "report",  "lunch",  "review"};
  const std::vector<std::string> filler = {"the", "a", "today", "please", "your", "for", "now"};
  const auto pick = [&](const std::vector<std::string>& words) {
    return words[generator.next_u64() % words.size()];
  };
  Sentences sentences;
  for (int i = 0; i < count; ++i) {
    const int label = i % 2;
    std::string text;
    for (int w = 0; w < 6; ++w) text += pick(w < 2 ? (label ? spam : ham) : filler) + " ";
    sentences.tokens.push_back(text::tokenize(text));
    sentences.labels.push_back(label);
  }
  return sentences;
}

}  // namespace

TEST_CASE("classifier smoke: a tiny model learns separable sentences") {
  manual_seed(1);
  Generator generator(1);
  const Sentences train = make_sentences(256, generator), held_out = make_sentences(100, generator);
  const text::Vocabulary vocabulary = text::Vocabulary::build(train.tokens);
  const text::SpamModelConfig config = testing::tiny_spam_config(vocabulary.size());
  const auto encode = [&](const Sentences& s) {
    std::vector<std::vector<int64_t>> ids;
    for (const auto& tokens : s.tokens) ids.push_back(vocabulary.encode(tokens, config.max_len));
    return ids;
  };
  const std::vector<std::vector<int64_t>> train_ids = encode(train),
                                          held_out_ids = encode(held_out);

  text::SpamClassifier model(config);
  testing::train_tiny(model, testing::token_inputs(train_ids), train.labels, 3, 1);

  NoGradGuard no_grad;
  model.eval();
  std::vector<int64_t> all(held_out_ids.size());
  std::iota(all.begin(), all.end(), 0);
  const text::Batch batch =
      text::make_batch(testing::token_inputs(held_out_ids), held_out.labels, all);
  const Tensor predictions = max(model.forward(batch.ids, batch.mask, batch.ngrams), 1).indices;
  const report::ConfusionMatrix confusion = report::confusion_matrix(predictions, batch.labels);
  INFO(report::format_confusion_matrix(confusion));
  CHECK(report::accuracy(confusion) >= 0.95);
}
