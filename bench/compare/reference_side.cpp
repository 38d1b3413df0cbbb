// The reference side: libtorch's C++ modules for the models and attention (libtorch's
// MultiheadAttention and TransformerEncoderLayer take [T, B, C]; the ids are laid out [T, B] to
// match), OpenBLAS's cblas_sgemm for GEMM.
#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "sides.hpp"

namespace comparison {
namespace {

namespace F = torch::nn::functional;

constexpr uint64_t kSeed = 0;
constexpr double kDropout = 0.1;
constexpr int kBatches = 4;

// The table of "Attention Is All You Need", as tapegrad's SinusoidalPositionalEncoding:
// pe[pos, 2i] = sin(pos / 10000^(2i/d)), pe[pos, 2i+1] = cos(pos / 10000^(2i/d)); [T, 1, d].
torch::Tensor sinusoidal_table(int64_t max_len, int64_t d_model) {
  const torch::Tensor position = torch::arange(max_len, torch::kFloat64).unsqueeze(1);
  const torch::Tensor frequency =
      torch::exp(torch::arange(0, d_model, 2, torch::kFloat64) * (-std::log(10000.0) / d_model));
  torch::Tensor pe = torch::zeros({max_len, d_model}, torch::kFloat64);
  pe.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, d_model, 2)},
                torch::sin(position * frequency));
  pe.index_put_({torch::indexing::Slice(), torch::indexing::Slice(1, d_model, 2)},
                torch::cos(position * frequency));
  return pe.to(torch::kFloat32).unsqueeze(1);
}

struct ClassifierImpl : torch::nn::Module {
  explicit ClassifierImpl(const ModelShape& s)
      : tok(register_module("tok", torch::nn::Embedding(s.vocab, s.d_model))),
        pos_dropout(register_module("pos_dropout", torch::nn::Dropout(kDropout))),
        encoder(register_module("encoder",
                                torch::nn::TransformerEncoder(torch::nn::TransformerEncoderOptions(
                                    torch::nn::TransformerEncoderLayerOptions(s.d_model, s.heads)
                                        .dim_feedforward(s.ffn)
                                        .dropout(kDropout),
                                    s.layers)))),
        head(register_module("head", torch::nn::Linear(s.d_model, 2))),
        pe(register_buffer("pe", sinusoidal_table(s.seq_len, s.d_model))) {}

  // ids [T, B] -> logits [B, 2]
  torch::Tensor forward(const torch::Tensor& ids) {
    const torch::Tensor x = pos_dropout(tok(ids) + pe.narrow(0, 0, ids.size(0)));  // [T, B, C]
    return head(encoder(x).mean(0));
  }

  torch::nn::Embedding tok;
  torch::nn::Dropout pos_dropout;
  torch::nn::TransformerEncoder encoder;
  torch::nn::Linear head;
  torch::Tensor pe;
};
TORCH_MODULE(Classifier);

class Batches {
 public:
  explicit Batches(const ModelShape& s) {
    for (int i = 0; i < kBatches; ++i) {
      ids_.push_back(torch::randint(0, s.vocab, {s.seq_len, s.batch}, torch::kInt64));
      labels_.push_back(torch::randint(0, 2, {s.batch}, torch::kInt64));
    }
  }
  std::pair<const torch::Tensor&, const torch::Tensor&> next() {
    next_ = (next_ + 1) % kBatches;
    return {ids_[next_], labels_[next_]};
  }

 private:
  std::vector<torch::Tensor> ids_, labels_;  // [T, B], [B]
  int next_ = 0;
};

// set_to_none on both sides (tapegrad's zero_grad leaves no gradient tensor behind).
class TrainRunner : public Runner {
 public:
  explicit TrainRunner(const ModelShape& s)
      : model_(s),
        optimizer_(model_->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(1e-2)),
        batches_(s) {}
  void step() override {
    const auto [ids, labels] = batches_.next();
    model_->zero_grad(/*set_to_none=*/true);
    const torch::Tensor loss = F::cross_entropy(model_->forward(ids), labels);
    loss.backward();
    optimizer_.step();
  }

 private:
  Classifier model_;
  torch::optim::AdamW optimizer_;
  Batches batches_;
};

class InferenceRunner : public Runner {
 public:
  explicit InferenceRunner(const ModelShape& s) : model_(s), batches_(s) { model_->eval(); }
  void step() override {
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = model_->forward(batches_.next().first);
  }

 private:
  Classifier model_;
  Batches batches_;
};

class AttentionRunner : public Runner {
 public:
  AttentionRunner(const AttentionShape& s, bool backward)
      : attention_(torch::nn::MultiheadAttentionOptions(s.d_model, s.heads)),
        x_(torch::randn({s.seq_len, s.batch, s.d_model}).requires_grad_(backward)),
        backward_(backward) {
    attention_->train(backward);
  }
  void step() override {
    if (!backward_) {
      torch::NoGradGuard no_grad;
      const torch::Tensor y =
          std::get<0>(attention_->forward(x_, x_, x_, {}, /*need_weights=*/false));
      return;
    }
    attention_->zero_grad(/*set_to_none=*/true);
    x_.mutable_grad().reset();
    std::get<0>(attention_->forward(x_, x_, x_, {}, /*need_weights=*/false)).sum().backward();
  }

 private:
  torch::nn::MultiheadAttention attention_;
  torch::Tensor x_;  // [T, B, C]
  bool backward_;
};

// GPT-2's block (pre-LN, exact GELU as tapegrad's) in libtorch's modules, decoding through a
// preallocated cache of its own: keys and values [1, H, context, D].
struct DecoderBlockImpl : torch::nn::Module {
  explicit DecoderBlockImpl(const tapegrad::bench::LanguageModelShape& s)
      : ln_1(register_module("ln_1",
                             torch::nn::LayerNorm(torch::nn::LayerNormOptions({s.d_model})))),
        c_attn(register_module("c_attn", torch::nn::Linear(s.d_model, 3 * s.d_model))),
        c_proj(register_module("c_proj", torch::nn::Linear(s.d_model, s.d_model))),
        ln_2(register_module("ln_2",
                             torch::nn::LayerNorm(torch::nn::LayerNormOptions({s.d_model})))),
        c_fc(register_module("c_fc", torch::nn::Linear(s.d_model, s.ffn))),
        mlp_proj(register_module("mlp_proj", torch::nn::Linear(s.ffn, s.d_model))),
        heads(s.heads) {}

  // x [1, T, C] at positions past..past+T-1; appends its keys and values to the cache.
  torch::Tensor forward(const torch::Tensor& x, torch::Tensor& keys, torch::Tensor& values,
                        int64_t past) {
    const int64_t T = x.size(1), C = x.size(2), D = C / heads;
    const torch::Tensor qkv = c_attn(ln_1(x)).view({1, T, 3, heads, D});
    const torch::Tensor q = qkv.select(2, 0).transpose(1, 2);  // [1, H, T, D]
    keys.narrow(2, past, T).copy_(qkv.select(2, 1).transpose(1, 2));
    values.narrow(2, past, T).copy_(qkv.select(2, 2).transpose(1, 2));
    torch::Tensor scores = torch::matmul(q, keys.narrow(2, 0, past + T).transpose(-2, -1)) /
                           std::sqrt(static_cast<double>(D));  // [1, H, T, past + T]
    if (T > 1)
      scores = scores.masked_fill(torch::ones({T, past + T}, torch::kBool).triu(past + 1),
                                  -std::numeric_limits<float>::infinity());
    const torch::Tensor attended =
        torch::matmul(torch::softmax(scores, -1), values.narrow(2, 0, past + T));
    const torch::Tensor h = x + c_proj(attended.transpose(1, 2).reshape({1, T, C}));
    return h + mlp_proj(F::gelu(c_fc(ln_2(h))));
  }

  torch::nn::LayerNorm ln_1;
  torch::nn::Linear c_attn, c_proj;
  torch::nn::LayerNorm ln_2;
  torch::nn::Linear c_fc, mlp_proj;
  int64_t heads;
};
TORCH_MODULE(DecoderBlock);

// The cache holds context - 1 tokens; each step decodes the next one into row context - 1.
class DecodeRunner : public Runner {
 public:
  explicit DecodeRunner(const DecodeShape& s)
      : wte_(s.model.vocab, s.model.d_model),
        wpe_(s.model.max_len, s.model.d_model),
        ln_f_(torch::nn::LayerNormOptions({s.model.d_model})),
        past_(s.context - 1),
        token_(torch::randint(0, s.model.vocab, {1, 1}, torch::kInt64)) {
    const int64_t D = s.model.d_model / s.model.heads;
    for (int64_t i = 0; i < s.model.layers; ++i) {
      blocks_.emplace_back(s.model);
      keys_.push_back(torch::empty({1, s.model.heads, s.context, D}));
      values_.push_back(torch::empty({1, s.model.heads, s.context, D}));
    }
    torch::NoGradGuard no_grad;
    forward(torch::randint(0, s.model.vocab, {1, past_}, torch::kInt64), 0);
  }
  void step() override {
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = forward(token_, past_);  // [1, 1, vocab]
  }

 private:
  torch::Tensor forward(const torch::Tensor& ids, int64_t past) {
    torch::Tensor x = wte_(ids) + wpe_(torch::arange(past, past + ids.size(1), torch::kInt64));
    for (std::size_t i = 0; i < blocks_.size(); ++i)
      x = blocks_[i]->forward(x, keys_[i], values_[i], past);
    return F::linear(ln_f_(x), wte_->weight);  // tied head
  }

  torch::nn::Embedding wte_, wpe_;
  std::vector<DecoderBlock> blocks_;
  torch::nn::LayerNorm ln_f_;
  std::vector<torch::Tensor> keys_, values_;
  int64_t past_;
  torch::Tensor token_;
};

// tapegrad's TapeChain (bench/tape_chain.hpp) in libtorch: the same ops, forward and backward.
class TapeRunner : public Runner {
 public:
  explicit TapeRunner(const TapeShape& s)
      : ops_(s.ops), w_(torch::ones({1}, torch::requires_grad())) {}
  void step() override {
    torch::Tensor y = torch::ones({1});
    for (int64_t i = 0; i < ops_; ++i) y = y * w_;
    y.backward(torch::ones({1}));
    w_.mutable_grad().reset();
  }

 private:
  int64_t ops_;
  torch::Tensor w_;
};

std::vector<float> random_matrix(int64_t size, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> values(size);
  for (float& x : values) x = normal(rng);
  return values;
}

class GemmRunner : public Runner {
 public:
  explicit GemmRunner(const GemmShape& s)
      : s_(s),
        rng_(kSeed),
        a_(random_matrix(s.M * s.K, rng_)),
        b_(random_matrix(s.K * s.N, rng_)),
        c_(s.M * s.N) {}
  void step() override {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s_.M, s_.N, s_.K, 1.0f, a_.data(), s_.K,
                b_.data(), s_.N, 0.0f, c_.data(), s_.N);
  }

 private:
  GemmShape s_;
  std::mt19937 rng_;
  std::vector<float> a_, b_, c_;
};

}  // namespace

std::unique_ptr<Runner> make_reference_runner(const Case& c) {
  torch::manual_seed(kSeed);
  switch (c.kind) {
    case Kind::Train:
      return std::make_unique<TrainRunner>(std::get<ModelShape>(c.shape));
    case Kind::Inference:
    case Kind::InferenceInt8:  // libtorch float32: the reference row of the int8 case
      return std::make_unique<InferenceRunner>(std::get<ModelShape>(c.shape));
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

// at::set_num_threads also rebuilds libtorch's pthreadpool: only when the count changes. The
// OpenMP count is set every time, in case anything else in the process changed it.
void use_reference_threads(ReferenceThreads threads) {
  static int intra_op = 0;
  if (threads.intra_op != intra_op) {
    at::set_num_threads(threads.intra_op);
    intra_op = threads.intra_op;
  }
  omp_set_num_threads(threads.intra_op);
  openblas_set_num_threads(threads.blas);
}

std::string reference_name(const Case& c, ReferenceThreads threads) {
  if (c.kind == Kind::Gemm) {
    std::istringstream config(openblas_config());
    std::string name, version;
    config >> name >> version;
    return fmt::format("{} {} {} cblas_sgemm ({} {})", name, version, openblas_core(), threads.blas,
                       threads.blas == 1 ? "thread" : "threads");
  }
  return fmt::format("libtorch {}.{} (intra-op {}, openblas {})", TORCH_VERSION_MAJOR,
                     TORCH_VERSION_MINOR, threads.intra_op, threads.blas);
}

std::string openblas_config() { return openblas_get_config(); }
std::string openblas_core() { return openblas_get_corename(); }

std::string libtorch_cpu_capability() {
  std::istringstream config(torch::show_config());
  for (std::string line; std::getline(config, line);) {
    if (line.find("CPU capability usage:") != std::string::npos)
      return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

}  // namespace comparison
