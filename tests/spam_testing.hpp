// A tiny spam classifier for tests of the main example's pieces: one layer of width 16 over
// sentences of up to 8 tokens, trained in well under a second; the Transformer alone (no bag of
// n-grams: what it learns is the tokens').
#pragma once

#include <vector>

#include "examples/common/batching.hpp"
#include "examples/common/spam_model.hpp"
#include "optim/optim.hpp"

namespace tapegrad::testing {

inline text::SpamModelConfig tiny_spam_config(int64_t vocab_size) {
  return {.vocab_size = vocab_size,
          .d_model = 16,
          .heads = 2,
          .layers = 1,
          .ffn = 32,
          .max_len = 8,
          .body_words = 8,
          .dropout = 0.0,
          .ngram_buckets = 0};
}

// Inputs of token ids alone, without n-grams (the tiny model has no bag of n-grams).
inline std::vector<text::ModelInput> token_inputs(const std::vector<std::vector<int64_t>>& ids) {
  std::vector<text::ModelInput> inputs;
  for (const std::vector<int64_t>& sequence : ids) inputs.push_back({sequence, {}});
  return inputs;
}

// `epochs` passes of AdamW (lr 1e-2) over (inputs, labels) in shuffled batches of 16.
inline void train_tiny(text::SpamClassifier& model, const std::vector<text::ModelInput>& inputs,
                       const std::vector<int>& labels, int epochs, uint64_t seed) {
  optim::AdamW optimizer(model.parameters(), {.lr = 1e-2});
  text::BatchOrder order(static_cast<int64_t>(inputs.size()), 16, seed);
  for (int64_t step = 0; step < epochs * order.steps_per_epoch(); ++step) {
    const text::Batch batch = text::make_batch(inputs, labels, order.next());
    const Tensor loss =
        cross_entropy(model.forward(batch.ids, batch.mask, batch.ngrams), batch.labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
}

}  // namespace tapegrad::testing
