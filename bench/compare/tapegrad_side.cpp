// tapegrad's side of every case, through its public API (GEMM through the kernel, on raw
// pointers, as cblas_sgemm is called).
#include <tapegrad/tapegrad.hpp>

#include <omp.h>

#include <utility>

#include "autograd/kernels/gemm.hpp"
#include "sides.hpp"

namespace comparison {
namespace {

using namespace tapegrad;

constexpr uint64_t kSeed = 0;
constexpr double kDropout = 0.1;
constexpr int kBatches = 4;

struct Classifier : nn::Module {
  nn::Embedding tok;
  nn::SinusoidalPositionalEncoding pos;
  nn::TransformerEncoder encoder;
  nn::Linear head;

  explicit Classifier(const ModelShape& s)
      : tok(s.vocab, s.d_model),
        pos(s.d_model, s.seq_len, kDropout),
        encoder(
            {.d_model = s.d_model, .nhead = s.heads, .dim_feedforward = s.ffn, .dropout = kDropout},
            s.layers),
        head(s.d_model, 2) {
    register_modules({{"tok", tok}, {"pos", pos}, {"encoder", encoder}, {"head", head}});
  }

  // ids [B, T] -> logits [B, 2]
  Tensor forward(const Tensor& ids) { return head(mean(encoder(pos(tok(ids))), {1})); }
};

// kBatches token batches ids [B, T] and labels [B], drawn before timing and used in turn.
class Batches {
 public:
  explicit Batches(const ModelShape& s) {
    for (int i = 0; i < kBatches; ++i) {
      ids_.push_back(randint(0, s.vocab, {s.batch, s.seq_len}));
      labels_.push_back(randint(0, 2, {s.batch}));
    }
  }
  std::pair<const Tensor&, const Tensor&> next() {
    next_ = (next_ + 1) % kBatches;
    return {ids_[next_], labels_[next_]};
  }

 private:
  std::vector<Tensor> ids_, labels_;
  int next_ = 0;
};

class TrainRunner : public Runner {
 public:
  explicit TrainRunner(const ModelShape& s)
      : model_(s),
        optimizer_(model_.parameters(), {.lr = 1e-3, .weight_decay = 1e-2}),
        batches_(s) {}
  void step() override {
    const auto [ids, labels] = batches_.next();
    optimizer_.zero_grad();
    const Tensor loss = cross_entropy(model_.forward(ids), labels);
    loss.backward();
    optimizer_.step();
  }

 private:
  Classifier model_;
  optim::AdamW optimizer_;
  Batches batches_;
};

class InferenceRunner : public Runner {
 public:
  explicit InferenceRunner(const ModelShape& s) : model_(s), batches_(s) { model_.eval(); }
  void step() override {
    NoGradGuard no_grad;
    const Tensor logits = model_.forward(batches_.next().first);
  }

 private:
  Classifier model_;
  Batches batches_;
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
      return std::make_unique<InferenceRunner>(std::get<ModelShape>(c.shape));
    case Kind::AttentionForward:
      return std::make_unique<AttentionRunner>(std::get<AttentionShape>(c.shape), false);
    case Kind::AttentionForwardBackward:
      return std::make_unique<AttentionRunner>(std::get<AttentionShape>(c.shape), true);
    case Kind::Gemm:
      return std::make_unique<GemmRunner>(std::get<GemmShape>(c.shape));
  }
  return nullptr;
}

void use_tapegrad_threads(int threads) { omp_set_num_threads(threads); }

}  // namespace comparison
