// The work that compare measures on both sides, the same shapes for tapegrad and the reference
// (libtorch for models and attention, OpenBLAS's cblas_sgemm for GEMM), and the interface of a
// side: built once, then step() after step() while the harness times each call.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "bench/classifier_shapes.hpp"
#include "bench/language_model_shape.hpp"

namespace comparison {

// The classifier benchmarked: Embedding + sinusoidal positions (dropout 0.1) + post-LN
// TransformerEncoderLayer x layers (ReLU FFN, dropout 0.1) + mean over T + Linear(d_model, 2).
using ModelShape = tapegrad::bench::ClassifierShape;

// Self-attention of MultiHeadAttention on x [batch, seq_len, d_model] (no weights returned).
struct AttentionShape {
  int64_t d_model, heads, batch, seq_len;
};

// One token decoded by the language model (bytes in, GPT-2's layout, tied head) after `context`
// - 1 tokens in its KV cache: logits [1, vocab] of the token at position context - 1.
struct DecodeShape {
  tapegrad::bench::LanguageModelShape model;
  int64_t context;
};

// Forward and backward of `ops` products of one-element tensors, y = y * w (bench/tape_chain.hpp):
// the autograd engine's own cost per op, with next to no arithmetic.
struct TapeShape {
  int64_t ops;
};

// C[M, N] = A[M, K] B[K, N], row-major, float, beta 0.
struct GemmShape {
  int64_t M, K, N;
};

enum class Kind {
  Train,                     // zero_grad, forward, cross-entropy, backward, AdamW step
  Inference,                 // eval mode, no tape
  InferenceInt8,             // the same, tapegrad's model after quantize_dynamic (reference float)
  AttentionForward,          // eval mode, no tape
  AttentionForwardBackward,  // forward, sum, backward to the input and the weights
  Decode,                    // eval mode, no tape, one token through the cache
  TapeChain,                 // a chain of one-element products, forward and backward
  Gemm,
};

struct Case {
  Kind kind;
  // "A", "B", "T=512", "context=512", "ops=1000", "1024x1024x1024" (M x K x N)
  std::string config;
  std::variant<ModelShape, AttentionShape, DecodeShape, TapeShape, GemmShape> shape;

  // "train", "inference", "inference_int8", "attention_fwd", "attention_fwd_bwd", "decode",
  // "tape", "gemm"
  std::string name() const;
  std::string id() const;                  // name/config: "train/B", "gemm/4096x256x768"
  std::optional<int64_t> seq_len() const;  // none for the tape and GEMM
  std::optional<double> flops() const;     // per step; GEMM only (2 M N K)
};

// Every case of the issue, in the order they are run and printed.
std::vector<Case> all_cases();

class Runner {
 public:
  virtual ~Runner() = default;
  virtual void step() = 0;
};

}  // namespace comparison
