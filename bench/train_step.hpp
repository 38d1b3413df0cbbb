// The classifier the benchmarks train: token embedding, sinusoidal positions, a Transformer
// encoder, mean pooling and a linear head, with AdamW, on random token batches drawn before
// timing. Shared by bench/compare (against libtorch) and bench/contention (threads beside a busy
// neighbour), so both time the same step.
#pragma once

#include <tapegrad/tapegrad.hpp>

#include <utility>
#include <vector>

#include "bench/classifier_shapes.hpp"

namespace tapegrad::bench {

inline constexpr double kBenchDropout = 0.1;

struct BenchClassifier : nn::Module {
  nn::Embedding tok;
  nn::SinusoidalPositionalEncoding pos;
  nn::TransformerEncoder encoder;
  nn::Linear head;

  explicit BenchClassifier(const ClassifierShape& s)
      : tok(s.vocab, s.d_model),
        pos(s.d_model, s.seq_len, kBenchDropout),
        encoder({.d_model = s.d_model,
                 .nhead = s.heads,
                 .dim_feedforward = s.ffn,
                 .dropout = kBenchDropout},
                s.layers),
        head(s.d_model, 2) {
    register_modules({{"tok", tok}, {"pos", pos}, {"encoder", encoder}, {"head", head}});
  }

  // ids [B, T] -> logits [B, 2]
  Tensor forward(const Tensor& ids) { return head(mean(encoder(pos(tok(ids))), {1})); }
};

// A few token batches ids [B, T] and labels [B], drawn once and used in turn.
class TokenBatches {
 public:
  explicit TokenBatches(const ClassifierShape& s, int count = 4) {
    for (int i = 0; i < count; ++i) {
      ids_.push_back(randint(0, s.vocab, {s.batch, s.seq_len}));
      labels_.push_back(randint(0, 2, {s.batch}));
    }
  }
  std::pair<const Tensor&, const Tensor&> next() {
    next_ = (next_ + 1) % ids_.size();
    return {ids_[next_], labels_[next_]};
  }

 private:
  std::vector<Tensor> ids_, labels_;
  size_t next_ = 0;
};

// One training step: zero_grad, forward, cross-entropy, backward, AdamW step.
class ClassifierTrainStep {
 public:
  explicit ClassifierTrainStep(const ClassifierShape& s)
      : model_(s),
        optimizer_(model_.parameters(), {.lr = 1e-3, .weight_decay = 1e-2}),
        batches_(s) {}
  void operator()() {
    const auto [ids, labels] = batches_.next();
    optimizer_.zero_grad();
    const Tensor loss = cross_entropy(model_.forward(ids), labels);
    loss.backward();
    optimizer_.step();
  }

 private:
  BenchClassifier model_;
  optim::AdamW optimizer_;
  TokenBatches batches_;
};

}  // namespace tapegrad::bench
