// The reference side: libtorch's C++ modules for the models and attention (libtorch's
// MultiheadAttention and TransformerEncoderLayer take [T, B, C]; the ids are laid out [T, B] to
// match), OpenBLAS's cblas_sgemm for GEMM.
#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>
#include <torch/torch.h>

#include <cmath>
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
