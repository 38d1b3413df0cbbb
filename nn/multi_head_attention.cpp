#include "nn/multi_head_attention.hpp"

#include "autograd/ops/quantized_linear.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/factories.hpp"
#include "autograd/ops/compare.hpp"
#include "autograd/ops/copy.hpp"
#include "autograd/ops/elementwise.hpp"
#include "autograd/ops/indexing.hpp"
#include "autograd/ops/linear.hpp"
#include "autograd/ops/reduce.hpp"
#include "autograd/ops/shape_ops.hpp"
#include "autograd/tape.hpp"

namespace tapegrad::nn {
namespace {

int64_t checked_head_dim(int64_t embed_dim, int64_t num_heads) {
  if (embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads != 0)
    fail("nn.MultiHeadAttention: embed_dim {} must be a positive multiple of num_heads {}",
         embed_dim, num_heads);
  return embed_dim / num_heads;
}

// PyTorch's xavier_uniform_: U(±sqrt(6 / (fan_in + fan_out))) for a weight [fan_out, fan_in].
Tensor xavier_uniform(int64_t fan_out, int64_t fan_in) {
  const double bound = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return uniform({fan_out, fan_in}, -bound, bound);
}

// [B, T, H * D] -> [B, H, T, D]
Tensor split_heads(const Tensor& x, int64_t num_heads) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  return reshape(x, {B, T, num_heads, C / num_heads}).transpose(1, 2);
}

void check_input(std::string_view name, const Tensor& x, int64_t features) {
  if (x.dim() != 3 || x.size(2) != features)
    fail("nn.MultiHeadAttention: {} of shape {} is not [B, T, {}]", name, x.shape(), features);
}

void check_bool(std::string_view name, const Tensor& mask) {
  if (mask.dtype() != kBool)
    fail("nn.MultiHeadAttention: {} must be bool (true = may attend), got {} of shape {}", name,
         mask.dtype(), mask.shape());
}

}  // namespace

MultiHeadAttention::MultiHeadAttention(int64_t embed_dim_, int64_t num_heads_,
                                       MultiHeadAttentionOptions options_)
    : embed_dim(embed_dim_),
      num_heads(num_heads_),
      head_dim(checked_head_dim(embed_dim_, num_heads_)),
      kdim(options_.kdim.value_or(embed_dim_)),
      vdim(options_.vdim.value_or(embed_dim_)),
      options(options_),
      out_proj(embed_dim_, embed_dim_, {.bias = options_.bias}) {
  if (kdim <= 0 || vdim <= 0)
    fail("nn.MultiHeadAttention: kdim {} and vdim {} must be positive", kdim, vdim);
  if (!(options.dropout >= 0 && options.dropout <= 1))
    fail("nn.MultiHeadAttention: dropout {} is not a probability in [0, 1]", options.dropout);
  const int64_t E = embed_dim;
  if (kdim == E && vdim == E) {
    in_proj_weight = xavier_uniform(3 * E, E);
    register_parameter("in_proj_weight", in_proj_weight);
  } else {
    q_proj_weight = xavier_uniform(E, E);
    k_proj_weight = xavier_uniform(E, kdim);
    v_proj_weight = xavier_uniform(E, vdim);
    register_parameter("q_proj_weight", q_proj_weight);
    register_parameter("k_proj_weight", k_proj_weight);
    register_parameter("v_proj_weight", v_proj_weight);
  }
  if (options.bias) {
    in_proj_bias = zeros({3 * E});
    register_parameter("in_proj_bias", in_proj_bias);
    copy_into(out_proj.bias, zeros({E}));
  }
  register_module("out_proj", out_proj);
}

// key_padding_mask [B, Tk] as [B, 1, 1, Tk], && attn_mask as [Tq, Tk] or [B, H, Tq, Tk].
Tensor MultiHeadAttention::combined_mask(const MultiHeadAttentionForwardOptions& forward_options,
                                         int64_t B, int64_t Tq, int64_t Tk) const {
  const int64_t H = num_heads;
  Tensor mask;
  if (const Tensor& attn_mask = forward_options.attn_mask; attn_mask.defined()) {
    check_bool("attn_mask", attn_mask);
    const bool matches = attn_mask.shape() == Shape{Tq, Tk} ||
                         attn_mask.shape() == Shape{B * H, Tq, Tk} ||
                         attn_mask.shape() == Shape{B, H, Tq, Tk};
    if (!matches)
      fail(
          "nn.MultiHeadAttention: attn_mask of shape {} is none of [Tq, Tk] = {}, "
          "[B * H, Tq, Tk] = {} or [B, H, Tq, Tk] = {}",
          attn_mask.shape(), Shape{Tq, Tk}, Shape{B * H, Tq, Tk}, Shape{B, H, Tq, Tk});
    mask = attn_mask.dim() == 3 ? reshape(attn_mask, {B, H, Tq, Tk}) : attn_mask;
  }
  if (const Tensor& padding = forward_options.key_padding_mask; padding.defined()) {
    check_bool("key_padding_mask", padding);
    if (padding.shape() != Shape{B, Tk})
      fail("nn.MultiHeadAttention: key_padding_mask of shape {} is not [B, Tk] = {}",
           padding.shape(), Shape{B, Tk});
    const Tensor keys = reshape(padding, {B, 1, 1, Tk});
    mask = mask.defined() ? mask && keys : keys;
  }
  return mask;
}

AttentionOutput MultiHeadAttention::forward(
    const Tensor& query, const Tensor& key, const Tensor& value,
    const MultiHeadAttentionForwardOptions& forward_options) {
  check_input("query", query, embed_dim);
  check_input("key", key, kdim);
  check_input("value", value, vdim);
  const int64_t B = query.size(0), Tq = query.size(1), Tk = key.size(1), E = embed_dim;
  const int64_t I = inner_dim();  // E, or less once heads are pruned
  if (key.size(0) != B || value.size(0) != B || value.size(1) != Tk)
    fail("nn.MultiHeadAttention: query {}, key {} and value {} disagree on B or Tk", query.shape(),
         key.shape(), value.shape());

  const Tensor& gate = forward_options.head_mask.defined() ? forward_options.head_mask : head_gate;
  check_gate("nn.MultiHeadAttention",
             forward_options.head_mask.defined() ? "head_mask" : "head_gate", gate, B,
             query.dtype());
  if (const Tensor& residual = forward_options.residual;
      residual.defined() && residual.shape() != Shape{B, Tq, E})
    fail("nn.MultiHeadAttention: residual of shape {} is not [B, Tq, embed_dim] = {}",
         residual.shape(), Shape{B, Tq, E});

  if (forward_options.window < 0)
    fail("nn.MultiHeadAttention: window {} is negative (0 for none, W > 0 for the W latest keys)",
         forward_options.window);

  const ScaledDotProductAttentionOptions attention_options{
      .mask = combined_mask(forward_options, B, Tq, Tk),
      .is_causal = forward_options.is_causal,
      .window = forward_options.window,
      .dropout_p = options.dropout,
      .need_weights = forward_options.need_weights,
      .training = is_training()};
  const bool self_attention = query.impl() == key.impl() && key.impl() == value.impl() && packed();
  AttentionOutput attention;  // output [B, H, Tq, D], weights [B, H, Tq, Tk]
  if (self_attention && !forward_options.need_weights) {
    // The fused kernel reads Q, K and V of every head in place: [B, T, 3E] = [B, T, 3, H, D].
    const Tensor qkv = in_projection(query);
    attention.output = fused_attention_packed(view(qkv, {B, Tq, 3, num_heads, head_dim}),
                                              fused_attention_options(attention_options));
  } else {
    // Projections: [B, T, I] each.
    Tensor q, k, v;
    if (self_attention) {
      const std::vector<Tensor> qkv = split(in_projection(query), I, -1);
      q = qkv[0], k = qkv[1], v = qkv[2];  // [B, T, 3I] -> 3 x [B, T, I]
    } else {
      const auto bias = [&](int64_t i) {
        return in_proj_bias.defined() ? narrow(in_proj_bias, 0, i * I, I) : Tensor();
      };
      // Projection i of the three (q, k, v) of `input`: its own weight, or its rows of the packed
      // one (whose int8 rows are packed for the kernel again at each call: a quantized model does
      // cross-attention slower than self-attention).
      const auto project = [&](int64_t i, const Tensor& input, const Tensor& separate) {
        if (!packed()) return linear(input, separate, bias(i));
        const Tensor rows = narrow(in_proj_weight, 0, i * I, I);
        if (!is_quantized()) return linear(input, rows, bias(i));
        return quantized_linear(
            input, quantized_weight(rows, narrow(in_proj_int8_.scale, 0, i * I, I)), bias(i));
      };
      q = project(0, query, q_proj_weight);  // [B, Tq, I]
      k = project(1, key, k_proj_weight);    // [B, Tk, I]
      v = project(2, value, v_proj_weight);  // [B, Tk, I]
    }
    // Every head at once: [B, H, T, D].
    attention = scaled_dot_product_attention(split_heads(q, num_heads), split_heads(k, num_heads),
                                             split_heads(v, num_heads), attention_options);
  }

  attention.output = gate_heads(attention.output, gate);
  // Concat(head_1, ..., head_H) W^O: [B, H, Tq, D] -> [B, Tq, H, D] -> [B, Tq, I]; a view when
  // the fused path laid the heads out as [B, Tq, H, D].
  const Tensor heads = reshape(attention.output.transpose(1, 2), {B, Tq, I});
  const Tensor output = out_proj(heads, forward_options.residual);  // [B, Tq, E]
  if (!forward_options.need_weights) return {output, Tensor()};
  return {output, forward_options.average_attn_weights
                      ? mean(attention.weights, {1})  // [B, Tq, Tk]
                      : attention.weights};
}

Tensor MultiHeadAttention::gate_heads(const Tensor& heads, const Tensor& gate) const {
  if (!gate.defined()) return heads;
  return heads *
         view(gate, {gate.dim() == 2 ? heads.size(0) : 1, num_heads, 1, 1});  // ξ [1|B, H, 1, 1]
}

void MultiHeadAttention::check_gate(std::string_view caller, std::string_view gate_name,
                                    const Tensor& gate, int64_t B, DType dtype) const {
  if (gate.defined() && (gate.dtype() != dtype ||
                         (gate.shape() != Shape{num_heads} && gate.shape() != Shape{B, num_heads})))
    fail(
        "{}: {} {} of shape {} is not [num_heads] = [{}] or [B, num_heads] = {} in the "
        "inputs' dtype {}",
        caller, gate_name, gate.dtype(), gate.shape(), num_heads, Shape{B, num_heads}, dtype);
}

Tensor MultiHeadAttention::in_projection(const Tensor& x) const {
  return is_quantized() ? in_proj_int8_.linear(x, in_proj_bias)
                        : linear(x, in_proj_weight, in_proj_bias);
}

void MultiHeadAttention::quantize() {
  if (!packed())
    fail(
        "nn.MultiHeadAttention.quantize: kdim {} or vdim {} differ from embed_dim {}, so there "
        "is no packed in_proj_weight to quantize",
        kdim, vdim, embed_dim);
  in_proj_int8_.quantize(*this, "in_proj_weight", in_proj_weight);
}

void MultiHeadAttention::to(DType dtype) {
  if (is_quantized() && dtype != kFloat32)
    fail("nn.MultiHeadAttention: to({}): an int8 projection computes in float32", dtype);
  Module::to(dtype);
}

void MultiHeadAttention::prune_heads(std::vector<int64_t> heads) {
  if (is_quantized() || out_proj.is_quantized())
    fail(
        "nn.MultiHeadAttention.prune_heads: the weights are int8; "
        "prune the float model, then quantize it");
  std::sort(heads.begin(), heads.end());
  heads.erase(std::unique(heads.begin(), heads.end()), heads.end());
  if (!heads.empty() && (heads.front() < 0 || heads.back() >= num_heads))
    fail("nn.MultiHeadAttention.prune_heads: heads {} are not all in 0..{}", heads, num_heads - 1);
  if (static_cast<int64_t>(heads.size()) == num_heads)
    fail("nn.MultiHeadAttention.prune_heads: pruning heads {} would leave none of {}", heads,
         num_heads);
  if (heads.empty()) return;
  // The rows of one projection [I, *] that the kept heads own, and the same rows of Q, K and V
  // stacked [3I, *].
  const int64_t I = inner_dim();
  std::vector<int64_t> kept, stacked;
  for (int64_t h = 0; h < num_heads; ++h)
    if (!std::binary_search(heads.begin(), heads.end(), h))
      for (int64_t d = 0; d < head_dim; ++d) kept.push_back(h * head_dim + d);
  for (int64_t section = 0; section < 3; ++section)
    for (const int64_t row : kept) stacked.push_back(section * I + row);
  const Tensor kept_rows = from_vector(kept, {static_cast<int64_t>(kept.size())});
  const Tensor stacked_rows = from_vector(stacked, {static_cast<int64_t>(stacked.size())});
  const NoGradGuard no_grad;
  const auto select_leaf = [](Tensor& parameter, int64_t dim, const Tensor& index) {
    parameter = index_select(parameter, dim, index).requires_grad_();
  };
  if (packed()) {
    select_leaf(in_proj_weight, 0, stacked_rows);
  } else {
    for (Tensor* weight : {&q_proj_weight, &k_proj_weight, &v_proj_weight})
      select_leaf(*weight, 0, kept_rows);
  }
  if (in_proj_bias.defined()) select_leaf(in_proj_bias, 0, stacked_rows);
  select_leaf(out_proj.weight, 1, kept_rows);
  num_heads -= static_cast<int64_t>(heads.size());
}

}  // namespace tapegrad::nn
