// Multi-head attention (Vaswani et al. 2017, section 3.2.2), batch first:
//   head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)
//   MultiHead(Q, K, V) = Concat(head_1, ..., head_H) W^O
// The H heads of size D = embed_dim / H are one projection of width embed_dim, split into
// [B, T, H, D] and viewed as [B, H, T, D] so that attention runs on every head at once. Without
// need_weights, self-attention hands the packed projection [B, T, 3, H, D] to the fused kernel,
// which reads the heads in place and writes [B, T, H, D]: neither the split nor the merge copies.
//
// Parameters carry PyTorch's names so that weights move between the two: when
// kdim == vdim == embed_dim, one packed in_proj_weight [3E, E] (self-attention projects Q, K and
// V in one GEMM), else q_proj_weight [E, E], k_proj_weight [E, kdim], v_proj_weight [E, vdim];
// in_proj_bias [3E] either way, and out_proj (a Linear: out_proj.weight, out_proj.bias).
// PyTorch's initialisation: Xavier-uniform projections, zero biases.
//
// need_weights is true by default, as in PyTorch, and asking for the weights takes the slow path:
// the plain attention (matmul, softmax, matmul) that forms the [B, H, Tq, Tk] weights, about 6.5×
// slower forward+backward than the fused path at T = 512. Pass {.need_weights = false} unless you
// use the weights.
//
// Masks are bool, true = may attend (PyTorch's key_padding_mask means the opposite).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "nn/attention.hpp"
#include "nn/linear.hpp"

namespace tapegrad::nn {

struct MultiHeadAttentionOptions {
  bool bias = true;
  double dropout = 0.0;                        // on the attention weights, while training
  std::optional<int64_t> kdim = std::nullopt;  // key features; default embed_dim
  std::optional<int64_t> vdim = std::nullopt;  // value features; default embed_dim
};

struct MultiHeadAttentionForwardOptions {
  Tensor key_padding_mask = {};  // [B, Tk] bool, true = a real token
  // [Tq, Tk], [B * H, Tq, Tk] or [B, H, Tq, Tk] bool, true = may attend
  Tensor attn_mask = {};
  bool is_causal = false;  // also mask keys after the query
  // Sliding-window (local causal) attention as in Mistral: with window W > 0, query i sees only
  // keys i - W < j <= i (implies is_causal; ANDed with the masks); 0 = none. The fused path
  // (need_weights false) skips the key tiles outside the band: O(T · W) time, not O(T²).
  int64_t window = 0;
  // true as in PyTorch; true takes the slow unfused path (see the top of this file)
  bool need_weights = true;
  bool average_attn_weights = true;  // weights [B, Tq, Tk] averaged over heads, else [B, H, Tq, Tk]
  // [B, Tq, embed_dim], added to the output by out_proj's GEMM as it stores: a residual
  // connection (x + attention(x)) without a pass of its own
  Tensor residual = {};
  // A gate ξ per head, [num_heads] or [B, num_heads], in the inputs' dtype: each head's output is
  // multiplied by it before out_proj (Michel et al. 2019; Hugging Face's head_mask), so 0 removes
  // a head and ∂L/∂ξ_h measures how much the loss depends on head h. Differentiable. The weights
  // returned with need_weights are not multiplied.
  Tensor head_mask = {};
};

class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(int64_t embed_dim, int64_t num_heads, MultiHeadAttentionOptions options = {});

  // query [B, Tq, embed_dim], key [B, Tk, kdim], value [B, Tk, vdim]
  //   -> output [B, Tq, embed_dim]
  AttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                          const MultiHeadAttentionForwardOptions& options = {});
  AttentionOutput operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                             const MultiHeadAttentionForwardOptions& options = {}) {
    return forward(query, key, value, options);
  }

  // Prunes the given heads (Michel et al. 2019; Hugging Face's prune_heads): their rows of the
  // Q, K and V projections and their columns of out_proj go, so the module computes only the
  // heads that are left, smaller and faster, with their outputs unchanged. Ids are those of the
  // current heads, 0..num_heads-1; an Error if one is out of range or none would be left.
  void prune_heads(std::vector<int64_t> heads);
  // The width of the concatenated heads: embed_dim until heads are pruned.
  int64_t inner_dim() const { return num_heads * head_dim; }

  // The packed input projection of self-attention, [B, T, E] -> [B, T, 3I] = [q | k | v]: the
  // fused kernel's input and the KV cache's (nn/kv_cache.hpp). Int8 once quantized.
  Tensor in_projection(const Tensor& x) const;
  // head_h ξ_h: the heads' outputs [B, H, T, D] times a gate ξ [H] or [B, H] (head_mask or
  // head_gate, checked by check_gate); the heads as they are when the gate is undefined.
  Tensor gate_heads(const Tensor& heads, const Tensor& gate) const;
  // An Error naming `caller` and `gate_name` unless the gate is undefined, or [num_heads] or
  // [B, num_heads] in `dtype`.
  void check_gate(std::string_view caller, std::string_view gate_name, const Tensor& gate,
                  int64_t B, DType dtype) const;
  // From now on in_proj_weight is int8, with in_proj_weight_scale beside it (nn/quantize.hpp);
  // out_proj is a Linear and quantized on its own. Prune heads before, not after. An Error
  // without the packed in_proj_weight (kdim or vdim differ): those weights stay float.
  void quantize();
  bool is_quantized() const { return in_proj_int8_.active(); }
  // An Error for a dtype other than float32 once quantized; else Module::to.
  void to(DType dtype) override;

  int64_t embed_dim, num_heads, head_dim, kdim, vdim;
  // A gate [num_heads] used by every call that passes no head_mask: the same product, for models
  // whose forward does not hand a head_mask down (head_importance sets it), and by cached
  // decoding (cached_self_attention). Undefined: none.
  Tensor head_gate;
  MultiHeadAttentionOptions options;
  Tensor in_proj_weight;  // [3E, E] when kdim == vdim == embed_dim, else undefined
  Tensor q_proj_weight;   // [E, E]    when kdim or vdim differ, else undefined
  Tensor k_proj_weight;   // [E, kdim] when kdim or vdim differ, else undefined
  Tensor v_proj_weight;   // [E, vdim] when kdim or vdim differ, else undefined
  Tensor in_proj_bias;    // [3E], undefined without bias
  Linear out_proj;        // E -> E

 protected:
  void loaded() override { in_proj_int8_.repack(in_proj_weight); }

 private:
  bool packed() const { return in_proj_weight.defined(); }
  Tensor combined_mask(const MultiHeadAttentionForwardOptions& options, int64_t B, int64_t Tq,
                       int64_t Tk) const;

  Int8Weight in_proj_int8_;
};

}  // namespace tapegrad::nn
