#include "nn/decoder.hpp"

#include "autograd/factories.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/indexing.hpp"
#include "autograd/ops/linear.hpp"
#include "autograd/tape.hpp"

namespace tapegrad::nn {
namespace {

DecoderBlockOptions checked(DecoderBlockOptions options) {
  if (options.d_model <= 0 || options.nhead <= 0 || options.dim_feedforward < 0 ||
      options.window < 0)
    fail(
        "nn.DecoderBlock: d_model {} and nhead {} must be positive, dim_feedforward {} positive "
        "(or 0 for 4 * d_model), window {} positive (or 0 for none)",
        options.d_model, options.nhead, options.dim_feedforward, options.window);
  if (options.dim_feedforward == 0) options.dim_feedforward = 4 * options.d_model;
  return options;
}

const DecoderLMOptions& checked(const DecoderLMOptions& options) {
  if (options.vocab_size <= 0 || options.max_len <= 0 || options.num_layers <= 0)
    fail("nn.DecoderLM: vocab_size {}, max_len {} and num_layers {} must be positive",
         options.vocab_size, options.max_len, options.num_layers);
  return options;
}

}  // namespace

DecoderBlock::DecoderBlock(DecoderBlockOptions options_)
    : options(checked(options_)),
      ln_1(options.d_model, {.eps = options.layer_norm_eps}),
      attn(options.d_model, options.nhead, {.dropout = options.dropout}),
      ln_2(options.d_model, {.eps = options.layer_norm_eps}),
      mlp(options.d_model, options.dim_feedforward,
          {.activation = options.activation, .dropout = options.dropout}),
      drop1(options.dropout),
      drop2(options.dropout) {
  register_modules({{"ln_1", ln_1},
                    {"attn", attn},
                    {"ln_2", ln_2},
                    {"mlp", mlp},
                    {"drop1", drop1},
                    {"drop2", drop2}});
}

// x + drop2(mlp(ln_2(x))); without dropout, linear2's GEMM adds x as it stores.
Tensor DecoderBlock::add_feed_forward(const Tensor& x) {
  if (drop2.is_identity()) return mlp(ln_2(x), x);
  return x + drop2(mlp(ln_2(x)));
}

Tensor DecoderBlock::forward(const Tensor& x) {
  const Tensor normed = ln_1(x);           // [B, T, C]
  const bool fused = drop1.is_identity();  // then out_proj's GEMM adds the residual
  const Tensor attended = attn(normed, normed, normed,
                               {.is_causal = true,
                                .window = options.window,
                                .need_weights = false,
                                .residual = fused ? x : Tensor()})
                              .output;
  return add_feed_forward(fused ? attended : x + drop1(attended));  // [B, T, C]
}

Tensor DecoderBlock::forward(const Tensor& x, KVCache& cache) {
  const NoGradGuard no_grad;
  if (cache.window() != options.window)
    fail(
        "nn.DecoderBlock: a KVCache with window {} for a block with window {}; make the caches "
        "with DecoderLM::make_cache",
        cache.window(), options.window);
  // The cache path has no attention dropout: rather than apply the residual ones alone, it runs
  // only in eval mode or with dropout 0, where every dropout is the identity.
  if (is_training() && options.dropout > 0)
    fail(
        "nn.DecoderBlock: the cached forward is for inference, and dropout {} is on in training "
        "mode; call model.eval() first (or make the model with dropout 0)",
        options.dropout);
  const Tensor attended = cached_self_attention(attn, ln_1(x), cache, x);  // out_proj adds x
  return add_feed_forward(attended);                                       // [B, T, C]
}

DecoderLM::DecoderLM(DecoderLMOptions options_)
    : options(checked(options_)),
      wte(options.vocab_size, options.d_model),
      drop(options.dropout),
      ln_f(options.d_model, {.eps = options.layer_norm_eps}) {
  copy_into(wte.weight, normal(wte.weight.shape(), 0.0, 0.02));  // GPT-2's init
  register_module("wte", wte);
  if (options.positions == PositionEncoding::Learned) {
    wpe.emplace(options.max_len, options.d_model);
    register_module("wpe", *wpe);
  } else {
    sinusoid.emplace(options.d_model, options.max_len);
    register_module("sinusoid", *sinusoid);
  }
  register_module("drop", drop);
  for (int64_t i = 0; i < options.num_layers; ++i)
    h.emplace(DecoderBlockOptions{.d_model = options.d_model,
                                  .nhead = options.nhead,
                                  .dim_feedforward = options.dim_feedforward,
                                  .dropout = options.dropout,
                                  .layer_norm_eps = options.layer_norm_eps,
                                  .window = options.window});
  register_module("h", h);
  for (const auto& [block, heads] : options.pruned_heads) {
    if (block < 0 || block >= options.num_layers)
      fail("nn.DecoderLM: pruned_heads of block {}; the blocks are 0..{}", block,
           options.num_layers - 1);
    h[block].attn.prune_heads(heads);
  }
  register_module("ln_f", ln_f);
  if (!options.tie_weights) {
    lm_head.emplace(options.d_model, options.vocab_size, LinearOptions{.bias = false});
    register_module("lm_head", *lm_head);
  }
}

const Tensor& DecoderLM::lm_head_weight() const { return lm_head ? lm_head->weight : wte.weight; }

Tensor DecoderLM::embed(const Tensor& ids, int64_t first) {
  if (ids.dtype() != kInt64 || ids.dim() != 2)
    fail("nn.DecoderLM: ids must be int64 [B, T], got {} of shape {}", ids.dtype(), ids.shape());
  const int64_t T = ids.size(1);
  if (first + T > options.max_len)
    fail(
        "nn.DecoderLM: positions {}..{} (ids of shape {} after {} earlier tokens) exceed max_len "
        "{}; shorten the input or make the model with a larger max_len",
        first, first + T - 1, ids.shape(), first, options.max_len);
  const Tensor& table = wpe ? wpe->weight : sinusoid->pe;  // [max_len, C]
  return drop(wte(ids) + narrow(table, 0, first, T));      // [B, T, C]
}

Tensor DecoderLM::logits(const Tensor& hidden) {
  const Tensor normed = ln_f(hidden);
  return lm_head ? (*lm_head)(normed) : linear(normed, wte.weight);  // [B, T, C] -> [B, T, V]
}

Tensor DecoderLM::forward(const Tensor& ids) {
  Tensor x = embed(ids, 0);
  for (DecoderBlock& block : h) x = block(x);
  return logits(x);
}

Tensor DecoderLM::forward(const Tensor& ids, std::vector<KVCache>& cache) {
  const NoGradGuard no_grad;
  if (static_cast<int64_t>(cache.size()) != h.size())
    fail("nn.DecoderLM: {} caches for {} blocks; make them with make_cache", cache.size(),
         h.size());
  Tensor x = embed(ids, cache[0].length());
  for (int64_t i = 0; i < h.size(); ++i) x = h[i](x, cache[static_cast<std::size_t>(i)]);
  return logits(x);
}

std::vector<KVCache> DecoderLM::make_cache(int64_t batch, std::optional<int64_t> max_len) const {
  const int64_t length = max_len.value_or(options.max_len);
  if (length > options.max_len)
    fail("nn.DecoderLM.make_cache: max_len {} exceeds the model's max_len {}", length,
         options.max_len);
  std::vector<KVCache> cache;
  cache.reserve(static_cast<std::size_t>(h.size()));
  for (const DecoderBlock& block : h)
    cache.emplace_back(batch, block.attn.num_heads, length, block.attn.head_dim, wte.weight.dtype(),
                       options.window);
  return cache;
}

}  // namespace tapegrad::nn
