// tapegrad's side of every case, through its public API (GEMM through the kernel, on raw
// pointers, as cblas_sgemm is called).
#include <tapegrad/tapegrad.hpp>

#include <utility>
#include <vector>

#include "autograd/kernels/gemm.hpp"
#include "bench/tape_chain.hpp"
#include "bench/train_step.hpp"
#include "sides.hpp"

namespace comparison {
namespace {

using namespace tapegrad;

constexpr uint64_t kSeed = 0;

class TrainRunner : public Runner {
 public:
  explicit TrainRunner(const ModelShape& s) : train_step_(s) {}
  void step() override { train_step_(); }

 private:
  tapegrad::bench::ClassifierTrainStep train_step_;
};

class InferenceRunner : public Runner {
 public:
  InferenceRunner(const ModelShape& s, bool int8) : model_(s), batches_(s) {
    model_.eval();
    if (int8) nn::quantize_dynamic(model_);
  }
  void step() override {
    NoGradGuard no_grad;
    const Tensor logits = model_.forward(batches_.next().first);
  }

 private:
  tapegrad::bench::BenchClassifier model_;
  tapegrad::bench::TokenBatches batches_;
};

class AttentionRunner : public Runner {
 public:
  AttentionRunner(const AttentionShape& s, bool backward)
      : attention_(s.d_model, s.heads),
        x_(randn({s.batch, s.seq_len, s.d_model}, {.requires_grad = backward})),
        backward_(backward) {
    attention_.train(backward);
  }
  void step() override {
    if (!backward_) {
      NoGradGuard no_grad;
      const Tensor y = attention_(x_, x_, x_, {.need_weights = false}).output;
      return;
    }
    attention_.zero_grad();
    x_.zero_grad();
    sum(attention_(x_, x_, x_, {.need_weights = false}).output).backward();
  }

 private:
  nn::MultiHeadAttention attention_;
  Tensor x_;  // [B, T, C]
  bool backward_;
};

// The cache holds context - 1 tokens; each step decodes the next one and crops it off again.
class DecodeRunner : public Runner {
 public:
  explicit DecodeRunner(const DecodeShape& s)
      : model_({.vocab_size = s.model.vocab,
                .max_len = s.model.max_len,
                .d_model = s.model.d_model,
                .nhead = s.model.heads,
                .num_layers = s.model.layers,
                .dim_feedforward = s.model.ffn}),
        cache_(model_.make_cache(1, s.context)),
        past_(s.context - 1),
        token_(randint(0, s.model.vocab, {1, 1})) {
    model_.eval();
    model_(randint(0, s.model.vocab, {1, past_}), cache_);
  }
  void step() override {
    const Tensor logits = model_(token_, cache_);  // [1, 1, vocab]
    for (nn::KVCache& layer : cache_) layer.crop(past_);
  }

 private:
  nn::DecoderLM model_;
  std::vector<nn::KVCache> cache_;
  int64_t past_;
  Tensor token_;
};

class TapeRunner : public Runner {
 public:
  explicit TapeRunner(const TapeShape& s) : chain_(s.ops) {}
  void step() override { chain_(); }

 private:
  tapegrad::bench::TapeChain chain_;
};

class GemmRunner : public Runner {
 public:
  explicit GemmRunner(const GemmShape& s)
      : s_(s), a_(randn({s.M, s.K})), b_(randn({s.K, s.N})), c_(Tensor::empty({s.M, s.N})) {}
  void step() override {
    using kernels::Transpose;
    kernels::gemm<float>(Transpose::No, Transpose::No, s_.M, s_.N, s_.K, 1.0f, a_.data<float>(),
                         s_.K, b_.data<float>(), s_.N, 0.0f, c_.data<float>(), s_.N);
  }

 private:
  GemmShape s_;
  Tensor a_, b_, c_;
};

}  // namespace

std::unique_ptr<Runner> make_tapegrad_runner(const Case& c) {
  manual_seed(kSeed);
  switch (c.kind) {
    case Kind::Train:
      return std::make_unique<TrainRunner>(std::get<ModelShape>(c.shape));
    case Kind::Inference:
    case Kind::InferenceInt8:
      return std::make_unique<InferenceRunner>(std::get<ModelShape>(c.shape),
                                               c.kind == Kind::InferenceInt8);
    case Kind::AttentionForward:
      return std::make_unique<AttentionRunner>(std::get<AttentionShape>(c.shape), false);
    case Kind::AttentionForwardBackward:
      return std::make_unique<AttentionRunner>(std::get<AttentionShape>(c.shape), true);
    case Kind::Decode:
      return std::make_unique<DecodeRunner>(std::get<DecodeShape>(c.shape));
    case Kind::TapeChain:
      return std::make_unique<TapeRunner>(std::get<TapeShape>(c.shape));
    case Kind::Gemm:
      return std::make_unique<GemmRunner>(std::get<GemmShape>(c.shape));
  }
  return nullptr;
}

void use_tapegrad_threads(int threads) { set_num_threads(threads); }

}  // namespace comparison
