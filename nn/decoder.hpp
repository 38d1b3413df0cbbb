// A decoder-only causal language model in GPT-2's layout (Radford et al. 2019), batch first:
//   h = drop(wte(ids) + positions)                   ids [B, T] int64 -> [B, T, C]
//   for each block of h:   h = h + drop1(attn(ln_1(h)))     (causal self-attention, pre-LN)
//                          h = h + drop2(mlp(ln_2(h)))
//   logits = lm_head(ln_f(h))                        [B, T, vocab_size]
// Train with cross_entropy(logits.view({B * T, V}), targets.view({B * T})); generate with
// nn/generate.hpp, which feeds the model through a KVCache per block (nn/kv_cache.hpp).
//
// Names, as GPT-2's (Hugging Face GPT2LMHeadModel without its "transformer." prefix): wte.weight,
// wpe.weight (learned positions only; sinusoidal ones are a fixed table, not in the state dict),
// h.N.ln_1, h.N.attn, h.N.ln_2, h.N.mlp, ln_f, lm_head.weight (no bias; absent when tied).
// Inside attn and mlp the tensors carry PyTorch's names and nn.Linear's [out, in] layout, where
// GPT-2's Conv1D stores [in, out]; to move weights, transpose:
//   h.N.attn.c_attn.weight [C, 3C] = h.N.attn.in_proj_weight [3C, C]ᵀ, c_attn.bias = in_proj_bias
//   h.N.attn.c_proj.weight [C, C]  = h.N.attn.out_proj.weight ᵀ,       c_proj.bias = out_proj.bias
//   h.N.mlp.c_fc.weight [C, F]     = h.N.mlp.linear1.weight [F, C]ᵀ,   c_fc.bias = linear1.bias
//   h.N.mlp.c_proj.weight [F, C]   = h.N.mlp.linear2.weight [C, F]ᵀ,   c_proj.bias = linear2.bias
// Differences: GELU is the exact one (GPT-2 uses the tanh approximation); dropout sits where
// PyTorch's TransformerEncoderLayer puts it (mlp.dropout after the activation, drop1 and drop2 on
// the residual branches); GPT-2's attention dropout is attn's own (MultiHeadAttention's dropout).
//
// With tie_weights (GPT-2's choice), the output head is the token embedding itself:
// logits = h wteᵀ, and wte.weight's gradient is the sum of both uses. Token and learned position
// embeddings are initialised N(0, 0.02²) as in GPT-2; the other layers keep their PyTorch inits.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "nn/dropout.hpp"
#include "nn/embedding.hpp"
#include "nn/feed_forward.hpp"
#include "nn/kv_cache.hpp"
#include "nn/layer_norm.hpp"
#include "nn/multi_head_attention.hpp"
#include "nn/positional_encoding.hpp"
#include "nn/sequential.hpp"

namespace tapegrad::nn {

struct DecoderBlockOptions {
  int64_t d_model = 0;          // required (GPT-2's n_embd)
  int64_t nhead = 0;            // required, divides d_model (n_head)
  int64_t dim_feedforward = 0;  // default 4 * d_model, as GPT-2
  double dropout = 0.1;
  Activation activation = Activation::GELU;
  double layer_norm_eps = 1e-5;
  int64_t window = 0;  // sliding-window attention: W > 0 sees the W latest tokens; 0: all
};

class DecoderBlock : public Module {
 public:
  explicit DecoderBlock(DecoderBlockOptions options);

  Tensor forward(const Tensor& x);  // [B, T, C] -> [B, T, C], causal
  Tensor operator()(const Tensor& x) { return forward(x); }
  // The new tokens x [B, T, C] after the cache's length() tokens; appends their keys and values.
  // Inference only: records nothing, and refuses a dropout that is on (training mode, p > 0).
  Tensor forward(const Tensor& x, KVCache& cache);
  Tensor operator()(const Tensor& x, KVCache& cache) { return forward(x, cache); }

  DecoderBlockOptions options;
  LayerNorm ln_1;
  MultiHeadAttention attn;
  LayerNorm ln_2;
  FeedForward mlp;
  Dropout drop1, drop2;  // on the residual branches

 private:
  Tensor add_feed_forward(const Tensor& x);  // x + drop2(mlp(ln_2(x)))
};

enum class PositionEncoding { Learned, Sinusoidal };

struct DecoderLMOptions {
  int64_t vocab_size = 0;       // required
  int64_t max_len = 1024;       // positions (GPT-2's n_positions)
  int64_t d_model = 0;          // required
  int64_t nhead = 0;            // required, divides d_model
  int64_t num_layers = 0;       // required
  int64_t dim_feedforward = 0;  // default 4 * d_model
  double dropout = 0.1;         // on the embeddings, residual branches, attention weights, mlp
  double layer_norm_eps = 1e-5;
  PositionEncoding positions = PositionEncoding::Learned;
  bool tie_weights = true;  // lm_head shares wte.weight
  // Sliding-window attention in every block (Mistral's sliding_window): token i attends to tokens
  // i - W < j <= i only, and each block's KVCache keeps only the W latest tokens; 0: all tokens.
  int64_t window = 0;
  // Attention heads pruned from blocks (Hugging Face's config pruned_heads), block -> heads
  // 0..nhead-1: the model is made with them gone (MultiHeadAttention::prune_heads), so it loads
  // the weights a pruned model saved, and its KV caches hold the heads that are left.
  std::map<int64_t, std::vector<int64_t>> pruned_heads = {};
};

class DecoderLM : public Module {
 public:
  explicit DecoderLM(DecoderLMOptions options);

  Tensor forward(const Tensor& ids);  // int64 [B, T] -> logits [B, T, vocab_size]
  Tensor operator()(const Tensor& ids) { return forward(ids); }
  // The new tokens ids [B, T] at positions cache[0].length().., one KVCache per block (see
  // make_cache); appends their keys and values. Inference only, as DecoderBlock's.
  Tensor forward(const Tensor& ids, std::vector<KVCache>& cache);
  Tensor operator()(const Tensor& ids, std::vector<KVCache>& cache) { return forward(ids, cache); }

  // One empty KVCache per block for `batch` sequences of up to max_len tokens (default and at
  // most options.max_len), in the model's dtype; with a window, each keeps the W latest tokens.
  std::vector<KVCache> make_cache(int64_t batch = 1, std::optional<int64_t> max_len = {}) const;

  const Tensor& lm_head_weight() const;  // [vocab_size, d_model]: wte.weight when tied

  DecoderLMOptions options;
  Embedding wte;
  std::optional<LearnedPositionalEmbedding> wpe;         // with PositionEncoding::Learned
  std::optional<SinusoidalPositionalEncoding> sinusoid;  // with PositionEncoding::Sinusoidal
  Dropout drop;
  ModuleList<DecoderBlock> h;
  LayerNorm ln_f;
  std::optional<Linear> lm_head;  // without tie_weights

 private:
  // drop(wte(ids) + positions first..first+T-1): [B, T] -> [B, T, C]
  Tensor embed(const Tensor& ids, int64_t first);
  Tensor logits(const Tensor& hidden);  // lm_head(ln_f(hidden))
};

}  // namespace tapegrad::nn
